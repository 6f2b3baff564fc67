"""The base of every component: a registered name, a one-line summary and a validated config."""

from __future__ import annotations

import inspect
from abc import ABC
from typing import Any, ClassVar

from amalg.core.config import ComponentConfig, validate_config

__all__ = ["Component", "summary_of"]


def summary_of(cls: type) -> str:
    """The first line of a component's docstring: what ``amalg list`` shows."""
    # The class's own docstring: an inherited one would describe the parent, not this class.
    doc = vars(cls).get("__doc__")
    return inspect.cleandoc(doc).splitlines()[0].strip() if doc and doc.strip() else ""


class Component(ABC):
    """A pluggable piece of amalg.

    Subclasses set ``name`` (the registered name) and ``config_class`` (a
    :class:`ComponentConfig` subclass). The first docstring line is the summary shown by
    ``amalg list``; the rest of the docstring gives the math and the paper it comes from.

    Build one from a config instance, from keyword fields, or with defaults::

        Adam(AdamConfig(lr=0.01))
        Adam(lr=0.01)
        Adam()
    """

    kind: ClassVar[str]
    name: ClassVar[str]
    # No default: a component without its own config model is refused at registration.
    config_class: ClassVar[type[ComponentConfig]]

    config: ComponentConfig

    def __init__(self, config: ComponentConfig | dict[str, Any] | None = None, /, **fields: Any):
        if config is not None and fields:
            raise TypeError("pass either a config or keyword fields, not both")
        subject = f"{getattr(self, 'kind', 'component')} {getattr(self, 'name', '?')!r}"
        self.config = validate_config(
            self.config_class, fields if config is None else config, subject
        )

    def details(self) -> dict[str, Any]:
        """Facts ``amalg list KIND`` shows beside the summary (none by default)."""
        return {}

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.config)
        return f"{type(self).__name__}({fields})"
