"""An element-wise teacher's compiled path: its ``rule`` through ``torch.compile``.

No second formulation to keep equal: the rule as written, over a batch of tensors to a call
(:func:`~amalg.core.compiled.batches`), inductor fusing its arithmetic into one loop per
tensor. The step and the hyperparameters enter as 0-dimensional float64 tensors, never as
numbers, which dynamo would compile in as constants: the step changes at every call, and
``amalg.optim`` makes a teacher per learning rate a schedule visits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from amalg.core.compiled import BATCH_ELEMENTS, Compiled, batches, hoisting
from amalg.core.foreach import Numbers, SlotLists, Tensors
from amalg.core.functional import Params, State

if TYPE_CHECKING:
    from amalg.core.interfaces.teacher import ElementwiseTeacher

__all__ = ["compiled_rule", "compiled_update"]

_COMPILED: dict[type, Compiled[tuple[list[Tensor], dict[str, list[Tensor]]]]] = {}


def compiled_rule(cls: type) -> Compiled[tuple[list[Tensor], dict[str, list[Tensor]]]]:
    """The compiled rule of teacher class ``cls`` (its own, so that one teacher whose rule
    cannot compile leaves the others compiled)."""
    if cls not in _COMPILED:
        _COMPILED[cls] = Compiled(_rules, f"{getattr(cls, 'name', cls.__name__)}'s update")
    return _COMPILED[cls]


def _rules(
    teacher: ElementwiseTeacher[Any],
    grads: Tensors,
    slots: SlotLists,
    params: Tensors,
    step: Tensor,
    hyper: Mapping[str, Tensor],
) -> tuple[list[Tensor], dict[str, list[Tensor]]]:
    """``teacher.rule`` over a batch of tensors: the function one compiled call runs."""
    deltas: list[Tensor] = []
    new: dict[str, list[Tensor]] = {slot: [] for slot in teacher.slots}
    for index, grad in enumerate(grads):
        own = {slot: slots[slot][index] for slot in teacher.slots}
        # The step as a tensor: a rule with a compiled path computes with it as with the int.
        delta, values = teacher.rule(grad, own, params[index], cast(int, step), hyper)
        deltas.append(delta)
        for slot in teacher.slots:
            new[slot].append(values[slot])
    return deltas, new


def compiled_update(
    teacher: ElementwiseTeacher[Any],
    grads: Params,
    state: State,
    params: Params,
    step: int,
    hyper: Numbers,
) -> tuple[Params, State] | None:
    """``teacher.simple_update`` through its compiled rule, or None where it cannot compile.
    New tensors for the new state (a donated state is not written into)."""
    compiled = compiled_rule(type(teacher))
    keys = list(grads)
    count = torch.tensor(float(step), dtype=torch.float64)
    numbers = {key: torch.tensor(value, dtype=torch.float64) for key, value in hyper.items()}
    delta: Params = {}
    new_state: State = {slot: {} for slot in teacher.slots}
    for batch in batches([grads[key].numel() for key in keys]):
        names = [keys[index] for index in batch]
        with hoisting(grads[names[0]].numel() > BATCH_ELEMENTS):  # a large tensor, alone
            out = compiled(
                teacher,
                [grads[name] for name in names],
                {slot: [state[slot][name] for name in names] for slot in teacher.slots},
                [params[name] for name in names],
                count,
                numbers,
            )
        if out is None:
            return None
        deltas, slots = out
        for index, name in enumerate(names):
            delta[name] = deltas[index]
            for slot in teacher.slots:
                new_state[slot][name] = slots[slot][index]
    return delta, new_state
