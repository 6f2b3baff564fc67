"""What the per-parameter MLP optimizers of Metz et al. share: features scaled to a unit
second moment over their tensor, and the exponential step."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from amalg.core.device import chunk_rows
from amalg.core.functional import Params, State

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


def fold(stacked: Tensor, weight: Tensor, bias: Tensor, time: Tensor) -> tuple[Tensor, Tensor]:
    """The first layer's weights and bias for one tensor's raw features, so that the layer
    need not see its normalised inputs: ``stacked`` holds the raw features ``[feature,
    coordinate]``, ``weight`` the layer's rows for them and then for the ``time`` features.

    The layer is linear in its inputs, so the normalisation folds into it (a tensor's scaled
    features times ``W`` are its raw features times ``diag(s) W``, ``s`` the inverse root
    second moments) and so do the time features, equal for every coordinate (they add
    ``time @ W_time`` to the bias)."""
    count, features = stacked.shape[1], stacked.shape[0]
    second = torch.linalg.vector_norm(stacked, dim=1).square() / count
    scale = (second + NORMALISE_EPS).rsqrt()
    return weight[:features] * scale.unsqueeze(1), bias + time @ weight[features:]


ROWS = 32_768
"""Coordinates per chunk of a per-coordinate network run without a graph on the CPU: its
hidden units (units x ROWS) stay small enough for the allocator to reuse them instead of
faulting in fresh memory at every step (larger chunks off the CPU: :func:`chunk_rows`)."""


def per_coordinate(
    network: Callable[[Tensor], Tensor],
    stacked: Tensor,
    chunked: bool,
    width: int,
    rows: int | None = None,
) -> Tensor:
    """``network`` (``[feature, coordinate] -> [output, coordinate]``, each coordinate on its
    own, at most ``width`` units wide) over ``stacked``, in chunks of ``rows`` coordinates
    (by default :func:`chunk_rows` for the device) when ``chunked`` (no graph)."""
    count = stacked.shape[1]
    rows = chunk_rows(stacked, ROWS, width) if rows is None else rows
    if not chunked or count <= rows:
        return network(stacked)
    parts = [network(stacked[:, begin : begin + rows]) for begin in range(0, count, rows)]
    return torch.cat(parts, dim=1)


RawFeatures = Callable[[Tensor, Tensor, dict[str, Tensor]], tuple[Tensor, dict[str, Tensor]]]
"""One tensor's ``(grad, param, slots)`` to its raw features ``[feature, coordinate]`` and
new slots."""


def folded_step(
    grads: Params,
    state: State,
    params: Params,
    raw: RawFeatures,
    first: tuple[Tensor, Tensor, Tensor],
    head: Callable[[Tensor], Tensor],
    step: tuple[int, int, float, float],
    chunked: bool,
) -> tuple[Params, State]:
    """A per-parameter MLP optimizer's update without its input matrix, one tensor at a
    time: the raw features, the first layer folded (:func:`fold`; ``first`` is its weight,
    its bias and the time features), ``head`` the rest of the network from the first layer's
    pre-activations to ``[output, coordinate]`` (run in chunks when ``chunked``), and the
    exponential step from ``step = (direction row, magnitude row, linear, exp)``."""
    weight0, bias0, time = first
    direction, magnitude, linear, exp = step
    new_state: State = {}
    delta: Params = {}
    for key, grad in grads.items():
        stacked, new_state[key] = raw(grad, params[key], state[key])
        stacked = stacked.to(weight0.dtype)
        weight, bias = fold(stacked, weight0, bias0, time)

        def network(part: Tensor, weight: Tensor = weight, bias: Tensor = bias) -> Tensor:
            return head(torch.addmm(bias.unsqueeze(1), weight.T, part))

        out = per_coordinate(network, stacked, chunked, width=weight0.shape[1])
        update = exponential_step(out[direction], out[magnitude], linear, exp)
        delta[key] = update.view_as(grad).to(grad.dtype)
    return delta, new_state
