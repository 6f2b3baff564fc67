"""The stacked coordinate-wise LSTM step, fast: its forward pass writing the new states into
their buffers, and, where meta-training differentiates it, one autograd node with its
backward pass written out.

Autograd's own backward of the step spends much of its time on bookkeeping: the backward of
each ``chunk`` of the gates concatenates four gate gradients (zeros filled in for the unused
ones), a sigmoid's backward runs over the candidate's quarter it never used, and
``torch.stack`` copies the states in the forward pass. Here the states are written into
preallocated buffers instead of stacked, every gate's gradient is written into its quarter
of one buffer by autograd's own sigmoid and tanh backward kernels, and no gate gradient is
filled with zeros or concatenated.

Per layer, with ``z = x K + h R + b`` split into i, f, g, o (Keras' order) and their
activations ``a_i = sigmoid(z_i)``, ``a_f``, ``a_g = tanh(z_g)``, ``a_o``,
``c' = a_f c + a_i a_g``, ``h' = a_o tanh(c')``; given dh' and dc' (from the next step, the
layer above and the loss)::

    do   = dh' tanh(c')
    dc   = dh' a_o (1 - tanh(c')^2) + dc'
    dz_i = dc a_g a_i (1 - a_i)          dz_f = dc c a_f (1 - a_f)
    dz_g = dc a_i (1 - a_g^2)            dz_o = do a_o (1 - a_o)
    dc_prev = dc a_f,    dh_prev = dz R^T,    dx = dz K^T
    dK = x^T dz,         dR = h^T dz,         db = sum over coordinates of dz

With a graph and without, the forward pass is the same operations (the same values bit for
bit); the backward pass equals autograd's through
:func:`~amalg.plugins.students._lstm.simple_lstm_step` to rounding (a test checks it in
float64). It is differentiable once: nothing in meta-training differentiates a student's
gradient.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["lstm_forward", "lstm_step_autograd"]


def lstm_step_autograd(
    weights: list[Tensor], layers: int, x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of the stacked LSTM, ``weights`` being ``[K0, R0, b0, K1, R1, b1, ...]``:
    the last layer's output and the new hidden and cell states ``[layer, coordinate,
    unit]``, as one autograd node."""
    if len(weights) != 3 * layers:
        raise ValueError(f"{layers} layers take {3 * layers} weights, not {len(weights)}")
    return cast(tuple[Tensor, Tensor, Tensor], _LSTMStep.apply(layers, x, h, c, *weights))


Saved = list[tuple[Tensor, Tensor, Tensor]]
"""Per layer, what the backward pass reads: the activated gates, the candidate's tanh and
the new cell's tanh."""


@torch.no_grad()
def lstm_forward(
    weights: list[Tensor], layers: int, x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor, Tensor, Saved]:
    """The step without autograd: the last layer's output (a view of the new hidden states),
    the new hidden and cell states ``[layer, coordinate, unit]``, and what the backward pass
    would read.

    The gates in one buffer (the bias and both products accumulated by ``addmm``), one
    sigmoid over all four gates instead of three over strided slices (the candidate's
    quarter is wasted; one contiguous pass still wins), the cell update fused by
    ``addcmul``, each layer's states written into their place in the outputs."""
    hs, cs = torch.empty_like(h), torch.empty_like(c)
    saved: Saved = []
    inputs = x
    for layer in range(layers):
        kernel, recurrent, bias = weights[3 * layer : 3 * layer + 3]
        gates = torch.addmm(bias, inputs, kernel).addmm_(h[layer], recurrent)
        active = torch.sigmoid(gates)
        i, f, _, o = active.chunk(4, dim=1)
        candidate = torch.tanh(gates.chunk(4, dim=1)[2])
        cell = torch.addcmul(f * c[layer], i, candidate, out=cs[layer])
        cell_tanh = torch.tanh(cell)
        inputs = torch.mul(o, cell_tanh, out=hs[layer])
        saved.append((active, candidate, cell_tanh))
    return inputs, hs, cs, saved


class _LSTMStep(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, layers: int, x: Tensor, h: Tensor, c: Tensor, *weights: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        out, hs, cs, saved = lstm_forward(list(weights), layers, x, h, c)
        ctx.layers = layers
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, h, c, hs, *weights, *(t for layer in saved for t in layer))
        # The output as a tensor of its own: autograd keeps outputs that are views of each
        # other apart poorly.
        return out.clone(), hs, cs

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, d_out: Tensor | None, d_hs: Tensor | None, d_cs: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        layers = ctx.layers
        x, h, c, hs, *rest = ctx.saved_tensors
        weights = rest[: 3 * layers]
        activations, candidates, cell_tanhs = (rest[3 * layers + k :: 3] for k in range(3))
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
            inputs = x if layer == 0 else hs[layer - 1]
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
