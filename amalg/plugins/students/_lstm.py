"""The coordinate-wise LSTM shared by RNNProp and the choice network: weights shared by all
coordinates, Keras' layout (gate order i, f, c, o; one bias per gate) and initialisation."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from amalg.core.device import chunk_rows
from amalg.core.functional import graph_wanted
from amalg.plugins.students._lstm_step import lstm_forward, lstm_step_autograd


def add_lstm(module: nn.Module, inputs: int, hidden: int, layers: int) -> None:
    """Register ``kernel{l}``, ``recurrent{l}`` and ``bias{l}`` for each layer l."""
    for layer in range(layers):
        module.register_parameter(f"kernel{layer}", nn.Parameter(torch.empty(inputs, 4 * hidden)))
        module.register_parameter(
            f"recurrent{layer}", nn.Parameter(torch.empty(hidden, 4 * hidden))
        )
        module.register_parameter(f"bias{layer}", nn.Parameter(torch.empty(4 * hidden)))
        inputs = hidden


def reset_lstm(module: nn.Module, hidden: int, layers: int, generator: torch.Generator) -> None:
    """Keras' LSTM defaults: Glorot-uniform kernels, orthogonal recurrent kernels, zero
    biases but 1 for the forget gate."""
    with torch.no_grad():
        for layer in range(layers):
            glorot(getattr(module, f"kernel{layer}"), generator)
            nn.init.orthogonal_(getattr(module, f"recurrent{layer}"), generator=generator)
            bias = getattr(module, f"bias{layer}")
            bias.zero_()
            bias[hidden : 2 * hidden] = 1.0


LSTM = Callable[[nn.Module, int, Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]
"""One step of the stacked LSTM: ``(module, layers, x, h, c) -> (output, h, c)``."""

ROWS = 16_384
"""Coordinates per chunk when no graph is kept on the CPU: the gates of a chunk (ROWS x 4 x
hidden) stay small enough to be reused from the allocator instead of faulted in fresh, which
halves the step on a million coordinates (larger chunks off the CPU: :func:`chunk_rows`)."""


def run_lstm(
    module: nn.Module, layers: int, x: Tensor, h: Tensor, c: Tensor, rows: int | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`lstm_step` over every coordinate, in chunks of ``rows`` coordinates (by default
    :func:`chunk_rows` for the device, the gates the widest buffer) when no graph is wanted
    (evaluation, ``amalg.optim``, ES/PES without a backward pass): each coordinate's result
    does not depend on the others, and it is the same to float rounding (a matrix product may
    block its sums differently by size)."""
    count = x.shape[0]
    rows = chunk_rows(x, ROWS, 4 * h.shape[-1]) if rows is None else rows
    if count <= rows or graph_wanted(x, h, c, *lstm_weights(module, layers)):
        return lstm_step(module, layers, x, h, c)
    out = x.new_empty(count, h.shape[-1])
    hs, cs = torch.empty_like(h), torch.empty_like(c)
    for begin in range(0, count, rows):
        end = min(begin + rows, count)
        part = lstm_step(module, layers, x[begin:end], h[:, begin:end], c[:, begin:end])
        out[begin:end], hs[:, begin:end], cs[:, begin:end] = part
    return out, hs, cs


def lstm_weights(module: nn.Module, layers: int) -> list[Tensor]:
    """``[kernel0, recurrent0, bias0, kernel1, ...]``: the module's LSTM weights (phi's values
    under ``functional_call``)."""
    return [
        getattr(module, f"{name}{layer}")
        for layer in range(layers)
        for name in ("kernel", "recurrent", "bias")
    ]


def lstm_step(
    module: nn.Module, layers: int, x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of the stacked LSTM over every coordinate: the last layer's output and the
    new hidden and cell states ``[layer, coordinate, unit]``.

    Per layer, with gates ``z = x K + h R + b`` split into i, f, g, o (Keras' order)::

        c' = sigmoid(f) * c + sigmoid(i) * tanh(g),    h' = sigmoid(o) * tanh(c')

    The fast path of :func:`simple_lstm_step` (equal to float rounding),
    :mod:`~amalg.plugins.students._lstm_step`: without a graph its forward pass, with one
    the same pass as one autograd node whose backward pass is written out."""
    weights = lstm_weights(module, layers)
    if graph_wanted(x, h, c, *weights):
        return lstm_step_autograd(weights, layers, x, h, c)
    out, hs, cs, _ = lstm_forward(weights, layers, x, h, c)
    return out, hs, cs


def simple_lstm_step(
    module: nn.Module, layers: int, x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`lstm_step` written as its equations: the reference it must equal."""
    hs, cs = [], []
    for layer in range(layers):
        gates = (
            x @ getattr(module, f"kernel{layer}")
            + h[layer] @ getattr(module, f"recurrent{layer}")
            + getattr(module, f"bias{layer}")
        )
        i, f, candidate, o = gates.chunk(4, dim=1)
        cell = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(candidate)
        x = torch.sigmoid(o) * torch.tanh(cell)
        hs.append(x)
        cs.append(cell)
    return x, torch.stack(hs), torch.stack(cs)


def glorot(weight: Tensor, generator: torch.Generator) -> None:
    """Glorot-uniform draws in place (Keras' default kernel initialiser)."""
    fan_in, fan_out = weight.shape
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-limit, limit, generator=generator)
