"""Evaluation suites: named sets of tasks, declared by the tasks themselves.

A task class lists the suites it belongs to (``suites = ("digits",)``), so a plugin's tasks
can form a suite of their own or join one. ``paper`` is the ten optimizees of Huang et al.
2022, Table 1 (their datasets must be prepared); ``digits`` the offline counterparts.
"""

from __future__ import annotations

from collections.abc import Sequence

from amalg.core.errors import AmalgError, close_matches
from amalg.core.registry import Registry, get_registry

__all__ = ["UnknownSuiteError", "expand_tasks", "suites", "tasks_in_suite"]


class UnknownSuiteError(AmalgError):
    """A suite name that no installed task declares."""


def suites(registry: Registry | None = None) -> dict[str, list[str]]:
    """Every suite and its tasks (by name, in registry order)."""
    found: dict[str, list[str]] = {}
    for info in (registry or get_registry()).components("task"):
        for suite in getattr(info.component, "suites", ()):
            found.setdefault(suite, []).append(info.name)
    return found


def tasks_in_suite(name: str, registry: Registry | None = None) -> list[str]:
    """The tasks of suite ``name``; :class:`UnknownSuiteError` with close matches if none."""
    known = suites(registry)
    if name not in known:
        matches = close_matches(name, known)
        hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        raise UnknownSuiteError(
            f"unknown suite {name!r}{hint} (suites: {', '.join(sorted(known)) or 'none'})"
        )
    return known[name]


def expand_tasks(
    tasks: Sequence[str], suite_names: Sequence[str], registry: Registry | None = None
) -> list[str]:
    """``tasks`` followed by the tasks of each suite, each task once, in that order."""
    ordered = list(tasks)
    for suite in suite_names:
        ordered += tasks_in_suite(suite, registry)
    return list(dict.fromkeys(ordered))
