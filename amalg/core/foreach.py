"""The building blocks of :mod:`amalg.core.functional` over lists of tensors, for fast paths.

A teacher's fast path (:meth:`ElementwiseTeacher.foreach_rule`) runs its rule over every
tensor at once with ``torch._foreach_*`` calls: one Python call per operation instead of one
per operation and tensor, and in-place arithmetic on buffers it owns instead of a new tensor
for every intermediate. Each helper performs the same floating-point operations in the same
order as its functional twin, so a fast path built from them gives results bitwise equal to
the simple path on the CPU (the tests check it with ``torch.equal``; CUDA's fused foreach
kernels may round a division differently). None of this is differentiable:
fast paths run only where no autograd graph is wanted.

``Tensors`` lists are in parameter key order. A helper whose name ends in ``_`` overwrites
its first argument.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = [
    "ForeachUpdate",
    "Numbers",
    "SlotLists",
    "Tensors",
    "copy",
    "ema_",
    "moment_sqrt_",
    "scaled",
    "squares",
]

Tensors = list[Tensor] | tuple[Tensor, ...]
"""One tensor per parameter, in key order (the fast path's lists)."""
SlotLists = dict[str, Tensors]
"""Each slot's tensors, one per parameter in key order: ``{"m": [...], "v": [...]}``."""
Numbers = Mapping[str, float]
"""Hyperparameters on the fast path: numbers only."""
ForeachUpdate = tuple[Tensors, SlotLists]
"""A fast path's updates, one per parameter in key order, and its new slots."""


def copy(tensors: Tensors) -> Tensors:
    """Fresh copies, for a fast path that must not overwrite the state it was given."""
    return [tensor.clone() for tensor in tensors]


def scaled(tensors: Tensors, factor: float) -> Tensors:
    """``factor * t`` for every tensor, as new tensors."""
    return torch._foreach_mul(tensors, factor)


def squares(tensors: Tensors) -> Tensors:
    """``t * t`` for every tensor, as new tensors."""
    return torch._foreach_mul(tensors, tensors)


def ema_(averages: Tensors, values: Tensors, decay: float, *, scratch: bool = False) -> Tensors:
    """``decay * average + (1 - decay) * value`` into ``averages`` (:func:`~amalg.core.
    functional.ema`'s two products and one sum, rounded alike). ``scratch``: ``values`` are
    temporaries the product may overwrite."""
    torch._foreach_mul_(averages, decay)
    if scratch:
        torch._foreach_mul_(values, 1 - decay)
    else:
        values = torch._foreach_mul(values, 1 - decay)
    torch._foreach_add_(averages, values)
    return averages


def moment_sqrt_(tensors: Tensors) -> Tensors:
    """:func:`~amalg.core.functional.safe_sqrt`'s values in place, for second moments (EMAs
    of squares, never negative): ``sqrt(x)``, which is 0 at 0 as safe_sqrt is. (A NaN
    moment stays NaN where safe_sqrt gives 0: it comes from a NaN gradient, which makes
    every rule's step NaN either way.)"""
    torch._foreach_sqrt_(tensors)
    return tensors
