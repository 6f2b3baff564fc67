"""Mean amalgamation."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.interfaces import AmalgamationScheme


class MeanConfig(ComponentConfig):
    pass


class Mean(AmalgamationScheme[MeanConfig]):
    """Mean amalgamation: the imitation distances averaged over the teachers.

    Huang et al. 2022, eq. 2: meta-loss + alpha * mean_t (1/|T|) sum_k d(student, teacher k).
    """

    name: ClassVar[str] = "mean"
    min_teachers: ClassVar[int] = 1

    def imitation(self, distances: Tensor) -> Tensor:
        return distances.mean(dim=1)
