"""Persistent evolution strategies over a whole unroll."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from amalg.core.config import MAX_COUNT, ComponentConfig
from amalg.core.functional import Params, State
from amalg.core.interfaces import MetaGradient, MetaGradientEstimator, TruncationFn
from amalg.plugins.estimators._noise import perturbation


class PersistentESConfig(ComponentConfig):
    std: float = Field(0.01, gt=0, le=10, description="sigma: std of the perturbations of phi.")
    pairs: int = Field(
        4, ge=1, le=MAX_COUNT, description="Antithetic particle pairs kept along the unroll."
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {"pairs": 2}


class PersistentES(MetaGradientEstimator[PersistentESConfig]):
    """Persistent evolution strategies: unbiased over the whole unroll.

    Vicol et al. 2021 (PES); Metz et al. 2022, Appendix D.1 (sigma 0.01, truncations of 20).
    Each of P antithetic particle pairs keeps its own two unroll states, at phi + eps and
    phi - eps, across the truncations of a trajectory, and the sum of the perturbations it
    has drawn, xi_i = eps_i^(1) + ... + eps_i^(k). At truncation k, with fresh eps_i^(k)
    ~ N(0, sigma^2 I) and L_i^+/- the truncation's objective from the particle's own states,

        g_k = 1 / (2 sigma^2 P) * sum_i (L_i^+ - L_i^-) * xi_i

    Summed over the truncations, the g_k are an unbiased estimate of the gradient of the
    smoothed objective of the whole unroll: unlike truncated backpropagation and ES, which
    treat each truncation's start as a constant, PES credits a perturbation with its effect
    on every later truncation. No truncation builds a graph of phi. The unperturbed
    trajectory goes on beside the particles for the logs (2P + 1 forward passes a truncation).
    """

    name: ClassVar[str] = "pes"

    def init(self, phi: Params, start: Any, generator: torch.Generator) -> State:
        zeros = {key: torch.zeros_like(value.detach()) for key, value in phi.items()}
        pairs = self.config.pairs
        return {
            "unroll": start,
            "plus": [start] * pairs,
            "minus": [start] * pairs,
            "accumulated": [dict(zeros) for _ in range(pairs)],
        }

    def estimate(
        self, phi: Params, truncation: TruncationFn, state: State, generator: torch.Generator
    ) -> MetaGradient:
        sigma, pairs = self.config.std, self.config.pairs
        clean = {key: value.detach() for key, value in phi.items()}
        grads = {key: torch.zeros_like(value) for key, value in clean.items()}
        plus_states, minus_states, accumulated = [], [], []
        with torch.no_grad():
            for i in range(pairs):
                eps = perturbation(clean, sigma, generator)
                total = {key: state["accumulated"][i][key] + eps[key] for key in clean}
                plus = truncation({k: v + eps[k] for k, v in clean.items()}, state["plus"][i])
                minus = truncation({k: v - eps[k] for k, v in clean.items()}, state["minus"][i])
                weight = (plus.objective - minus.objective) / (2 * sigma**2 * pairs)
                for key in grads:
                    grads[key] = grads[key] + weight * total[key]
                plus_states.append(plus.end)
                minus_states.append(minus.end)
                accumulated.append(total)
            result = truncation(clean, state["unroll"])
        return MetaGradient(
            grads=grads,
            state={
                "unroll": result.end,
                "plus": plus_states,
                "minus": minus_states,
                "accumulated": accumulated,
            },
            objective=result.objective.detach(),
            log=result.log,
        )
