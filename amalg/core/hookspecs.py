"""The extension points of amalg: one pluggy hook per component kind.

A plugin is a module (or any object) named by an entry point in the ``amalg`` group::

    [project.entry-points.amalg]
    my_plugin = "my_package.plugin"

and implements one or more of the hooks below with :data:`hookimpl`::

    from amalg import hookimpl

    @hookimpl
    def register_teachers(register):
        register(MyTeacher)

Each hook receives a ``register`` callback and returns nothing. ``register(cls)`` takes a
component class of the hook's kind: a subclass of the kind's contract in
:mod:`amalg.core.interfaces` that sets ``name``, names its config model (a
``ComponentConfig``) as the contract's type argument (``ElementwiseTeacher[MyConfig]``) or
as ``config_class``, and has a docstring (its first line is the summary ``amalg list``
shows). The registry checks each class and refuses a name that another plugin already
registered for the same kind. ``pytest --pyargs amalg.testing --amalg-plugin NAME`` runs
amalg's contract suites over a plugin's components.

Hooks are called lazily, the first time a kind is needed, once per plugin. A hook that
raises marks its plugin broken (``amalg list`` shows the error); what that hook registered
before raising is discarded, other plugins are unaffected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:
    from amalg.core.interfaces import (
        AmalgamationScheme,
        MetaGradientEstimator,
        Perturbation,
        Strategy,
        Student,
        Task,
        Teacher,
    )

__all__ = ["PROJECT", "Register", "hookimpl", "hookspec"]

PROJECT = "amalg"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

C_contra = TypeVar("C_contra", contravariant=True)


class Register(Protocol[C_contra]):
    """The callback a registration hook receives: ``register(component_class)``."""

    def __call__(self, component: type[C_contra], /) -> None: ...


@hookspec
def register_teachers(register: Register[Teacher]) -> None:
    """Register teacher optimizers: analytical, differentiable update rules.

    :param register: call ``register(cls)`` once per :class:`~amalg.core.interfaces.Teacher`
        subclass. A teacher implements ``init(params) -> state`` and
        ``update(grads, state, params, step) -> (delta, new_state)`` without mutating its
        inputs (``ElementwiseTeacher`` does the per-tensor bookkeeping).
    """


@hookspec
def register_students(register: Register[Student]) -> None:
    """Register students: learned update rules whose meta-parameters are trained.

    :param register: call ``register(cls)`` once per :class:`~amalg.core.interfaces.Student`
        subclass (an ``nn.Module`` with the teacher's ``init`` / ``update`` shape).
    """


@hookspec
def register_schemes(register: Register[AmalgamationScheme]) -> None:
    """Register amalgamation schemes: how teachers enter the meta-objective.

    :param register: call ``register(cls)`` once per
        :class:`~amalg.core.interfaces.AmalgamationScheme` subclass; the class declares how
        many teachers it accepts (``min_teachers`` / ``max_teachers``).
    """


@hookspec
def register_perturbations(register: Register[Perturbation]) -> None:
    """Register perturbations of the student during meta-training (``amalg run --perturbation``).

    :param register: call ``register(cls)`` once per
        :class:`~amalg.core.interfaces.Perturbation` subclass: random or adversarial noise on
        the meta-parameters (``perturb``, which may replay the truncation), or noise on the
        gradients the student sees (``perturb_inputs``). Never applied in validation or
        evaluation.
    """


@hookspec
def register_tasks(register: Register[Task]) -> None:
    """Register tasks (optimizees): a model, its data and its loss.

    :param register: call ``register(cls)`` once per :class:`~amalg.core.interfaces.Task`
        subclass. Import heavy dependencies (datasets) inside the task, not at plugin
        import, so ``amalg list`` stays fast.
    """


@hookspec
def register_estimators(register: Register[MetaGradientEstimator]) -> None:
    """Register meta-gradient estimators (truncated backprop, ES, PES, ...).

    :param register: call ``register(cls)`` once per
        :class:`~amalg.core.interfaces.MetaGradientEstimator` subclass.
    """


@hookspec
def register_strategies(register: Register[Strategy]) -> None:
    """Register meta-training strategies: the outer schedule (curriculum, repeat, ...).

    :param register: call ``register(cls)`` once per :class:`~amalg.core.interfaces.Strategy`
        subclass (a state machine over a JSON-serialisable state, so runs can resume).
    """
