"""Cost of one unrolled step of min-max amalgamation, as a ratio to one plain Adam step.

Both are measured in the same process on the same task, alternating rounds so that machine
noise hits both alike; the medians of the rounds are compared.

- Adam step: a task gradient (forward + backward) and an Adam update.
- Amalgamation step: one step of a truncation of the unroll engine with the student and two
  teachers (three forward/backward passes, the student's LSTM), plus the step's share of
  the truncation's meta-backward (tbptt), i.e. (time of one truncation) / its length.

Usage::

    python benchmarks/amalgamation_step.py [--task digits_cnn] [--rounds 5] [--length 100]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import amalg
from amalg.core.engine import EngineConfig, UnrollEngine


def adam_step_seconds(task, steps: int) -> float:
    adam = amalg.create("teacher", "adam")
    params = task.init_params(torch.Generator().manual_seed(0))
    state = adam.init(params)
    started = time.perf_counter()
    for step in range(steps):
        _, grads = task.gradient(params, task.batch_at("train", 0, step))
        delta, state = adam.update(grads, state, params, step)
        params = adam.apply(params, delta)
    return (time.perf_counter() - started) / steps


def amalgamation_step_seconds(task, length: int, second_order: bool) -> float:
    student = amalg.create("student", "rnnprop")
    teachers = [amalg.create("teacher", "adam"), amalg.create("teacher", "rmsprop")]
    engine = UnrollEngine(
        task,
        student,
        teachers,
        ["adam", "rmsprop"],
        amalg.create("scheme", "minmax"),
        EngineConfig(second_order=second_order),
    )
    estimator = amalg.create("estimator", "tbptt")
    start = engine.start(0)
    phi = dict(student.named_parameters())
    state = estimator.init(phi, start, None)
    started = time.perf_counter()
    estimate = estimator.estimate(phi, engine.truncation(length, 0.2), state, None)
    elapsed = time.perf_counter() - started
    assert all(torch.isfinite(g).all() for g in estimate.grads.values())
    return elapsed / length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits_cnn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--length", type=int, default=100)
    args = parser.parse_args()

    task = amalg.create("task", args.task)
    adam_step_seconds(task, 20)  # warm caches and the data
    adam, first, second = [], [], []
    for _ in range(args.rounds):
        adam.append(adam_step_seconds(task, args.length))
        first.append(amalgamation_step_seconds(task, args.length, second_order=False))
        second.append(amalgamation_step_seconds(task, args.length, second_order=True))
    base = statistics.median(adam)
    machine = platform.processor() or platform.machine()
    print(
        f"task {args.task}, truncation {args.length} steps, {args.rounds} rounds, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {machine}"
    )
    print("| step | median ms | ratio to Adam |")
    print("| --- | --- | --- |")
    print(f"| plain Adam training step | {base * 1e3:.2f} | 1.0 |")
    for label, values in (
        ("min-max amalgamation step (first-order, default)", first),
        ("min-max amalgamation step (second_order=true)", second),
    ):
        median = statistics.median(values)
        print(f"| {label} | {median * 1e3:.2f} | {median / base:.1f} |")


if __name__ == "__main__":
    main()
