"""Teacher: an analytical, differentiable update rule (SGD, Adam, ...).

The contract is functional (optax style)::

    state = teacher.init(params)
    delta, state = teacher.update(grads, state, params, step)
    params = {k: params[k] - delta[k] for k in params}

``params``, ``grads`` and ``delta`` are ``dict[str, Tensor]`` with the same keys, shapes and
dtypes; ``step`` counts from 0 at the first update. ``update`` never mutates its inputs, so a
loss after an unroll can be differentiated through every step (and with respect to a
hyperparameter given as a tensor through :meth:`Teacher.with_hyperparameters`).
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Self, cast

import torch
from torch import Tensor

from amalg.core import foreach
from amalg.core.compiled import NoCompiledPathError, with_compiled_path
from amalg.core.component import Component, ConfigT, defining_class
from amalg.core.errors import ConfigError
from amalg.core.foreach import ForeachUpdate, Numbers, SlotLists, Tensors
from amalg.core.functional import Params, State, graph_wanted
from amalg.core.interfaces._teacher_compiled import compiled_step, compiled_update

__all__ = ["ElementwiseTeacher", "Hyper", "Slots", "Teacher", "TensorUpdate", "UpdateRule"]

Slots = dict[str, Tensor]
"""One tensor's state slots, e.g. ``{"m": ..., "v": ...}``."""
Hyper = Mapping[str, float | Tensor]
"""Hyperparameters as an update rule reads them: floats, or tensors to differentiate."""
TensorUpdate = tuple[Tensor, Slots]
"""One tensor's update ``delta`` and its new slots."""


