"""What the per-parameter MLP optimizers of Metz et al. share: features scaled to a unit
second moment over their tensor, and the exponential step."""

from __future__ import annotations

from torch import Tensor

NORMALISE_EPS = 1e-20
"""Keeps an all-zero feature at zero; small enough that tiny features still reach a second
moment of 1 (the accumulators' eps goes inside their square roots instead)."""


def unit_second_moment(stacked: Tensor) -> Tensor:
    """``[feature, coordinate]`` rows each scaled to a second moment of 1 over the tensor
    (Metz et al. 2019, Appendix C.1: "normalized by the second moment with regard to the other
    weights of the weight tensor", which keeps their signs and directions)."""
    second = (stacked * stacked).mean(dim=1, keepdim=True)
    return stacked * (second + NORMALISE_EPS).rsqrt()


def exponential_step(direction: Tensor, magnitude: Tensor, linear: float, exp: float) -> Tensor:
    """``linear * direction * exp(exp * magnitude)``: a direction and a log step size, both
    scaled down so that a fresh optimizer takes small steps."""
    return linear * direction * (exp * magnitude).exp()
