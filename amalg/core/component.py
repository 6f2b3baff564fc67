"""The base of every component: a registered name, a one-line summary and a validated config."""

from __future__ import annotations

import inspect
import typing
from abc import ABC
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from amalg.core.config import ComponentConfig, validate_config

__all__ = ["Component", "ConfigT", "defining_class", "summary_of"]

ConfigT = TypeVar("ConfigT", bound=ComponentConfig)


def defining_class(cls: type, name: str) -> type:
    """The class in ``cls``'s method resolution order that defines ``name`` (whether a
    component overrides a method of its contract)."""
    return next(base for base in cls.__mro__ if name in vars(base))


def summary_of(cls: type) -> str:
    """The first line of a component's docstring: what ``amalg list`` shows."""
    # The class's own docstring: an inherited one would describe the parent, not this class.
    doc = vars(cls).get("__doc__")
    return inspect.cleandoc(doc).splitlines()[0].strip() if doc and doc.strip() else ""


class Component(ABC, Generic[ConfigT]):
    """A pluggable piece of amalg.

    Subclasses set ``name`` (the registered name) and name their config model, a
    :class:`ComponentConfig` subclass, as the type argument of their contract::

        class Adam(ElementwiseTeacher[AdamConfig]):
            name = "adam"

    which sets ``config_class`` and types ``self.config`` (``config_class = AdamConfig``
    works too). The first docstring line is the summary shown by ``amalg list``; the rest of
    the docstring gives the math and the paper it comes from.

    Build one from a config instance, from keyword fields, or with defaults::

        Adam(AdamConfig(lr=0.01))
        Adam(lr=0.01)
        Adam()
    """

    kind: ClassVar[str]
    name: ClassVar[str]
    # No default: a component without its own config model is refused at registration.
    config_class: ClassVar[type[ComponentConfig]]

    config: ConfigT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_class" in vars(cls):
            return
        for base in vars(cls).get("__orig_bases__", ()):
            for argument in typing.get_args(base):
                if isinstance(argument, type) and issubclass(argument, ComponentConfig):
                    cls.config_class = argument
                    return

    def __init__(self, config: ConfigT | dict[str, Any] | None = None, /, **fields: Any):
        if config is not None and fields:
            raise TypeError("pass either a config or keyword fields, not both")
        subject = f"{getattr(self, 'kind', 'component')} {getattr(self, 'name', '?')!r}"
        self.config = validate_config(
            self.config_class, fields if config is None else config, subject
        )  # type: ignore[assignment]  # config_class is the ConfigT of the subclass

    @classmethod
    def example_config(cls, folder: Path) -> dict[str, Any]:
        """Config values the contract suites (:mod:`amalg.testing`) build this component
        with: none by default, the defaults being usable. A component that cannot be built
        from its defaults (one that loads a file) writes what it needs into ``folder`` and
        names it here."""
        return {}

    def details(self) -> dict[str, Any]:
        """Facts ``amalg list KIND`` shows beside the summary (none by default)."""
        return {}

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.config)
        return f"{type(self).__name__}({fields})"
