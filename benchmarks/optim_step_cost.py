"""Cost of a whole training step (zero_grad, forward, backward, optimizer step) with each
shipped pretrained optimizer through ``amalg.optim``, as a ratio to ``torch.optim.Adam``
(foreach) on the same model and batch, measured in the same process in alternating rounds.

Two user models, neither an amalg task: a small CNN on 8x8 images (batch 128, the size of the
digits tasks) and an MLP 784-1024-512-10 (about 1.3M parameters, batch 128). amalg's own Adam
(``amalg.optim.Teacher("adam")``) is timed too: it separates the cost of the functional rule
from that of what the learned optimizers compute. The learned optimizers run with
``warmup=0``: the warmup's SGD steps would flatter them.

Usage::

    python benchmarks/optim_step_cost.py [--rounds 5] [--steps 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import amalg.optim


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(128, 10),
    )  # fmt: skip


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 512), nn.ReLU(),
        nn.Linear(512, 10),
    )  # fmt: skip


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "cnn 8x8": (cnn, (128, 1, 8, 8)),
    "mlp 784-1024-512-10": (mlp, (128, 1, 28, 28)),
}


BASE = "torch.optim.Adam (foreach)"


def optimizers() -> dict[str, Callable[[nn.Module], torch.optim.Optimizer]]:
    made: dict[str, Callable[[nn.Module], torch.optim.Optimizer]] = {
        BASE: lambda m: torch.optim.Adam(m.parameters(), 1e-3, foreach=True),
        "amalg adam": lambda m: amalg.optim.Teacher("adam", m.parameters(), lr=1e-3),
    }
    for shipped in amalg.optim.pretrained():
        made[shipped] = lambda m, name=shipped: amalg.optim.load(name, m.parameters(), warmup=0)
    return made


def seconds(build: Callable[[], nn.Module], shape, make, steps: int) -> float:
    torch.manual_seed(0)
    model = build()
    optimizer = make(model)
    inputs, targets = torch.randn(shape), torch.randint(0, 10, (shape[0],))

    def step() -> None:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()

    step()  # states exist before the timing
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    makers = optimizers()
    print(f"{args.rounds} rounds of {args.steps} steps, {args.threads} thread(s), "
          f"{platform.machine()}, torch {torch.__version__}")  # fmt: skip
    print("| model | optimizer | median ms per training step | ratio to torch.optim.Adam |")
    print("| --- | --- | --- | --- |")
    for model, (build, shape) in MODELS.items():
        times: dict[str, list[float]] = {name: [] for name in makers}
        for _ in range(args.rounds):
            for name, make in makers.items():
                times[name].append(seconds(build, shape, make, args.steps))
        base = statistics.median(times[BASE])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"| {model} | {name} | {1000 * median:.2f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
