"""small_fc_lopt's update of one tensor written for a compiler: element-wise, nothing tiled.

The same rule as :meth:`SmallFcLopt.simple_forward <amalg.plugins.students.small_fc_lopt.
SmallFcLopt.simple_forward>`, without a graph, written so that a loop-fusing compiler
(``torch.compile``'s inductor) turns it into a few loops over the tensor instead of some 80
passes: every feature is a list entry (never a ``[feature, coordinate]`` matrix), the row
and column statistics broadcast instead of being tiled, their second moments over the tensor
come from their factored form, and the 39-4-4-2 network is written out unit by unit as sums
of products, which fuse like any other element-wise arithmetic. Run eagerly it is slow (a
few hundred small operations); it exists to be compiled (:mod:`amalg.core.compiled`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from amalg.core.functional import ema
from amalg.plugins.students._features import NORMALISE_EPS

RAW = 28
"""Features before the time features (the network's first 28 inputs)."""


def _layer(inputs: list[Tensor], weight: Tensor, bias: Tensor, unit: int) -> Tensor:
    """``bias[unit] + sum_i weight[i, unit] * inputs[i]``, element-wise."""
    total = bias[unit] + weight[0, unit] * inputs[0]
    for index in range(1, len(inputs)):
        total = total + weight[index, unit] * inputs[index]
    return total


def tensor_update(
    grad: Tensor,
    param: Tensor,
    slots: dict[str, Tensor],
    decays: tuple[Tensor, Tensor, Tensor],
    network: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor],
    time: Tensor,
    dims: tuple[int, int] | None,
    constants: tuple[float, float, float],
) -> tuple[Tensor, dict[str, Tensor]]:
    """One tensor's update ``delta`` and new slots.

    ``decays`` are the 3 momentum, 1 second-moment and 3 Adafactor decays; ``network`` the
    weights and biases ``w0, b0, w1, b1, w2, b2``; ``time`` the 11 time features of this
    step; ``dims`` the factored (rows, columns) dimensions or None; ``constants`` the
    accumulators' eps, the step's linear and exponential scales.
    """
    eps, linear, exponent = constants
    momentum, rms, adafactor = (decay.to(grad.dtype) for decay in decays)
    rms = rms.squeeze(0)
    m = [ema(slots["m"][k], grad, momentum[k]) for k in range(3)]
    v = ema(slots["v"], grad * grad, rms)
    squared = grad * grad + eps
    new = {"m": torch.stack(m), "v": v}
    if dims is None:
        full = [ema(slots["full"][k], squared, adafactor[k]) for k in range(3)]
        new["full"] = torch.stack(full)
        row = col = vhat = full
    else:
        rows, cols = dims
        row_mean = squared.mean(dim=cols, keepdim=True)
        col_mean = squared.mean(dim=rows, keepdim=True)
        row = [ema(slots["rows"][k], row_mean, adafactor[k]) for k in range(3)]
        col = [ema(slots["cols"][k], col_mean, adafactor[k]) for k in range(3)]
        new["rows"], new["cols"] = torch.stack(row), torch.stack(col)
        vhat = [row[k] * col[k] / row[k].mean(dim=rows, keepdim=True) for k in range(3)]
    rsqrt_v = (v + eps).rsqrt()
    rsqrt_vhat = [(x + eps).rsqrt() for x in vhat]
    raw = [
        param, grad, *m, v,
        *[x * rsqrt_v for x in m], rsqrt_v,
        *[grad * r for r in rsqrt_vhat],
        *row, *col,
        *[(x + eps).rsqrt() for x in row], *[(x + eps).rsqrt() for x in col],
        *[m[k] * rsqrt_vhat[k] for k in range(3)],
    ]  # fmt: skip
    w0, b0, w1, b1, w2, b2 = network
    features = [feature.to(w0.dtype) for feature in raw]
    # The normalisation folds into the first layer (:func:`~amalg.plugins.students.
    # _features.fold`); a broadcast feature's sum over the tensor is its own sum times the
    # number of coordinates each entry stands for.
    count = max(grad.numel(), 1)  # an empty tensor has an empty update whatever its scale
    scale = [
        ((f * f).sum() * (count // max(f.numel(), 1)) / count + NORMALISE_EPS).rsqrt()
        for f in features
    ]
    hidden = w0.shape[1]
    bias0 = b0 + time @ w0[RAW:]
    weight0 = w0[:RAW] * torch.stack(scale).unsqueeze(1)
    h1 = [_layer(features, weight0, bias0, unit).relu() for unit in range(hidden)]
    h2 = [_layer(h1, w1, b1, unit).relu() for unit in range(hidden)]
    direction, magnitude = _layer(h2, w2, b2, 0), _layer(h2, w2, b2, 1)
    delta = linear * direction * (exponent * magnitude).exp()
    return delta.to(grad.dtype).expand(grad.shape), new


def tensor_updates(
    grads: list[Tensor],
    params: list[Tensor],
    slots: list[dict[str, Tensor]],
    decays: tuple[Tensor, Tensor, Tensor],
    network: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor],
    time: Tensor,
    dims: list[tuple[int, int] | None],
    constants: tuple[float, float, float],
) -> list[tuple[Tensor, dict[str, Tensor]]]:
    """:func:`tensor_update` over a batch of tensors (one compiled call for all of them)."""
    return [
        tensor_update(grad, param, own, decays, network, time, dim, constants)
        for grad, param, own, dim in zip(grads, params, slots, dims, strict=True)
    ]


def tensor_steps(
    grads: list[Tensor],
    params: list[Tensor],
    slots: list[dict[str, Tensor]],
    decays: tuple[Tensor, Tensor, Tensor],
    network: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor],
    time: Tensor,
    dims: list[tuple[int, int] | None],
    constants: tuple[float, float, float],
    scale: Tensor | None,
) -> bool:
    """:func:`tensor_updates` for an optimizer: each parameter updated in place, ``param -=
    scale * delta`` (``scale`` None: 1), and the new slots written into the given (donated)
    ones, in the update's own loops: no new tensors for the state or the update. True:
    nothing to return."""
    for grad, param, own, dim in zip(grads, params, slots, dims, strict=True):
        delta, new = tensor_update(grad, param, own, decays, network, time, dim, constants)
        param.sub_(delta if scale is None else scale * delta)
        for name, value in new.items():
            own[name].copy_(value)
    return True
