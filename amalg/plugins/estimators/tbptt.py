"""Truncated backpropagation through time."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params, State
from amalg.core.interfaces import MetaGradient, MetaGradientEstimator, TruncationFn


class TruncatedBackpropConfig(ComponentConfig):
    pass


class TruncatedBackprop(MetaGradientEstimator[TruncatedBackpropConfig]):
    """Truncated backpropagation: the exact gradient of one truncation's objective.

    Huang et al. 2022, Appendix A, Algorithm 1: the trajectory is cut into truncations; each
    truncation's objective is differentiated with respect to phi through that truncation's
    steps only (the state at its start is a constant), then the trajectory goes on from
    where the truncation ended. Biased for long horizons (Metz et al. 2019), cheap and
    low-variance.
    """

    name: ClassVar[str] = "tbptt"

    def init(self, phi: Params, start: Any, generator: torch.Generator) -> State:
        return {"unroll": start}

    def estimate(
        self, phi: Params, truncation: TruncationFn, state: State, generator: torch.Generator
    ) -> MetaGradient:
        leaves = {key: value.detach().requires_grad_() for key, value in phi.items()}
        result = truncation(leaves, state["unroll"])
        grads = torch.autograd.grad(result.objective, list(leaves.values()), allow_unused=True)
        meta_grads = {
            key: torch.zeros_like(value) if grad is None else grad
            for (key, value), grad in zip(leaves.items(), grads, strict=True)
        }
        return MetaGradient(
            grads=meta_grads,
            state={"unroll": result.end},
            objective=result.objective.detach(),
            log=result.log,
        )
