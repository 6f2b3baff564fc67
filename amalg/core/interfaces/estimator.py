"""Meta-gradient estimator: how the gradient of the meta-objective with respect to phi is
computed (truncated backpropagation, ES, PES, the merged estimator of Metz et al. 2019).

The unroll engine hands the estimator a *truncation function*: run one truncation from a
given unroll state with given meta-parameters and return the objective, the state where it
ended and its log. Unroll states are values (never mutated) and a truncation function is a
pure function of ``(phi, start)``, so an estimator may start several runs from the same
state (antithetic ES pairs) or keep one per particle (PES), and the engine can replay a
truncation from its start (adversarial perturbations). The estimator's own state persists
across the truncations of a trajectory and is rebuilt by :meth:`init` when a new trajectory
starts.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from amalg.core.component import Component, ConfigT
from amalg.core.functional import Params, State

__all__ = [
    "MetaGradient",
    "MetaGradientEstimator",
    "TruncationFn",
    "TruncationLog",
    "TruncationResult",
]


@dataclass(frozen=True)
class TruncationLog:
    """What one truncation (or an estimator's average over several) reports."""

    meta_loss: float
    """The mean meta-loss term ``log(f_t + eps) - log(f_0 + eps)`` over the truncation."""
    imitation: tuple[float, ...]
    """The mean imitation distance to each teacher, in the run's teacher order."""
    loss: float
    """The task loss where the truncation ended."""
    finite: bool
    """The objective and the parameters at the end are finite."""
    perturbation: float = 0.0
    """The weight perturbation the truncation ran at, relative to phi over all tensors:
    ``||phi~ - phi|| / ||phi||`` (0 without one)."""
    observed: Mapping[str, float] = field(default_factory=dict)
    """What the student reports of its last step (:meth:`Student.observe`) and what the
    estimator reports of its estimate (``estimator/...``), by name."""


@dataclass(frozen=True)
class TruncationResult:
    """What one truncation produced."""

    objective: Tensor
    """Scalar meta-objective (differentiable with respect to phi when phi requires grad)."""
    end: Any
    """The unroll state at the end of the truncation (opaque to the estimator)."""
    log: TruncationLog


class TruncationFn(Protocol):
    """Runs one truncation of an unroll with meta-parameters ``phi`` from ``start``."""

    def __call__(self, phi: Params, start: Any) -> TruncationResult: ...


@dataclass(frozen=True)
class MetaGradient:
    """An estimate of d(objective)/d(phi), the estimator's new state and what to log."""

    grads: Params
    state: State
    objective: Tensor
    log: TruncationLog


class MetaGradientEstimator(Component[ConfigT]):
    """Computes the meta-gradient of one truncation."""

    kind: ClassVar[str] = "estimator"

    @abstractmethod
    def init(self, phi: Params, start: Any, generator: torch.Generator) -> State:
        """Estimator state for a new trajectory whose unroll begins at ``start``."""

    @abstractmethod
    def estimate(
        self,
        phi: Params,
        truncation: TruncationFn,
        state: State,
        generator: torch.Generator,
    ) -> MetaGradient:
        """Run the truncation(s) this estimator needs and return the meta-gradient.

        ``generator`` is seeded from the truncation's address in the run (trajectory and
        truncation index), so the same truncation draws the same noise when it is redone.
        """
