"""The built-in amalgamation schemes, registered as the ``amalg.schemes`` plugin."""

from __future__ import annotations

from amalg.core.hookspecs import Register, hookimpl
from amalg.core.interfaces import AmalgamationScheme
from amalg.plugins.schemes.choice import OptimalChoice
from amalg.plugins.schemes.imitation import Imitation
from amalg.plugins.schemes.mean import Mean
from amalg.plugins.schemes.minmax import MinMax
from amalg.plugins.schemes.none import NoImitation

SCHEMES: tuple[type[AmalgamationScheme], ...] = (
    NoImitation,
    Imitation,
    Mean,
    MinMax,
    OptimalChoice,
)


@hookimpl
def register_schemes(register: Register[AmalgamationScheme]) -> None:
    for scheme in SCHEMES:
        register(scheme)
