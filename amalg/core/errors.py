"""Typed errors. Core code raises these; the CLI turns each into one line on stderr.

Every message is a single line that says what was wrong and what to do about it, so the
CLI can print ``str(error)`` as it is.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "AmalgError",
    "ConfigError",
    "DuplicateComponentError",
    "InvalidComponentError",
    "PluginError",
    "SettingError",
    "UnknownComponentError",
    "UnknownKindError",
    "close_matches",
]


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates that look most like ``word`` (for "did you mean" hints)."""
    return difflib.get_close_matches(word, sorted(set(candidates)), n=n, cutoff=0.5)


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    matches = close_matches(word, candidates)
    return f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


class AmalgError(Exception):
    """Base of every error that amalg reports to a user rather than crashing on.

    ``exit_code`` is what the CLI exits with when it reports the error.
    """

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        # One line, always: the CLI prints the message as it is.
        super().__init__(" ".join(message.split()))


class UnknownKindError(AmalgError):
    """A component kind that does not exist (kinds: teacher, student, ...)."""

    def __init__(self, kind: str, kinds: Sequence[str]) -> None:
        self.kind = kind
        super().__init__(
            f"unknown component kind {kind!r}{_did_you_mean(kind, kinds)} "
            f"(kinds: {', '.join(kinds)})"
        )


class UnknownComponentError(AmalgError):
    """A component name that no loaded plugin registered for that kind."""

    def __init__(
        self,
        kind: str,
        name: str,
        known: Sequence[str],
        troubled: Sequence[str] = (),
        disabled: Sequence[str] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        hint = _did_you_mean(name, known)
        if not hint:
            hint = f"; known: {', '.join(sorted(known))}" if known else "; none is installed"
        notes = []
        if troubled:
            notes.append(f"plugins with problems: {', '.join(troubled)} (`amalg list` shows why)")
        if disabled:
            notes.append(f"disabled by AMALG_DISABLE_PLUGINS: {', '.join(disabled)}")
        extra = f" ({'; '.join(notes)})" if notes else ""
        super().__init__(f"unknown {kind} {name!r}{hint}{extra}")


class ConfigError(AmalgError):
    """A configuration value was rejected. ``problems`` holds (field, message) pairs."""

    def __init__(self, subject: str, problems: Sequence[tuple[str, str]]) -> None:
        self.subject = subject
        self.problems = list(problems)
        details = "; ".join(f"{field}: {message}" for field, message in self.problems)
        super().__init__(f"invalid config for {subject}: {details}")


class SettingError(AmalgError):
    """A setting of the environment (a data folder, a variable) is unusable: whatever needs it
    stops with this error rather than reporting around it."""


class PluginError(AmalgError):
    """A plugin could not be loaded or used."""


class InvalidComponentError(PluginError):
    """A plugin tried to register something that is not a valid component."""


class DuplicateComponentError(PluginError):
    """Two plugins registered the same component name for the same kind."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind = kind
        self.name = name
        self.plugins = (first, second)
        super().__init__(
            f"{kind} {name!r} is registered by two plugins, {first} and {second}; the "
            "second is refused: uninstall one, or skip one with AMALG_DISABLE_PLUGINS=<plugin name>"
        )
