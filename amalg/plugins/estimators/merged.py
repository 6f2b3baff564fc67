"""The merged reparameterization and ES estimator of Metz et al. 2019."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
from pydantic import Field

from amalg.core.config import MAX_COUNT, ComponentConfig
from amalg.core.functional import Params, State, unflatten
from amalg.core.interfaces import MetaGradient, MetaGradientEstimator, TruncationFn
from amalg.plugins.estimators._noise import perturbation


class MergedConfig(ComponentConfig):
    std: float = Field(0.01, gt=0, le=10, description="sigma: std of the perturbations of phi.")
    pairs: int = Field(
        4,
        ge=2,
        le=MAX_COUNT,
        description="Antithetic pairs per estimate (2 at least: the weights need variances).",
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {"pairs": 2}


class Merged(MetaGradientEstimator[MergedConfig]):
    """Reparameterization and ES gradients of the smoothed objective, merged by inverse
    variance.

    Metz et al. 2019, Section 3, eq. 1. Both estimate the gradient of the smoothed objective
    E[L(phi + eps)], eps ~ N(0, sigma^2 I), from the same P antithetic pairs, each pair run
    from the same unroll state on the same batches:

        g_rp = 1/P sum_i (grad L(phi + eps_i) + grad L(phi - eps_i)) / 2
        g_es = 1/P sum_i (L(phi + eps_i) - L(phi - eps_i)) eps_i / (2 sigma^2)
        g    = (g_rp / var_rp + g_es / var_es) / (1 / var_rp + 1 / var_es)

    with var_rp and var_es the empirical variances of the two means (over the pairs, averaged
    over coordinates). Where backpropagation through the truncation explodes, var_rp grows
    and the weight moves to ES; where the objective is smooth, the reparameterization
    gradient's far lower variance wins. A non-finite g_rp gets no weight. The share of g_rp
    is logged (``estimator/rp_share``). Costs 2P truncations with a graph and one without
    (the unperturbed trajectory goes on from it).
    """

    name: ClassVar[str] = "merged"

    def init(self, phi: Params, start: Any, generator: torch.Generator) -> State:
        return {"unroll": start}

    def estimate(
        self, phi: Params, truncation: TruncationFn, state: State, generator: torch.Generator
    ) -> MetaGradient:
        sigma, pairs = self.config.std, self.config.pairs
        clean = {key: value.detach() for key, value in phi.items()}
        keys, start = list(clean), state["unroll"]
        rp_samples, es_samples = [], []
        for _ in range(pairs):
            eps = perturbation(clean, sigma, generator)
            values, grads = [], []
            for sign in (1.0, -1.0):
                leaves = {k: (v + sign * eps[k]).requires_grad_() for k, v in clean.items()}
                with torch.enable_grad():
                    objective = truncation(leaves, start).objective
                    found = torch.autograd.grad(objective, list(leaves.values()), allow_unused=True)
                values.append(objective.detach())
                grads.append(
                    [
                        torch.zeros_like(clean[k]) if g is None else g
                        for k, g in zip(keys, found, strict=True)
                    ]
                )
            plus, minus = grads
            rp_samples.append(
                torch.cat([((a + b) / 2).reshape(-1) for a, b in zip(plus, minus, strict=True)])
            )
            weight = (values[0] - values[1]) / (2 * sigma**2)
            es_samples.append(torch.cat([(weight * eps[k]).reshape(-1) for k in keys]))
        rp, es = torch.stack(rp_samples), torch.stack(es_samples)
        share = _rp_share(rp, es)
        flat = es.mean(dim=0) if share == 0 else share * rp.mean(dim=0) + (1 - share) * es.mean(0)
        merged = unflatten(flat, clean)
        with torch.no_grad():
            result = truncation(clean, start)
        log = dataclasses.replace(
            result.log, observed={**result.log.observed, "estimator/rp_share": share}
        )
        return MetaGradient(
            grads=merged,
            state={"unroll": result.end},
            objective=result.objective.detach(),
            log=log,
        )


def _rp_share(rp: torch.Tensor, es: torch.Tensor) -> float:
    """The inverse-variance weight of the reparameterization mean, from ``[pair, coordinate]``
    samples of both estimators (eq. 1): 0 when it is not finite, an even split when both
    variances vanish."""
    if not bool(torch.isfinite(rp).all()):
        return 0.0
    pairs = rp.shape[0]
    var_rp = float(rp.var(dim=0).mean()) / pairs
    var_es = float(es.var(dim=0).mean()) / pairs
    if not math.isfinite(var_es):
        return 1.0
    if var_rp == 0 and var_es == 0:
        return 0.5
    if var_rp == 0:
        return 1.0
    if var_es == 0:
        return 0.0
    return (1 / var_rp) / (1 / var_rp + 1 / var_es)
