"""The coordinate-wise LSTM shared by RNNProp and the choice network: weights shared by all
coordinates, Keras' layout (gate order i, f, c, o; one bias per gate) and initialisation."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


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


def run_lstm(
    module: nn.Module, layers: int, x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of the stacked LSTM over every coordinate: the last layer's output and the
    new hidden and cell states ``[layer, coordinate, unit]``."""
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
