"""(a) One unrolled step of amalgamation against one plain Adam training step.

- Baseline: a task gradient (forward and backward of the task's loss) and a
  ``torch.optim.Adam`` (foreach) step of its parameters.
- min-max: one step of a meta-training truncation (tbptt) of RNNProp beside Adam and RMSProp
  (three forward/backward passes, the student's LSTM), plus the step's share of the
  truncation's meta-backward: (time of one truncation) / its length.
- optimal choice, both phases over the same two teachers: the choice network meta-trained
  (phase 1) and RNNProp distilling it (phase 2).

Every round runs the same truncation from the same start, so rounds differ only by the
machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from suite.timing import Series, alternate, sync

import amalg
from amalg.core.engine import EngineConfig, UnrollEngine
from amalg.core.interfaces import Student, Task

BASE = "plain Adam training step"
POOL = ("adam", "rmsprop")


def _adam(task: Task, steps: int) -> Callable[[], float]:
    params = task.init_params(torch.Generator().manual_seed(0))
    leaves = {key: value.requires_grad_() for key, value in params.items()}
    optimizer = torch.optim.Adam(leaves.values(), 1e-3, foreach=True)
    batches = [task.batch_at("train", 0, index) for index in range(steps)]

    def measure() -> float:
        _sync(task)
        started = time.perf_counter()
        for batch in batches:
            optimizer.zero_grad()
            task.loss(leaves, batch).backward()
            optimizer.step()
        _sync(task)
        return (time.perf_counter() - started) / steps

    return measure


def _sync(task: Task) -> None:
    sync(getattr(task, "device", "cpu"))


def _student(name: str, task: Task, **config: object) -> Student:
    """A fresh student on the task's device."""
    student = amalg.create("student", name, **config)
    return student.to(getattr(task, "device", torch.device("cpu")))


def _truncation(
    task: Task, mode: str, length: int, second_order: bool = False
) -> Callable[[], float]:
    teachers = [amalg.create("teacher", name) for name in POOL]
    if mode == "minmax":
        student, walked, labels, scheme = (
            _student("rnnprop", task),
            teachers,
            POOL,
            "minmax",
        )
    else:
        choice = _student("choice", task, pool=[{"name": name} for name in POOL])
        if mode == "choice policy":
            student, walked, labels, scheme = choice, [], (), "none"
        else:
            student, walked, labels, scheme = (
                _student("rnnprop", task), [choice], ("choice",), "choice"
            )  # fmt: skip
    engine = UnrollEngine(
        task, student, walked, list(labels), amalg.create("scheme", scheme),
        EngineConfig(second_order=second_order),
    )  # fmt: skip
    estimator = amalg.create("estimator", "tbptt")
    phi = dict(student.named_parameters())
    start = engine.start(0)

    def measure() -> float:
        state = estimator.init(phi, start, torch.Generator().manual_seed(0))
        _sync(task)
        started = time.perf_counter()
        estimate = estimator.estimate(phi, engine.truncation(length, 0.2), state, None)
        _sync(task)
        elapsed = time.perf_counter() - started
        if not all(torch.isfinite(g).all() for g in estimate.grads.values()):
            raise RuntimeError(f"{mode}: a non-finite meta-gradient; the timing would be moot")
        return elapsed / length

    return measure


def run(tasks: dict[str, Task], rounds: int, quick: bool) -> dict[str, list[Series]]:
    length = 10 if quick else 50
    tables = {}
    for name, task in tasks.items():
        _adam(task, 5)()  # the data and the allocator warmed
        candidates = {
            BASE: _adam(task, length),
            "min-max, 2 teachers (first-order, default)": _truncation(task, "minmax", length),
            "min-max, 2 teachers (second_order=true)": _truncation(
                task, "minmax", length, second_order=True
            ),
            "optimal choice phase 1: the choice network, 2 teachers": _truncation(
                task, "choice policy", length
            ),
            "optimal choice phase 2: RNNProp distilling it": _truncation(
                task, "choice distill", length
            ),
        }
        tables[f"{name}, truncations of {length} steps"] = alternate(candidates, rounds, BASE)
    return tables
