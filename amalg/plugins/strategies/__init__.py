"""The built-in meta-training strategies, registered as the ``amalg.strategies`` plugin."""

from __future__ import annotations

from amalg.core.hookspecs import Register, hookimpl
from amalg.core.interfaces import Strategy
from amalg.plugins.strategies.curriculum import Curriculum
from amalg.plugins.strategies.repeat import Repeat

STRATEGIES: tuple[type[Strategy], ...] = (Curriculum, Repeat)


@hookimpl
def register_strategies(register: Register[Strategy]) -> None:
    for strategy in STRATEGIES:
        register(strategy)
