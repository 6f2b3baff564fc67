"""No imitation: the meta-loss alone."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.interfaces import AmalgamationScheme


class NoImitationConfig(ComponentConfig):
    pass


class NoImitation(AmalgamationScheme[NoImitationConfig]):
    """No teachers: the meta-loss alone, i.e. the plain RNNProp baseline.

    Huang et al. 2022, Section 5 ("RNNProp" baseline): the objective of a truncation is the
    mean log improvement mean_t(log(f_t + eps) - log(f_0 + eps)); no teacher is accepted.
    """

    name: ClassVar[str] = "none"
    max_teachers: ClassVar[int | None] = 0

    def imitation(self, distances: Tensor) -> Tensor:
        return distances.new_zeros(distances.shape[0])
