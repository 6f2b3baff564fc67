"""The built-in meta-gradient estimators, registered as the ``amalg.estimators`` plugin."""

from __future__ import annotations

from amalg.core.hookspecs import Register, hookimpl
from amalg.core.interfaces import MetaGradientEstimator
from amalg.plugins.estimators.es import EvolutionStrategies
from amalg.plugins.estimators.merged import Merged
from amalg.plugins.estimators.pes import PersistentES
from amalg.plugins.estimators.tbptt import TruncatedBackprop

ESTIMATORS: tuple[type[MetaGradientEstimator], ...] = (
    TruncatedBackprop,
    EvolutionStrategies,
    PersistentES,
    Merged,
)


@hookimpl
def register_estimators(register: Register[MetaGradientEstimator]) -> None:
    for estimator in ESTIMATORS:
        register(estimator)
