"""Antithetic evolution strategies over one truncation."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from amalg.core.config import MAX_COUNT, ComponentConfig
from amalg.core.functional import Params, State
from amalg.core.interfaces import MetaGradient, MetaGradientEstimator, TruncationFn
from amalg.plugins.estimators._noise import perturbation


class EvolutionStrategiesConfig(ComponentConfig):
    std: float = Field(0.01, gt=0, le=10, description="sigma: std of the perturbations of phi.")
    pairs: int = Field(
        4, ge=1, le=MAX_COUNT, description="Antithetic pairs (+eps, -eps) per estimate."
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {"pairs": 2}


class EvolutionStrategies(MetaGradientEstimator[EvolutionStrategiesConfig]):
    """Antithetic evolution strategies: the gradient of the Gaussian-smoothed objective.

    Metz et al. 2019, Section 3 (the ES half of eq. 1); Metz et al. 2022, Appendix D.1
    (sigma 0.01). For one truncation's objective L, with P pairs eps_i ~ N(0, sigma^2 I),
    each pair run from the same unroll state on the same batches,

        g = 1 / (2 sigma^2 P) * sum_i (L(phi + eps_i) - L(phi - eps_i)) * eps_i

    an unbiased estimate of grad E[L(phi + eps)] that needs no backpropagation: every
    truncation runs without an autograd graph of phi, so its memory does not grow with the
    truncation length, and a discontinuous or chaotic objective does not explode it. The
    trajectory then goes on from a third, unperturbed run of the truncation (2P + 1 passes,
    all forward). The draws come from the generator the trainer gives, addressed by the
    trajectory and truncation.
    """

    name: ClassVar[str] = "es"

    def init(self, phi: Params, start: Any, generator: torch.Generator) -> State:
        return {"unroll": start}

    def estimate(
        self, phi: Params, truncation: TruncationFn, state: State, generator: torch.Generator
    ) -> MetaGradient:
        sigma, pairs = self.config.std, self.config.pairs
        clean = {key: value.detach() for key, value in phi.items()}
        start = state["unroll"]
        grads = {key: torch.zeros_like(value) for key, value in clean.items()}
        with torch.no_grad():
            for _ in range(pairs):
                eps = perturbation(clean, sigma, generator)
                plus = truncation({k: v + eps[k] for k, v in clean.items()}, start).objective
                minus = truncation({k: v - eps[k] for k, v in clean.items()}, start).objective
                weight = (plus - minus) / (2 * sigma**2 * pairs)
                for key in grads:
                    grads[key] = grads[key] + weight * eps[key]
            result = truncation(clean, start)
        return MetaGradient(
            grads=grads,
            state={"unroll": result.end},
            objective=result.objective.detach(),
            log=result.log,
        )
