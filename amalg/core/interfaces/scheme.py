"""Amalgamation scheme: how teachers enter the meta-objective of one truncation.

Huang et al., "Optimizer Amalgamation", ICLR 2022, Section 3. The unroll engine walks the
student and every imitation target side by side and hands the scheme, per step ``t`` of a
truncation,

- the meta-loss terms ``log(f(theta_t) + eps) - log(f(theta_start) + eps)``, and
- the imitation distances ``d[t, k] = log(mean((theta_P - theta_Tk)^2) / 2 + eps)``
  for each target ``k``.

The scheme reduces the distances over targets (mean: eq. 2, min-max: eq. 3) and returns
``mean_t(meta) + alpha * mean_t(reduce_k d[t, k])``. A scheme whose targets are not the
teachers themselves (optimal choice, eq. 4: a choice policy trained over the pool first)
overrides :meth:`targets`, which receives a :class:`PolicyTrainer` for that first phase.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from torch import Tensor

from amalg.core.component import Component
from amalg.core.errors import AmalgError
from amalg.core.interfaces.teacher import UpdateRule

if TYPE_CHECKING:
    from amalg.core.interfaces.student import Student

__all__ = ["AmalgamationScheme", "PolicyTrainer", "TeacherCountError", "TruncationLosses"]


class PolicyTrainer(Protocol):
    """Meta-trains ``policy`` (a student mixing the teachers' updates) on the meta-loss
    alone, over the run's task, and returns it trained: the first phase of optimal choice
    amalgamation (Huang et al. 2022, Section 3.3)."""

    def __call__(self, policy: Student, teachers: Sequence[UpdateRule]) -> Student: ...


class TeacherCountError(AmalgError):
    """A scheme was given a number of teachers it does not accept."""


@dataclass(frozen=True)
class TruncationLosses:
    """The per-step losses of one truncation that a scheme turns into an objective."""

    meta: Tensor
    """``[steps]`` meta-loss terms of the student's trajectory."""
    distances: Tensor
    """``[steps, targets]`` imitation distances (``[steps, 0]`` when nothing is imitated)."""
    targets: tuple[str, ...] = field(default=())
    """The names of the imitation targets, one per column of ``distances``."""


class AmalgamationScheme(Component):
    """Turns the losses of one truncation into the scalar meta-objective."""

    kind: ClassVar[str] = "scheme"
    min_teachers: ClassVar[int] = 0
    max_teachers: ClassVar[int | None] = None

    def check_teacher_count(self, count: int) -> None:
        """Raise :class:`TeacherCountError` unless ``count`` teachers are accepted."""
        low, high = self.min_teachers, self.max_teachers
        if count >= low and (high is None or count <= high):
            return
        if high == low:
            wanted = f"exactly {low}"
        elif high is None:
            wanted = f"at least {low}"
        else:
            wanted = f"between {low} and {high}"
        raise TeacherCountError(
            f"scheme {self.name!r} takes {wanted} teacher(s), got {count}; "
            "give each with --teacher NAME"
        )

    def targets(
        self, teachers: Sequence[UpdateRule], train_policy: PolicyTrainer
    ) -> Sequence[UpdateRule]:
        """The update rules whose trajectories the student imitates (default: the teachers).

        Called once before meta-training; a scheme that distills from something trained over
        the pool first (optimal choice) trains it here with ``train_policy``.
        """
        return teachers

    @abstractmethod
    def imitation(self, distances: Tensor) -> Tensor:
        """Reduce ``[steps, targets]`` distances to ``[steps]`` (zeros when none apply)."""

    def objective(self, losses: TruncationLosses, alpha: float) -> Tensor:
        """``mean_t(meta) + alpha * mean_t(imitation(distances))``."""
        return losses.meta.mean() + alpha * self.imitation(losses.distances).mean()
