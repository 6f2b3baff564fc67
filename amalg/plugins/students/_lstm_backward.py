"""The stacked coordinate-wise LSTM step as one autograd node with its backward pass written
out: what meta-training differentiates at every unrolled step.

Autograd's backward of :func:`~amalg.plugins.students._lstm.lstm_step` spends much of its
time on bookkeeping: the backward of each ``chunk`` of the gates concatenates four gate
gradients (zeros filled in for the unused ones), and a sigmoid's backward runs over the
candidate's quarter it never used. Here every gate's gradient is written into its quarter
of one buffer by autograd's own sigmoid and tanh backward kernels, and nothing is filled
with zeros or concatenated: a step's forward and backward pass take 10-20% less time (1.9k
and 18k coordinates, 2 CPU threads).

Per layer, with ``z = x K + h R + b`` split into i, f, g, o and their activations
``a_i = sigmoid(z_i)``, ``a_f``, ``a_g = tanh(z_g)``, ``a_o``, ``c' = a_f c + a_i a_g``,
``h' = a_o tanh(c')``; given dh' and dc' (from the next step, the layer above and the
loss)::

    do   = dh' tanh(c')
    dc   = dh' a_o (1 - tanh(c')^2) + dc'
    dz_i = dc a_g a_i (1 - a_i)          dz_f = dc c a_f (1 - a_f)
    dz_g = dc a_i (1 - a_g^2)            dz_o = do a_o (1 - a_o)
    dc_prev = dc a_f,    dh_prev = dz R^T,    dx = dz K^T
    dK = x^T dz,         dR = h^T dz,         db = sum over coordinates of dz

The forward pass is :func:`lstm_step`'s, the same operations in the same order (the same
values bit for bit); the backward pass equals autograd's to rounding (a test checks it
against :func:`~amalg.plugins.students._lstm.simple_lstm_step` in float64). It is
differentiable once: nothing in meta-training differentiates a student's gradient.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["lstm_step_autograd"]


def lstm_step_autograd(
    weights: list[Tensor], layers: int, x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of the stacked LSTM, ``weights`` being ``[K0, R0, b0, K1, R1, b1, ...]``:
    the last layer's output and the new hidden and cell states ``[layer, coordinate,
    unit]``, as one autograd node."""
    if len(weights) != 3 * layers:
        raise ValueError(f"{layers} layers take {3 * layers} weights, not {len(weights)}")
    return cast(tuple[Tensor, Tensor, Tensor], _LSTMStep.apply(layers, x, h, c, *weights))


class _LSTMStep(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, layers: int, x: Tensor, h: Tensor, c: Tensor, *weights: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        activations, candidates, cell_tanhs, hiddens, cells = [], [], [], [], []
        inputs = x
        for layer in range(layers):
            kernel, recurrent, bias = weights[3 * layer : 3 * layer + 3]
            # lstm_step's operations, in its order: the same values bit for bit.
            gates = torch.addmm(bias, inputs, kernel).addmm_(h[layer], recurrent)
            active = torch.sigmoid(gates)  # the candidate's quarter unused
            i, f, _, o = active.chunk(4, dim=1)
            candidate = torch.tanh(gates.chunk(4, dim=1)[2])
            cell = torch.addcmul(f * c[layer], i, candidate)
            cell_tanh = torch.tanh(cell)
            inputs = o * cell_tanh
            activations.append(active)
            candidates.append(candidate)
            cell_tanhs.append(cell_tanh)
            hiddens.append(inputs)
            cells.append(cell)
        ctx.layers = layers
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(
            x, h, c, *weights, *activations, *candidates, *cell_tanhs, *hiddens[:-1]
        )
        return inputs, torch.stack(hiddens), torch.stack(cells)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, d_out: Tensor | None, d_hs: Tensor | None, d_cs: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        layers = ctx.layers
        x, h, c, *rest = ctx.saved_tensors
        weights = rest[: 3 * layers]
        activations = rest[3 * layers : 4 * layers]
        candidates = rest[4 * layers : 5 * layers]
        cell_tanhs = rest[5 * layers : 6 * layers]
        hiddens = rest[6 * layers :]  # each layer's output, the next one's input
        wants = ctx.needs_input_grad  # (layers, x, h, c, *weights)
        d_h = torch.zeros_like(h) if wants[2] else None
        d_c = torch.zeros_like(c) if wants[3] else None
        d_weights: list[Tensor | None] = [None] * (3 * layers)
        d_x: Tensor | None = None
        from_above = d_out  # the gradient reaching this layer's output h'
        for layer in reversed(range(layers)):
            d_hidden = _plus(d_hs[layer] if d_hs is not None else None, from_above)
            d_cell_out = d_cs[layer] if d_cs is not None else None
            kernel, recurrent, _ = weights[3 * layer : 3 * layer + 3]
            inputs = x if layer == 0 else hiddens[layer - 1]
            needs_below = layer > 0 or wants[1]
            if d_hidden is None and d_cell_out is None:
                from_above = None  # nothing reaches this layer: zero gradients below
                continue
            active = activations[layer]
            i, f, _, o = active.chunk(4, dim=1)
            candidate, cell_tanh = candidates[layer], cell_tanhs[layer]
            d_gates = torch.empty_like(active)
            d_i, d_f, d_g, d_o = d_gates.chunk(4, dim=1)
            if d_hidden is not None:
                d_cell = _tanh_backward(d_hidden * o, cell_tanh)
                if d_cell_out is not None:
                    d_cell += d_cell_out
                _sigmoid_backward(d_hidden * cell_tanh, o, out=d_o)
            else:
                d_cell = cast(Tensor, d_cell_out)
                d_o.zero_()
            _sigmoid_backward(d_cell * candidate, i, out=d_i)
            _sigmoid_backward(d_cell * c[layer], f, out=d_f)
            _tanh_backward(d_cell * i, candidate, out=d_g)
            if d_c is not None:
                torch.mul(d_cell, f, out=d_c[layer])
            if d_h is not None:
                torch.mm(d_gates, recurrent.t(), out=d_h[layer])
            if wants[4 + 3 * layer]:
                d_weights[3 * layer] = inputs.t() @ d_gates
            if wants[5 + 3 * layer]:
                d_weights[3 * layer + 1] = h[layer].t() @ d_gates
            if wants[6 + 3 * layer]:
                d_weights[3 * layer + 2] = d_gates.sum(dim=0)
            below = d_gates @ kernel.t() if needs_below else None
            if layer == 0:
                d_x = below
            from_above = below
        return (None, d_x if wants[1] else None, d_h, d_c, *d_weights)


def _sigmoid_backward(grad: Tensor, output: Tensor, out: Tensor) -> Tensor:
    """``grad * output * (1 - output)`` in one pass (autograd's own kernel), into ``out``."""
    return torch.ops.aten.sigmoid_backward.grad_input(grad, output, grad_input=out)


def _tanh_backward(grad: Tensor, output: Tensor, out: Tensor | None = None) -> Tensor:
    """``grad * (1 - output^2)`` in one pass (autograd's own kernel)."""
    if out is None:
        return torch.ops.aten.tanh_backward(grad, output)
    return torch.ops.aten.tanh_backward.grad_input(grad, output, grad_input=out)


def _plus(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    return a if b is None else a + b
