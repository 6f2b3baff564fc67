"""Min-max amalgamation."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.interfaces import AmalgamationScheme


class MinMaxConfig(ComponentConfig):
    pass


class MinMax(AmalgamationScheme[MinMaxConfig]):
    """Min-max amalgamation: at each step, the distance to the farthest teacher.

    Huang et al. 2022, eq. 3: meta-loss + alpha * mean_t max_k d(student, teacher k), a
    v-shaped objective that keeps the student between the teachers' trajectories instead of
    letting it stick to one of them.
    """

    name: ClassVar[str] = "minmax"
    min_teachers: ClassVar[int] = 1

    def imitation(self, distances: Tensor) -> Tensor:
        return distances.max(dim=1).values
