"""Teacher pools: the named sets of teachers of Huang et al. 2022, Section 5 ("Optimizer
Pool") and Appendix C.2, for ``amalg run --pool``."""

from __future__ import annotations

from amalg.core.errors import AmalgError, close_matches

__all__ = ["POOLS", "UnknownPoolError", "pool_teachers"]

POOLS: dict[str, tuple[str, ...]] = {
    "small": ("adam", "rmsprop"),
    "large": ("adam", "rmsprop", "sgd", "momentum", "addsign", "powersign"),
}


class UnknownPoolError(AmalgError):
    """A pool name that is not one of :data:`POOLS`."""


def pool_teachers(name: str) -> list[str]:
    """The teachers of pool ``name``; :class:`UnknownPoolError` with close matches if none."""
    if name not in POOLS:
        matches = close_matches(name, POOLS)
        hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        raise UnknownPoolError(f"unknown pool {name!r}{hint} (pools: {', '.join(POOLS)})")
    return list(POOLS[name])
