"""(e) Meta-gradient estimators' throughput: truncations per second of ES, PES and the merged
estimator against tbptt (the baseline), each at its default settings.

small_fc_lopt meta-trained on the task without teachers (scheme ``none``, the Metz et al.
setting), truncations of ``length`` steps from the same start every round. One truncation is
one ``estimate`` call: tbptt unrolls once and differentiates; ES and PES unroll each
antithetic pair of particles (2 x ``pairs`` unrolls, no backward); merged does both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from suite.timing import Series, alternate, rate_table

import amalg
from amalg.core.engine import EngineConfig, UnrollEngine
from amalg.core.interfaces import Task

BASE = "tbptt"
ESTIMATORS = ("tbptt", "es", "pes", "merged")


def _truncations(task: Task, name: str, length: int) -> Callable[[], float]:
    student = amalg.create("student", "small_fc_lopt")
    student.to(getattr(task, "device", torch.device("cpu")))
    engine = UnrollEngine(task, student, [], [], amalg.create("scheme", "none"), EngineConfig())
    estimator = amalg.create("estimator", name)
    phi = dict(student.named_parameters())
    start = engine.start(0)

    def measure() -> float:
        generator = torch.Generator().manual_seed(0)
        state = estimator.init(phi, start, generator)
        started = time.perf_counter()
        estimator.estimate(phi, engine.truncation(length, 0.0), state, generator)
        return time.perf_counter() - started

    return measure


def labels() -> dict[str, str]:
    """Each estimator with the settings that set its cost."""
    named = {}
    for name in ESTIMATORS:
        config = amalg.create("estimator", name).config
        pairs = getattr(config, "pairs", None)
        named[name] = name if pairs is None else f"{name} ({pairs} antithetic pairs)"
    return named


def run(task: Task, rounds: int, quick: bool) -> tuple[int, list[Series]]:
    length = 5 if quick else 20
    named = labels()
    candidates = {named[name]: _truncations(task, name, length) for name in ESTIMATORS}
    return length, alternate(candidates, rounds, named[BASE])


def table(series: list[Series]) -> list[str]:
    return rate_table(
        series, ("estimator", "truncations per second", "throughput relative to tbptt")
    )
