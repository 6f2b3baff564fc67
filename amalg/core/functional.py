"""Small differentiable building blocks shared by update rules.

Nothing here mutates its inputs: every function returns new tensors, so gradients flow
through an unrolled trajectory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from torch import Tensor

from amalg.core import compiled

__all__ = [
    "Params",
    "State",
    "bias_correction",
    "ema",
    "graph_wanted",
    "safe_sqrt",
    "step_generator",
    "tanh",
    "tree_leaves",
    "tree_map",
    "with_gradient",
]

Params = dict[str, Tensor]
"""Task parameters (and gradients, and updates): a flat mapping from name to tensor."""

State = dict[str, Any]
"""Optimizer state: a nested ``dict`` whose leaves are tensors."""


def ema(average: Tensor, value: Tensor, decay: float | Tensor) -> Tensor:
    """Exponential moving average step: ``decay * average + (1 - decay) * value``."""
    return decay * average + (1 - decay) * value


def bias_correction(decay: float | Tensor, step: int | Tensor) -> float | Tensor:
    """``1 - decay**(step + 1)``: the Adam bias correction after ``step + 1`` updates
    (``step`` counts from 0 at the first update; a tensor on a compiled path, where it may be
    computed once per call instead of in every loop: :func:`amalg.core.compiled.hoisting`)."""
    if isinstance(step, Tensor) and torch.compiler.is_compiling() and compiled.hoisting_on():
        return compiled.bias_correction_op(torch.as_tensor(decay, dtype=step.dtype), step)
    return 1 - decay ** (step + 1)


TANH_CLAMP = 20.0
"""Beyond +-20, tanh is +-1 in float64 (1 - tanh(20) is 8.5e-18, under half an ulp of 1)."""


def tanh(x: Tensor) -> Tensor:
    """``tanh(x)``; inside a ``torch.compile`` graph on the CPU, ``(e - 1) / (e + 1)`` with
    ``e = exp(2 x)`` and ``x`` clamped to +-20.

    Inductor's CPU kernels compute tanh with Sleef's, some 5x slower than ATen's own eager
    tanh (0.83 against 0.15 ms on 1M floats, 2 cores), enough to make a compiled AddSign
    slower than its eager path; its exp vectorises well. The price is accuracy relative to
    tanh near 0: the error is within the dtype's epsilon in absolute terms (1 - e cancels),
    not in relative ones, which a rule that adds the result to 1 or exponentiates it (AddSign,
    PowerSign) does not see. (Inductor's own ``cpp.use_decompose_tanh`` is the same identity;
    it is off by default and global to the process.) Eagerly, and in compiled GPU code, where
    tanh is fast, it is ``torch.tanh``."""
    if torch.compiler.is_compiling() and x.device.type == "cpu":
        grown = torch.exp(2 * x.clamp(-TANH_CLAMP, TANH_CLAMP))
        return (grown - 1) / (grown + 1)
    return torch.tanh(x)


class _WithGradient(torch.autograd.Function):
    """``value`` in the forward pass, ``c * grads[i]`` for ``inputs[i]`` in the backward."""

    @staticmethod
    def forward(ctx: Any, value: Tensor, count: int, *tensors: Tensor) -> Tensor:
        ctx.save_for_backward(*tensors[count:])
        return value.detach().clone()

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Tensor | None, ...]:
        grads = ctx.saved_tensors
        wanted = ctx.needs_input_grad[2 : 2 + len(grads)]
        given = (
            upstream * grad if want else None for grad, want in zip(grads, wanted, strict=True)
        )
        return (None, None, *given, *(None for _ in grads))


def with_gradient(value: Tensor, inputs: list[Tensor], grads: list[Tensor]) -> Tensor:
    """``value``, a scalar function f of ``inputs`` whose gradient ``grads`` is already
    known, as a node of the autograd graph: its forward value is ``value`` bit for bit, its
    backward pass gives ``c * grads[i]`` to ``inputs[i]`` for an upstream gradient c.

    The first-order meta-gradient through a task's loss (Andrychowicz et al. 2016) needs
    df/dtheta at every unrolled step, which the step has just computed to feed the student:
    this reuses it instead of keeping the task's activations for a second backward pass.
    Exact to rounding (c * g against the backward pass scaled by c), not an approximation.
    """
    if len(inputs) != len(grads):
        raise ValueError("one gradient per input")
    if value.dim() != 0:
        raise ValueError(f"a scalar value, not one of shape {tuple(value.shape)}")
    # Detached: the value's own graph (a task's loss, its buffers already freed by the
    # gradient's computation) must not be reached by a backward pass through this node.
    return cast(Tensor, _WithGradient.apply(value.detach(), len(inputs), *inputs, *grads))


def graph_wanted(*tensors: Tensor) -> bool:
    """Whether autograd records an operation on ``tensors`` (grad mode on, one of them
    requires a gradient). Where it does not, a fast path need keep no graph: it may work in
    place, in chunks, or round its way to the same values."""
    return torch.is_grad_enabled() and any(tensor.requires_grad for tensor in tensors)


def safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt(x)`` whose gradient is 0 where ``x == 0`` instead of infinite.

    A coordinate whose gradient was exactly zero so far (a dead ReLU, say) has a second
    moment of 0; plain ``sqrt`` would send ``inf * 0 = nan`` back through the unroll.
    """
    positive = x > 0
    root = torch.sqrt(torch.where(positive, x, torch.ones_like(x)))
    return torch.where(positive, root, torch.zeros_like(x))


def flatten(tree: Params) -> Tensor:
    """Every tensor of ``tree`` reshaped to one vector, in key order (coordinate-wise
    optimizers run over all coordinates at once)."""
    return torch.cat([value.reshape(-1) for value in tree.values()])


def unflatten(flat: Tensor, like: Params) -> Params:
    """``flat`` cut back into tensors of ``like``'s keys, shapes and dtypes (the inverse of
    :func:`flatten`)."""
    # One split, not a slice per tensor: its backward is one concatenation, where each
    # slice's would fill a zero tensor of the whole vector.
    pieces = torch.split(flat, [value.numel() for value in like.values()])
    return {
        key: piece.view_as(value).to(value.dtype)
        for (key, value), piece in zip(like.items(), pieces, strict=True)
    }


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` to the leaves of nested dicts (and lists/tuples) with the same structure."""
    if isinstance(tree, Mapping):
        return {key: tree_map(fn, tree[key], *(other[key] for other in rest)) for key in tree}
    if isinstance(tree, list | tuple):
        return type(tree)(tree_map(fn, *items) for items in zip(tree, *rest, strict=True))
    return fn(tree, *rest)


def tree_leaves(tree: Any) -> list[Any]:
    """The leaves of nested dicts/lists/tuples, in a stable order."""
    if isinstance(tree, Mapping):
        return [leaf for key in tree for leaf in tree_leaves(tree[key])]
    if isinstance(tree, list | tuple):
        return [leaf for item in tree for leaf in tree_leaves(item)]
    return [tree]


def step_generator(seed: int, index: int) -> torch.Generator:
    """The generator of the gradient oracle's noise (DP-SGD) at batch ``index`` of stream
    ``seed``: a pure function of both, as the batch itself is, so every optimizer walking
    that stream sees the same noise and a replayed step draws it again."""
    return torch.Generator().manual_seed((seed * 1_000_003 + index) % (2**63 - 1))
