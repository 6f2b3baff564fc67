"""Amalgamation scheme: how teachers enter the meta-objective of one truncation.

Huang et al., "Optimizer Amalgamation", ICLR 2022, Section 3. The unroll engine walks the
student and every teacher side by side and hands the scheme, per step ``t`` of a
truncation,

- the meta-loss terms ``log(f(theta_t) + eps) - log(f(theta_start) + eps)``, and
- the imitation distances ``d[t, k] = log(mean((theta_P - theta_Tk)^2) / 2 + eps)``
  for each teacher ``k``.

The scheme reduces the distances over teachers (mean: eq. 2, min-max: eq. 3) and returns
``mean_t(meta) + alpha * mean_t(reduce_k d[t, k])``.

A scheme may ask for a first phase (:meth:`AmalgamationScheme.policy_phase`): optimal choice
(Section 3.3, eq. 4) first meta-trains a policy over the teachers on the meta-loss alone,
then distills the student from that policy as the single imitation target. The run does
both phases in one folder (the policy in its ``policy/`` folder).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor

from amalg.core.component import Component, ConfigT
from amalg.core.errors import AmalgError

__all__ = ["AmalgamationScheme", "PolicyPhase", "TeacherCountError", "TruncationLosses"]


class TeacherCountError(AmalgError):
    """A scheme was given a number of teachers it does not accept."""


@dataclass(frozen=True)
class TruncationLosses:
    """The per-step losses of one truncation that a scheme turns into an objective."""

    meta: Tensor
    """``[steps]`` meta-loss terms of the student's trajectory."""
    distances: Tensor
    """``[steps, teachers]`` imitation distances (``[steps, 0]`` when nothing is imitated)."""
    teachers: tuple[str, ...] = field(default=())
    """The labels of the teachers, one per column of ``distances``."""


@dataclass(frozen=True)
class PolicyPhase:
    """A first phase of a run: a policy student meta-trained over the run's teachers, which
    then replaces them as the single imitation target of the run's student."""

    student: str
    """The policy's student; it receives the run's teachers (with their learning rates) as
    its ``pool`` field, a list of ``{"name", "label", "config"}``."""
    student_config: dict[str, Any]
    """The policy student's other settings."""
    strategy: str
    strategy_config: dict[str, Any]
    """The strategy of the policy's meta-training (its imitation weight is unused: the
    policy phase imitates nothing)."""
    target: str = "policy"
    """The label of the policy as the student's teacher (logs, summary columns)."""


class AmalgamationScheme(Component[ConfigT]):
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

    @abstractmethod
    def imitation(self, distances: Tensor) -> Tensor:
        """Reduce ``[steps, teachers]`` distances to ``[steps]`` (zeros when none apply)."""

    def policy_phase(self) -> PolicyPhase | None:
        """The first phase this scheme asks for, or None (the default: one phase)."""
        return None

    def objective(self, losses: TruncationLosses, alpha: float) -> Tensor:
        """``mean_t(meta) + alpha * mean_t(imitation(distances))``."""
        return losses.meta.mean() + alpha * self.imitation(losses.distances).mean()
