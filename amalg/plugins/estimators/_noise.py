"""What the evolution-strategies estimators share: the Gaussian perturbations of phi."""

from __future__ import annotations

import torch

from amalg.core.functional import Params


def perturbation(phi: Params, sigma: float, generator: torch.Generator) -> Params:
    """eps ~ N(0, sigma^2 I) shaped like ``phi``, drawn on the CPU from ``generator`` (the
    same numbers on any device) and moved to each tensor's device."""
    return {
        key: sigma
        * torch.randn(value.shape, generator=generator, dtype=value.dtype).to(value.device)
        for key, value in phi.items()
    }
