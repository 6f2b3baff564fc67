"""Cost of one learned-optimizer update on 1M parameters, as a ratio to ``torch.optim.Adam``
(foreach) on the same parameters, measured in the same process in alternating rounds.

The learned optimizers apply their update functionally (``student.update`` under
``torch.no_grad()``, then ``params - delta``); Adam steps in place. Parameters: a 1000x1000
matrix (Adafactor factors it), a 1000 bias and a 3x3x32x32 kernel, about 1.01M in all.

Usage::

    python benchmarks/lopt_step_cost.py [--rounds 7] [--steps 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import amalg

STUDENTS = ("small_fc_lopt", "mlp_lopt", "nn_adam", "rnnprop")


def parameters(generator: torch.Generator) -> dict[str, torch.Tensor]:
    shapes = {"weight": (1000, 1000), "bias": (1000,), "kernel": (32, 32, 3, 3)}
    return {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}


def adam_seconds(
    params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], steps: int
) -> float:
    tensors = [torch.nn.Parameter(value.clone()) for value in params.values()]
    optimizer = torch.optim.Adam(tensors, lr=1e-3, foreach=True)
    for tensor, grad in zip(tensors, grads.values(), strict=True):
        tensor.grad = grad.clone()
    optimizer.step()  # its state exists before the timing
    started = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - started) / steps


def student_seconds(name: str, params, grads, steps: int) -> float:
    student = amalg.create("student", name)
    with torch.no_grad():
        state = student.init(params)
        delta, state = student.update(grads, state, params, 0)
        started = time.perf_counter()
        for step in range(1, steps + 1):
            delta, state = student.update(grads, state, params, step)
            params = {key: value - delta[key] for key, value in params.items()}
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    params, grads = parameters(generator), parameters(generator)
    count = sum(value.numel() for value in params.values())
    times: dict[str, list[float]] = {"adam": [], **{name: [] for name in STUDENTS}}
    for _ in range(args.rounds):
        times["adam"].append(adam_seconds(params, grads, args.steps))
        for name in STUDENTS:
            times[name].append(student_seconds(name, params, grads, args.steps))
    base = statistics.median(times["adam"])
    print(f"{count:,} parameters, {args.rounds} rounds of {args.steps} steps, "
          f"{args.threads} thread(s), {platform.machine()}, torch {torch.__version__}")  # fmt: skip
    print("| optimizer | median ms per update | ratio to Adam (foreach) |")
    print("| --- | --- | --- |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {1000 * median:.1f} | {median / base:.1f} |")


if __name__ == "__main__":
    main()
