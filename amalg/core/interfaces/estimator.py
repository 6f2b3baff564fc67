"""Meta-gradient estimator: how the gradient of the meta-objective with respect to phi is
computed (truncated backpropagation, ES, PES, the merged estimator of Metz et al. 2019).

The unroll engine hands the estimator a *truncation function*: run one truncation from a
given unroll state with given meta-parameters and return the objective and the state where
it ended. Unroll states are values (never mutated), so an estimator may start several runs
from the same state (antithetic ES pairs) or keep one per particle (PES). The estimator's
own state persists across the truncations of a trajectory and is rebuilt by :meth:`init`
when a new trajectory starts.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from amalg.core.component import Component
from amalg.core.functional import Params, State

__all__ = ["MetaGradient", "MetaGradientEstimator", "TruncationFn", "TruncationResult"]


@dataclass(frozen=True)
class TruncationResult:
    """What one truncation produced."""

    objective: Tensor
    """Scalar meta-objective (differentiable with respect to phi when phi requires grad)."""
    end: Any
    """The unroll state at the end of the truncation (opaque to the estimator)."""
    logs: dict[str, Tensor] = field(default_factory=dict)


class TruncationFn(Protocol):
    """Runs one truncation of an unroll with meta-parameters ``phi`` from ``start``."""

    def __call__(self, phi: Params, start: Any) -> TruncationResult: ...


@dataclass(frozen=True)
class MetaGradient:
    """An estimate of d(objective)/d(phi), the estimator's new state and what to log."""

    grads: Params
    state: State
    objective: Tensor
    logs: dict[str, Tensor] = field(default_factory=dict)


class MetaGradientEstimator(Component):
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
        """Run the truncation(s) this estimator needs and return the meta-gradient."""
