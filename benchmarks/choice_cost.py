"""Time and peak memory of optimal-choice amalgamation against min-max, by pool size.

For each configuration, a fresh process builds the unroll engine on ``--task`` and runs
``--rounds`` meta-training truncations of ``--length`` steps (tbptt: the truncation and its
meta-backward), alternating with plain Adam steps measured in the same process:

- ``minmax-N``: the RNNProp student walking beside N teachers (Huang et al. 2022, eq. 3);
- ``choice-N distillation``: the RNNProp student walking beside the choice policy over a
  pool of N (phase 2 of ``--scheme choice``: one imitation target);
- ``choice-N policy``: the choice network itself meta-trained (phase 1, no teachers).

Time is the median seconds per unrolled step as a ratio to a plain Adam step; peak memory
is the process's peak resident set during the truncations minus its peak before them (the
task, data and components already built), so it is the truncation's own working set.

Usage::

    python benchmarks/choice_cost.py [--task digits_cnn] [--length 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

SMALL = ["adam", "rmsprop"]
LARGE = ["adam", "rmsprop", "sgd", "momentum", "addsign", "powersign"]
CONFIGS = {
    "minmax-2": ("minmax", SMALL),
    "minmax-6": ("minmax", LARGE),
    "choice-2 distillation": ("distill", SMALL),
    "choice-6 distillation": ("distill", LARGE),
    "choice-2 policy": ("policy", SMALL),
    "choice-6 policy": ("policy", LARGE),
}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(name: str, task_name: str, length: int, rounds: int) -> dict[str, float]:
    """One configuration, in this process (run it in a fresh one)."""
    import torch

    import amalg
    from amalg.core.engine import EngineConfig, UnrollEngine

    torch.set_num_threads(1)
    mode, pool = CONFIGS[name]
    task = amalg.create("task", task_name)
    teachers = [amalg.create("teacher", teacher) for teacher in pool]
    choice = amalg.create("student", "choice", pool=[{"name": teacher} for teacher in pool])
    if mode == "minmax":
        student, walked, labels, scheme = (
            amalg.create("student", "rnnprop"),
            teachers,
            pool,
            "minmax",
        )
    elif mode == "distill":
        student, walked, labels, scheme = (
            amalg.create("student", "rnnprop"),
            [choice],
            ["choice"],
            "choice",
        )
    else:
        student, walked, labels, scheme = choice, [], [], "none"
    engine = UnrollEngine(task, student, walked, labels, amalg.create("scheme", scheme),
                          EngineConfig())  # fmt: skip
    estimator = amalg.create("estimator", "tbptt")
    adam = amalg.create("teacher", "adam")
    params = task.init_params(torch.Generator().manual_seed(0))
    adam_state = adam.init(params)

    def adam_steps() -> float:
        nonlocal params, adam_state
        started = time.perf_counter()
        for step in range(length):
            _, grads = task.gradient(params, task.batch_at("train", 0, step))
            delta, adam_state = adam.update(grads, adam_state, params, step)
            params = adam.apply(params, delta)
        return (time.perf_counter() - started) / length

    adam_steps()  # warm the data and the allocator
    phi = dict(student.named_parameters())
    start = engine.start(0)
    before = _peak_mib()
    adam_times, step_times = [], []
    for _ in range(rounds):
        adam_times.append(adam_steps())
        state = estimator.init(phi, start, None)
        started = time.perf_counter()
        estimate = estimator.estimate(phi, engine.truncation(length, 0.1), state, None)
        step_times.append((time.perf_counter() - started) / length)
        assert all(torch.isfinite(g).all() for g in estimate.grads.values())
        start = estimate.state["unroll"]
    return {
        "ms_per_step": 1000 * statistics.median(step_times),
        "ratio_to_adam": statistics.median(step_times) / statistics.median(adam_times),
        "peak_mib": _peak_mib() - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits_cnn")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.task, args.length, args.rounds)))
        return
    machine = platform.processor() or platform.machine()
    print(f"task {args.task}, truncations of {args.length} steps, {args.rounds} rounds, "
          f"one thread, {machine}, python {platform.python_version()}")  # fmt: skip
    print("| configuration | ms per step | ratio to Adam | truncation peak MiB |")
    print("| --- | --- | --- | --- |")
    for name in CONFIGS:
        output = subprocess.run(
            [sys.executable, __file__, "--one", name, "--task", args.task,
             "--length", str(args.length), "--rounds", str(args.rounds)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        result = json.loads(output.strip().splitlines()[-1])
        print(f"| {name} | {result['ms_per_step']:.1f} | {result['ratio_to_adam']:.1f} | "
              f"{result['peak_mib']:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
