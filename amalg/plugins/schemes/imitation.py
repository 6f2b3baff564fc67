"""Imitation of one teacher."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.interfaces import AmalgamationScheme


class ImitationConfig(ComponentConfig):
    pass


class Imitation(AmalgamationScheme[ImitationConfig]):
    """Imitation of exactly one teacher: meta-loss + alpha * mean_t d(student, teacher).

    Huang et al. 2022, eq. 1 (after Chen et al. 2020's imitation learning): the distance at
    each step is log(mean((theta_P - theta_T)^2) / 2 + eps).
    """

    name: ClassVar[str] = "imitation"
    min_teachers: ClassVar[int] = 1
    max_teachers: ClassVar[int | None] = 1

    def imitation(self, distances: Tensor) -> Tensor:
        return distances[:, 0]
