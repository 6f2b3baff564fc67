"""amalg: optimizer amalgamation and learned optimizers for PyTorch.

The public API::

    import amalg

    amalg.list_components("teacher")          # what is installed, with config schemas
    adam = amalg.create("teacher", "adam", lr=0.002)

Plugins add components through the ``amalg`` entry-point group and :data:`hookimpl`.
Importing ``amalg`` loads no plugin: the registry loads them on first use.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal, overload

from amalg.core.errors import AmalgError
from amalg.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from os import PathLike

    from amalg.core.component import Component
    from amalg.core.interfaces import (
        AmalgamationScheme,
        MetaGradientEstimator,
        Perturbation,
        Strategy,
        Student,
        Task,
        Teacher,
    )
    from amalg.core.registry import ComponentInfo

__all__ = ["AmalgError", "__version__", "create", "hookimpl", "list_components", "load"]

try:
    __version__ = metadata.version("amalg")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"


def list_components(kind: str | None = None) -> list[ComponentInfo]:
    """The registered components of ``kind`` (singular or plural; all kinds when None).

    Each record carries the kind, name, summary, the plugin and package that registered it,
    and its config schema. An unknown kind raises :class:`~amalg.core.errors.UnknownKindError`.
    """
    from amalg.core.registry import get_registry

    return get_registry().components(kind)


@overload
def create(kind: Literal["teacher", "teachers"], name: str, /, **config: Any) -> Teacher[Any]: ...
@overload
def create(kind: Literal["student", "students"], name: str, /, **config: Any) -> Student[Any]: ...
@overload
def create(
    kind: Literal["scheme", "schemes"], name: str, /, **config: Any
) -> AmalgamationScheme[Any]: ...
@overload
def create(
    kind: Literal["task", "tasks", "optimizee", "optimizees"], name: str, /, **config: Any
) -> Task[Any]: ...
@overload
def create(
    kind: Literal["estimator", "estimators"], name: str, /, **config: Any
) -> MetaGradientEstimator[Any]: ...
@overload
def create(
    kind: Literal["strategy", "strategies"], name: str, /, **config: Any
) -> Strategy[Any]: ...
@overload
def create(
    kind: Literal["perturbation", "perturbations"], name: str, /, **config: Any
) -> Perturbation[Any]: ...
@overload
def create(kind: str, name: str, /, **config: Any) -> Component[Any]: ...
def create(kind: str, name: str, /, **config: Any) -> Component[Any]:
    """A validated instance of the component ``name`` of ``kind``.

    ``amalg.create("teacher", "adam", lr=0.002)``. An unknown kind or name raises an error
    listing close matches; a bad config value raises
    :class:`~amalg.core.errors.ConfigError` naming the field.
    """
    from amalg.core.registry import get_registry

    return get_registry().create(kind, name, **config)


def load(path: str | PathLike[str]) -> Student:
    """The trained student of a run: ``amalg.load("results/my-run")`` (the run folder, or
    its ``optimizer/`` folder). Weights are read without unpickling arbitrary objects; a
    missing, damaged or foreign file raises :class:`~amalg.core.errors.AmalgError` with one
    line."""
    from amalg.core.run_folder import load_student

    return load_student(path)
