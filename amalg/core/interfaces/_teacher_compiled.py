"""An element-wise teacher's compiled path: its ``rule`` through ``torch.compile``.

No second formulation to keep equal: the rule as written, over a batch of tensors to a call
(:func:`~amalg.core.compiled.batches`), inductor fusing its arithmetic into one loop per
tensor. The step and the hyperparameters enter as 0-dimensional float64 tensors, never as
numbers, which dynamo would compile in as constants: the step changes at every call, and
``amalg.optim`` makes a teacher per learning rate a schedule visits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from amalg.core.compiled import HOIST_ELEMENTS, Compiled, batched, each_batch, hoisting, writable
from amalg.core.foreach import Numbers, SlotLists, Tensors
from amalg.core.functional import Params, State

if TYPE_CHECKING:
    from amalg.core.interfaces.teacher import ElementwiseTeacher

__all__ = ["compiled_rule", "compiled_step", "compiled_update"]

Outputs = tuple[list[Tensor], dict[str, list[Tensor]]]

_COMPILED: dict[type, Compiled[Outputs]] = {}
_APPLIED: dict[type, Compiled[bool]] = {}


def compiled_rule(cls: type) -> Compiled[Outputs]:
    """The compiled rule of teacher class ``cls`` (its own, so that one teacher whose rule
    cannot compile leaves the others compiled)."""
    return _own(_COMPILED, cls, _rules, "update")


def _applied(cls: type) -> Compiled[bool]:
    """The compiled rule of ``cls`` that writes the new parameters and state
    (:func:`compiled_step`)."""
    return _own(_APPLIED, cls, _rules_applied, "step")


def _own(table: dict[type, Compiled[Any]], cls: type, function: Any, what: str) -> Compiled[Any]:
    if cls not in table:
        table[cls] = Compiled(function, f"{getattr(cls, 'name', cls.__name__)}'s {what}")
    return table[cls]


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
        with hoisting(grad.numel() > HOIST_ELEMENTS):  # read while tracing, per tensor
            delta, values = teacher.rule(grad, own, params[index], cast(int, step), hyper)
        deltas.append(delta)
        for slot in teacher.slots:
            new[slot].append(values[slot])
    return deltas, new


def _rules_applied(
    teacher: ElementwiseTeacher[Any],
    grads: Tensors,
    slots: SlotLists,
    params: Tensors,
    step: Tensor,
    hyper: Mapping[str, Tensor],
    scale: Tensor | None,
) -> bool:
    """:func:`_rules`, with each parameter updated in place, ``param -= scale * delta``
    (``scale`` None: 1), and the new state written into the (donated) slot tensors, all in
    the same loop. Fresh tensors for the new state would cost more than the loop on a large
    tensor: the allocator hands megabytes back to the system and takes them again, page
    by page. True: nothing to return."""
    deltas, new = _rules(teacher, grads, slots, params, step, hyper)
    for param, delta in zip(params, deltas, strict=True):
        param.sub_(delta if scale is None else scale * delta)
    for slot in teacher.slots:
        for old, value in zip(slots[slot], new[slot], strict=True):
            old.copy_(value)
    return True


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
    delta: Params = {}
    compiled = compiled_rule(type(teacher))

    def call(names: list[str], *args: Any) -> dict[str, list[Tensor]] | None:
        out = compiled(*args)
        if out is None:
            return None
        delta.update(zip(names, out[0], strict=True))
        return out[1]

    new_state, left = _over_batches(teacher, grads, state, params, step, hyper, call)
    return None if left else (delta, new_state)


def compiled_step(
    teacher: ElementwiseTeacher[Any],
    grads: Params,
    state: State,
    params: Params,
    step: int,
    hyper: Numbers,
    scale: float,
) -> State | None:
    """``teacher.step_in_place`` through its compiled rule, the parameters and the new
    state written into their tensors in the rule's own loop (the state is donated), or None
    (nothing written) where it cannot compile. Should compiling fail after some batches were
    written, the others take the eager path here."""
    compiled = _applied(type(teacher))
    factor = None if scale == 1.0 else torch.tensor(scale, dtype=torch.float64)

    def call(names: list[str], *args: Any) -> dict[str, list[Tensor]] | None:
        if compiled(*args, factor) is None:
            return None
        return {slot: [state[slot][name] for name in names] for slot in teacher.slots}

    new_state, left = _over_batches(teacher, grads, state, params, step, hyper, call, writes=True)
    if len(left) == len(grads):
        return None
    if left:
        from amalg.core.interfaces.teacher import UpdateRule

        rest = UpdateRule.step_in_place(
            teacher,
            {name: grads[name] for name in left},
            {slot: {name: state[slot][name] for name in left} for slot in teacher.slots},
            {name: params[name] for name in left},
            step,
            scale,
        )
        for slot in teacher.slots:
            new_state[slot].update(rest[slot])
    return new_state


def _over_batches(
    teacher: ElementwiseTeacher[Any],
    grads: Params,
    state: State,
    params: Params,
    step: int,
    hyper: Numbers,
    call: Callable[..., dict[str, list[Tensor]] | None],
    writes: bool = False,
) -> tuple[State, list[str]]:
    """The new state from ``call(names, teacher, grads, slots, params, step, hyper)`` over
    each batch of tensors (:func:`~amalg.core.compiled.batches`), and the names left when a
    call gives None (a compilation failed; every later call would too). A call that
    ``writes`` into the parameters and slots gets them :func:`~amalg.core.compiled.writable`."""

    def given(tensor: Tensor, name: str) -> Tensor:
        return writable(tensor, params[name]) if writes else tensor

    count = _number("step", float(step))
    numbers = {key: _number(key, float(value)) for key, value in hyper.items()}
    new_state: State = {slot: {} for slot in teacher.slots}

    def one(names: list[str]) -> bool:
        slots = call(
            names,
            teacher,
            [given(grads[name], name) for name in names],
            {slot: [given(state[slot][name], name) for name in names] for slot in teacher.slots},
            [given(params[name], name) for name in names],
            count,
            numbers,
        )
        if slots is None:
            return False
        for index, name in enumerate(names):
            for slot in teacher.slots:
                new_state[slot][name] = slots[slot][index]
        return True

    return new_state, each_batch(batched(grads), one)


def _number(name: str, value: float) -> Tensor:
    """``value`` of input ``name`` as a 0-dimensional float64 CPU tensor, made once: a step's
    hyperparameters repeat, and a few microseconds per tensor add up. One tensor per name:
    two inputs given the same tensor would make dynamo compile another graph (it guards on
    inputs aliasing each other). Rules only read their inputs; one that wrote into it would
    get a fresh one next time."""
    tensor = _made(name, value)
    if tensor._version:
        _made.cache_clear()
        tensor = _made(name, value)
    return tensor


@functools.lru_cache(maxsize=1024)
def _made(name: str, value: float) -> Tensor:
    return torch.tensor(value, dtype=torch.float64, device="cpu")
