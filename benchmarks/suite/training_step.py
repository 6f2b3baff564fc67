"""(c) The whole training step of a user's model (zero_grad, forward, backward, step) with
``amalg.optim`` against ``torch.optim.Adam`` (foreach, the baseline).

Two models as a user would write them (``nn.Module``, not amalg tasks), at the sizes the
targets name: the train task's CNN (Huang et al. 2022, Table 2a: 18k parameters, 28x28
inputs) and fmnist_mlp's MLP (784-128-128-10, 118k parameters), batch 128 of random inputs.
Every optimizer starts each round from the same fresh model; learned optimizers run with
``warmup=0`` and untrained meta-parameters (the cost of a step does not depend on them).
A rule with a compiled path is timed on it too, "(compiled)"; it compiles in the first,
untimed step of the first round (later rounds' fresh models reuse the compiled kernels).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from suite.timing import Series, alternate, sync
from torch import nn

import amalg
import amalg.optim
from amalg.plugins.tasks import models

BASE = "torch.optim.Adam (foreach)"

MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "train CNN (18k)": (lambda: models.two_layer_cnn(1, 28), (128, 1, 28, 28)),
    "fmnist_mlp MLP (118k)": (lambda: models.mlp(28 * 28, (128, 128), 10, nn.ReLU), (128, 784)),
}


def optimizers() -> dict[str, Callable[[nn.Module], torch.optim.Optimizer]]:
    made: dict[str, Callable[[nn.Module], torch.optim.Optimizer]] = {
        BASE: lambda m: torch.optim.Adam(m.parameters(), 1e-3, foreach=True),
        "torch.optim.Adam (fused)": lambda m: torch.optim.Adam(m.parameters(), 1e-3, fused=True),
        "amalg adam": lambda m: amalg.optim.Teacher("adam", m.parameters(), lr=1e-3),
        "amalg adam (compiled)": lambda m: amalg.optim.Teacher(
            "adam", m.parameters(), lr=1e-3, compile=True
        ),
    }
    for info in amalg.list_components("student"):
        rule = amalg.create("student", info.name)
        made[f"amalg {info.name}"] = lambda m, rule=rule: amalg.optim.RuleOptimizer(
            m.parameters(), rule, warmup=0
        )
        if getattr(info.component, "compiled_path", False):
            made[f"amalg {info.name} (compiled)"] = lambda m, rule=rule: amalg.optim.RuleOptimizer(
                m.parameters(), rule, warmup=0, compile=True
            )
    return made


def _seconds(
    build: Callable[[], nn.Module],
    shape: tuple[int, ...],
    make: Callable[[nn.Module], torch.optim.Optimizer],
    device: str,
    steps: int,
) -> Callable[[], float]:
    def measure() -> float:
        torch.manual_seed(0)
        model = build().to(device)
        optimizer = make(model)
        inputs = torch.randn(shape, device=device)
        targets = torch.randint(0, 10, (shape[0],), device=device)

        def step() -> None:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()

        step()  # states exist before the timing
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        return (time.perf_counter() - started) / steps

    return measure


def run(device: str, rounds: int, quick: bool) -> dict[str, list[Series]]:
    steps = 3 if quick else 20
    tables = {}
    makers = optimizers()
    for model, (build, shape) in MODELS.items():
        candidates = {
            name: _seconds(build, shape, make, device, steps) for name, make in makers.items()
        }
        tables[model] = alternate(candidates, rounds, BASE)
    return tables
