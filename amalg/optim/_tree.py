"""An update rule's state seen per parameter, where the rule keeps it so.

Teachers keep ``{slot: {param: tensor}}``, small_fc_lopt ``{param: {slot: tensor}}``: every
tensor of the state lies under a table keyed by the parameter names. Such a state can be cut
down to the parameters that have a gradient at a step and merged back, so a parameter without
one keeps its state untouched (as in ``torch.optim``). RNNProp's and the choice network's
states are vectors over all coordinates at once, nn_adam's LSTM runs over all tensors: those
cannot be cut, and the optimizer asks for a gradient for every parameter they started with.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import torch

__all__ = ["merge", "per_parameter", "restrict"]


def _keyed(tree: Any, names: frozenset[str]) -> bool:
    return isinstance(tree, dict) and bool(tree) and set(tree) == set(names)


def per_parameter(tree: Any, names: frozenset[str]) -> bool:
    """Whether every tensor of ``tree`` lies under a table keyed by exactly ``names``."""
    if _keyed(tree, names):
        return True
    if isinstance(tree, dict):
        return all(per_parameter(value, names) for value in tree.values())
    if isinstance(tree, (tuple, list)):
        return all(per_parameter(value, names) for value in tree)
    return not isinstance(tree, torch.Tensor)


def restrict(tree: Any, names: frozenset[str], keep: Collection[str]) -> Any:
    """``tree`` with each table keyed by ``names`` cut down to the keys in ``keep``."""
    if _keyed(tree, names):
        return {key: tree[key] for key in keep}
    if isinstance(tree, dict):
        return {key: restrict(value, names, keep) for key, value in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(restrict(value, names, keep) for value in tree)
    return tree


def merge(full: Any, part: Any, names: frozenset[str]) -> Any:
    """``full`` with the entries ``part`` holds: a :func:`restrict` of it, updated, or the
    state of parameters it lacks (added)."""
    if _keyed(full, names):
        return {**full, **part}
    if isinstance(full, dict):
        return {key: merge(value, part[key], names) for key, value in full.items()}
    if isinstance(full, (tuple, list)):
        return type(full)(merge(a, b, names) for a, b in zip(full, part, strict=True))
    return part