class UpdateRule(Component[ConfigT]):
    """The shape shared by teachers and students: ``init`` and ``update``."""

    compiled_path: ClassVar[bool] = False
    """Whether this rule has a compiled graph-free path (:meth:`use_compiler`)."""

    compiling: bool = False
    """Whether graph-free updates take the compiled path (:meth:`use_compiler`)."""

    def use_compiler(self, enabled: bool = True) -> Self:
        """Run the updates that keep no autograd graph (``amalg.optim``, evaluation, ES and
        PES particles, teachers stepping beside a student) through ``torch.compile``
        (:mod:`amalg.core.compiled`): the same rule to float rounding, faster once each
        parameter shape has compiled. Updates that keep a graph (meta-training's unrolls)
        are never compiled. Raises :class:`~amalg.core.compiled.NoCompiledPathError` for a
        rule without such a path (:attr:`compiled_path`)."""
        if enabled and not self.compiled_path:
            raise NoCompiledPathError(self.kind, self.name, with_compiled_path(self.kind))
        self.compiling = enabled
        return self

    @abstractmethod
    def init(self, params: Params) -> State:
        """The initial optimizer state for ``params`` (new tensors, ``params`` untouched)."""

    @abstractmethod
    def update(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """The update ``delta`` (new parameters are ``params - delta``) and the new state,
        in tensors of its own: never ``state``'s, ``params``' or ``grads``' (a caller may
        later donate the new state, and a donated state is written into)."""

    def apply(self, params: Params, delta: Params) -> Params:
        """``params - delta``, key by key, as new tensors."""
        return {key: value - delta[key] for key, value in params.items()}

    def update_donated(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """:meth:`update`, from a caller that will never read ``state`` again: the rule may
        write the new state into its tensors (an optimizer stepping a model, an evaluation
        walking one trajectory). The same values as :meth:`update`; by default it is
        :meth:`update`."""
        return self.update(grads, state, params, step)

    def step_in_place(
        self, grads: Params, state: State, params: Params, step: int, scale: float = 1.0
    ) -> State:
        """For a caller that steps the parameters in place (an optimizer; the unroll
        engine's teachers after a truncation's first step), under ``torch.no_grad()``:
        writes ``params[k] - scale * delta[k]`` into the tensors of ``params`` and returns
        the new state (``state`` donated, as to :meth:`update_donated`). By default
        :meth:`update_donated`, then one subtraction per tensor (the same rounding as
        ``params - delta``, without a copy); a compiled path does the subtraction and writes
        the new state in its own loop, saving passes over the tensors."""
        delta, new_state = self.update_donated(grads, state, params, step)
        for key, value in delta.items():
            params[key].sub_(value if scale == 1.0 else scale * value)
        return new_state


class Teacher(UpdateRule[ConfigT]):
    """An analytical optimizer used as a teacher (and as a baseline)."""

    kind: ClassVar[str] = "teacher"

    def __init__(self, config: Any = None, /, **fields: Any) -> None:
        super().__init__(config, **fields)
        self._overrides: dict[str, Tensor] = {}

    differentiable: ClassVar[tuple[str, ...] | None] = None
    """The config fields :meth:`with_hyperparameters` may replace by tensors (None: every
    float field)."""

    def _differentiable(self) -> list[str]:
        floats = [
            key
            for key, value in self.config
            if isinstance(value, float) and not isinstance(value, bool)
        ]
        return floats if self.differentiable is None else list(self.differentiable)

    @property
    def hyperparameters(self) -> Mapping[str, float | Tensor]:
        """The hyperparameters as ``update`` uses them: the config's float fields, except
        those replaced by :meth:`with_hyperparameters`."""
        values: dict[str, float | Tensor] = {
            key: getattr(self.config, key) for key in self._differentiable()
        }
        values.update(self._overrides)
        return values

    def with_hyperparameters(self, **values: Tensor) -> Self:
        """A copy of this teacher whose hyperparameters are the given scalar tensors.

        Gradients then flow from an unroll back to them, e.g. to the learning rate::

            lr = torch.tensor(0.005, requires_grad=True)
            teacher = amalg.create("teacher", "adam").with_hyperparameters(lr=lr)

        The config keeps its nominal values; only ``update`` sees the tensors.
        """
        allowed = self._differentiable()
        problems = []
        for key, value in values.items():
            if key not in allowed:
                problems.append(
                    (key, f"not a differentiable hyperparameter; those are: {', '.join(allowed)}")
                )
            elif not (isinstance(value, Tensor) and value.dim() == 0 and value.is_floating_point()):
                problems.append((key, "expected a 0-dimensional floating-point tensor"))
        if problems:
            raise ConfigError(f"{self.kind} {self.name!r}", problems)
        clone = copy.copy(self)
        clone._overrides = {**self._overrides, **values}
        return clone


class ElementwiseTeacher(Teacher[ConfigT]):
    """A teacher whose rule acts on each tensor on its own with per-tensor state slots.

    Subclasses list their state slots (``slots = ("m", "v")``: each slot holds one tensor per
    parameter, zeros at first) and implement :meth:`rule` for a single tensor. The state is
    ``{slot: {param_name: tensor}}``.

    A subclass may add a fast path, :meth:`foreach_rule`: the same rule over every tensor at
    once (``torch._foreach_*``), writing into buffers it owns. ``update`` takes it whenever no
    autograd graph is wanted (nothing requires a gradient, every hyperparameter is a number):
    teachers stepping beside a student in meta-training, evaluation, ``amalg.optim``. It must
    give results bitwise equal to :meth:`rule` on the CPU (the teacher contract checks it),
    which the helpers of :mod:`amalg.core.foreach` make easy: they round as the functional
    blocks do. (On CUDA, torch's fused foreach kernels may round a division differently from
    the per-tensor ones: equal to rounding there.)

    A subclass may also declare a compiled path (``compiled_path = True``,
    :mod:`~amalg.core.interfaces._teacher_compiled`): :meth:`rule` itself through
    ``torch.compile``, the step count and the hyperparameters given as 0-dimensional float64
    tensors, which the rule must compute with as with numbers (arithmetic, ``torch``
    functions, :func:`~amalg.core.functional.bias_correction`; no Python branch on their
    values). The teacher contract compiles it and compares it with the eager path.
    """

    slots: ClassVar[tuple[str, ...]] = ()

    fast_twins: ClassVar[dict[str, str]] = {"rule": "foreach_rule"}
    """Each method of the rule and its fast twin. A subclass that overrides a method but not
    its twin (``rule`` but not ``foreach_rule``) has no fast path: it would compute its
    parent's rule."""

    def init(self, params: Params) -> State:
        return {
            slot: {key: torch.zeros_like(value) for key, value in params.items()}
            for slot in self.slots
        }

    def update(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        return self._update(grads, state, params, step, donate=False)

    def update_donated(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        return self._update(grads, state, params, step, donate=True)

    def step_in_place(
        self, grads: Params, state: State, params: Params, step: int, scale: float = 1.0
    ) -> State:
        hyper = self.hyperparameters
        if self.compiling and self._graph_free(grads, state, params, hyper):
            new_state = compiled_step(self, grads, state, params, step, cast(Numbers, hyper), scale)
            if new_state is not None:
                return new_state
        return super().step_in_place(grads, state, params, step, scale)

    def simple_update(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """:meth:`rule` tensor by tensor: the path every fast path must equal, and the one
        that carries an autograd graph."""
        hyper = self.hyperparameters
        delta: Params = {}
        new_state: State = {slot: {} for slot in self.slots}
        for key, grad in grads.items():
            slots = {slot: state[slot][key] for slot in self.slots}
            delta[key], new_slots = self.rule(grad, slots, params[key], step, hyper)
            for slot in self.slots:
                new_state[slot][key] = new_slots[slot]
        return delta, new_state

    def _update(
        self, grads: Params, state: State, params: Params, step: int, *, donate: bool
    ) -> tuple[Params, State]:
        hyper = self.hyperparameters
        if not self._graph_free(grads, state, params, hyper):
            return self.simple_update(grads, state, params, step)
        if self.compiling:
            compiled = compiled_update(self, grads, state, params, step, cast(Numbers, hyper))
            if compiled is not None:
                return compiled
        if not _has_fast_path(type(self)):
            return self.simple_update(grads, state, params, step)
        keys = list(grads)
        slots: SlotLists = {slot: [state[slot][key] for key in keys] for slot in self.slots}
        if not donate:
            slots = {slot: foreach.copy(values) for slot, values in slots.items()}
        deltas, new_slots = self.foreach_rule(
            [grads[key] for key in keys],
            slots,
            [params[key] for key in keys],
            step,
            cast(Numbers, hyper),  # numbers: _fast checked
        )
        return dict(zip(keys, deltas, strict=True)), {
            slot: dict(zip(keys, new_slots[slot], strict=True)) for slot in self.slots
        }

    def _fast(self, grads: Params, state: State, params: Params, hyper: Hyper) -> bool:
        """Whether the fast path may run: it has one, and no graph is wanted."""
        return _has_fast_path(type(self)) and self._graph_free(grads, state, params, hyper)

    def _graph_free(self, grads: Params, state: State, params: Params, hyper: Hyper) -> bool:
        """Whether no graph is wanted: nothing requires a gradient, every hyperparameter is
        a number."""
        if not grads or any(isinstance(value, Tensor) for value in hyper.values()):
            return False
        slots = [value for slot in self.slots for value in state[slot].values()]
        return not graph_wanted(*grads.values(), *params.values(), *slots)

    @abstractmethod
    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        """The update of one tensor and its new slot values."""

    def foreach_rule(
        self, grads: Tensors, slots: SlotLists, params: Tensors, step: int, hyper: Numbers
    ) -> ForeachUpdate:
        """The fast path, :meth:`rule` over every tensor at once (a teacher without one does
        not override this: ``update`` then never calls it).

        ``slots`` are the rule's own buffers: it may overwrite them and return them as the
        new slots. ``grads`` and ``params`` must be left as they are. Hyperparameters are
        numbers here.
        """
        raise NotImplementedError(f"teacher {self.name!r} has no fast path")


def _has_fast_path(cls: type[ElementwiseTeacher[Any]]) -> bool:
    """Whether ``cls``'s fast path is its own rule's: every fast twin is defined with or
    after the method it stands for."""
    if defining_class(cls, "foreach_rule") is ElementwiseTeacher:
        return False
    return all(
        issubclass(defining_class(cls, fast), defining_class(cls, plain))
        for plain, fast in cls.fast_twins.items()
    )
