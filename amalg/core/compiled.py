"""Graph-free fast paths compiled by ``torch.compile``, with the eager path as fallback.

A student's per-coordinate update is some 80 element-wise passes over every tensor when run
eagerly, each its own kernel. Written element-wise for a compiler (no feature matrix, the
network unit by unit), inductor fuses it into a few loops: several times faster on large
tensors (``benchmarks/RESULTS.md``), after seconds of compilation per shape (less when
inductor's on-disk cache has it). That pays over a long training run, not in a short
one, so it is opt-in (:meth:`Student.use_compiler <amalg.core.interfaces.Student.
use_compiler>`, ``amalg.optim.load(..., compile=True)``) and only ever replaces a path that
keeps no autograd graph.

Shapes are static: each tensor shape (and dtype) compiles once and is reused for every later
step, which is what an optimizer stepping the same model sees. Where no compiler works (no
C++ compiler for inductor's CPU code, a Python torch.compile does not support) the first
call warns once and every call after it returns None, and the caller runs its eager path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import torch

from amalg.core.errors import AmalgError

__all__ = [
    "RECOMPILE_LIMIT",
    "Compiled",
    "CompilerUnavailableWarning",
    "NoCompiledPathError",
    "failures",
    "forget",
    "students_with_compiled_path",
]

RECOMPILE_LIMIT = 256
"""Shapes one compiled function may specialise to. torch's default (8) suits a function
called on one shape; an optimizer calls it on every distinct parameter shape of a model."""

Result = TypeVar("Result")


class CompilerUnavailableWarning(UserWarning):
    """torch.compile could not compile a fast path here; the eager path runs instead."""


class NoCompiledPathError(AmalgError):
    """A compiled path was asked of a rule that has none."""

    def __init__(self, name: str, having: list[str]) -> None:
        which = f" (those that do: {', '.join(having)})" if having else ""
        super().__init__(
            f"{name!r} has no compiled path{which}: run it without compile, on its eager path"
        )


def students_with_compiled_path() -> list[str]:
    """The registered students that have a compiled path, by name."""
    from amalg.core.registry import get_registry

    students = get_registry().components("student")
    return sorted(info.name for info in students if getattr(info.component, "compiled_path", False))


_FAILED: dict[int, tuple[str, str]] = {}
"""Every :class:`Compiled` that could not compile, by id: its purpose and why."""


def failures() -> dict[str, str]:
    """Why each compiled path that failed in this process did, by purpose (empty where
    every compilation worked): a check of a compiled path skips rather than compare the
    eager path with itself."""
    return dict(_FAILED.values())


def forget(compiled: Compiled[Any]) -> None:
    """Take ``compiled``'s failure off the record (a test that failed it on purpose)."""
    _FAILED.pop(id(compiled), None)


class Compiled(Generic[Result]):
    """``function`` through ``torch.compile`` (inductor, static shapes, one graph), or None
    where it cannot be compiled.

    Calling it compiles on first use of each shape. A compiler failure (inductor's
    ``BackendCompilerFailed``, or a torch.compile that refuses this Python) is reported once
    as a :class:`CompilerUnavailableWarning` naming ``purpose``, and from then on every call
    returns None at once. Any other error is a bug in ``function`` and propagates.
    """

    def __init__(self, function: Callable[..., Result], purpose: str) -> None:
        self.function = function
        self.purpose = purpose
        self.failure: str | None = None
        self._compiled: Callable[..., Result] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Result | None:
        if self.failure is not None:
            return None
        from torch import _dynamo  # only once something is compiled: a slow import

        if self._compiled is None:
            try:
                self._compiled = torch.compile(self.function, dynamic=False, fullgraph=True)
            except RuntimeError as error:  # torch.compile refuses this Python or platform
                self._fail(error)
                return None
        try:
            with _dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
                return self._compiled(*args, **kwargs)
        except _dynamo.exc.BackendCompilerFailed as error:  # no working compiler
            self._fail(error)
            return None

    def _fail(self, error: Exception) -> None:
        lines = str(error).strip().splitlines()
        # The exception's first line only names the backend; the reason is the next one.
        self.failure = " ".join(lines[:2]) if lines else type(error).__name__
        _FAILED[id(self)] = (self.purpose, self.failure)
        warnings.warn(
            f"torch.compile cannot compile {self.purpose} here ({self.failure}); the eager path "
            "runs instead (same results, slower)",
            CompilerUnavailableWarning,
            stacklevel=3,
        )
