"""(b) The optimizer step on about 1M parameters: every teacher and every student through
``amalg.optim`` against ``torch.optim.Adam`` (foreach, the baseline, and fused).

Parameters: a 1000x1000 matrix (factored by Adafactor-style features), a 1000 bias and a
3x3x32x32 kernel, 1.01M in all, with fixed gradients. Only ``optimizer.step()`` is timed;
learned optimizers run with ``warmup=0`` (the warmup's SGD steps would flatter them).

RNNProp's compute floor is timed too: its two LSTM layers' and its dense layer's matrix
products over the same coordinates and nothing else (about 10k flop per parameter), the
least any implementation of the rule must compute.

A rule with a compiled path (``compile=True``, :mod:`amalg.core.compiled`: every element-wise
teacher, small_fc_lopt) is timed on it too, "(compiled)"; its first step, which compiles the
kernels, is not timed with the others but reported on its own. small_fc_lopt's compiled step
allocates scratch buffers the size of the matrix at every step, and its time depends on
whether glibc's allocator keeps them: ``benchmarks/allocator.py`` measures it in fresh
processes, with glibc's defaults and with its thresholds raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from suite.timing import Series, alternate, sync

import amalg
import amalg.optim

SHAPES = {"weight": (1000, 1000), "bias": (1000,), "kernel": (32, 32, 3, 3)}
BASE = "torch.optim.Adam (foreach)"
FLOOR = "rnnprop compute floor"


Shapes = dict[str, tuple[int, ...]]


def _tensors(device: str, shapes: Shapes) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=generator) for shape in shapes.values()]
    grads = [torch.randn(shape, generator=generator) for shape in shapes.values()]
    return [p.to(device) for p in params], [g.to(device) for g in grads]


def stepper(
    make: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    device: str,
    steps: int,
    shapes: Shapes = SHAPES,
    first: list[float] | None = None,
) -> Callable[[], float]:
    """Seconds per ``step()`` of the optimizer ``make`` builds on parameters of ``shapes``
    with fixed gradients (built on first use; the seconds of that untimed first step, which
    compiles a compiled path, are appended to ``first``)."""
    built: list[torch.optim.Optimizer] = []

    def measure() -> float:
        if not built:
            params, grads = _tensors(device, shapes)
            leaves = [torch.nn.Parameter(p) for p in params]
            for leaf, grad in zip(leaves, grads, strict=True):
                leaf.grad = grad
            built.append(make(leaves))
            started = time.perf_counter()
            built[0].step()  # states exist (and compiled code) before the timing
            sync(device)
            if first is not None:
                first.append(time.perf_counter() - started)
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            built[0].step()
        sync(device)
        return (time.perf_counter() - started) / steps

    return measure


def _floor(device: str, steps: int) -> Callable[[], float]:
    student = amalg.create("student", "rnnprop")
    hidden, layers = student.config.hidden, student.config.layers
    coordinates = sum(torch.Size(shape).numel() for shape in SHAPES.values())
    generator = torch.Generator().manual_seed(1)
    inputs = [torch.randn(coordinates, 2 + hidden, generator=generator)]
    inputs += [torch.randn(coordinates, 2 * hidden, generator=generator)] * (layers - 1)
    weights = [torch.randn(x.shape[1], 4 * hidden, generator=generator) for x in inputs]
    dense = torch.randn(hidden, 1, generator=generator)
    hidden_state = torch.randn(coordinates, hidden, generator=generator)
    inputs, weights = [x.to(device) for x in inputs], [w.to(device) for w in weights]
    dense, hidden_state = dense.to(device), hidden_state.to(device)

    def measure() -> float:
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            for x, w in zip(inputs, weights, strict=True):
                x @ w
            hidden_state @ dense
        sync(device)
        return (time.perf_counter() - started) / steps

    return measure


def run(device: str, rounds: int, quick: bool) -> dict[str, list[Series]]:
    steps, slow_steps = (3, 1) if quick else (20, 2)
    candidates: dict[str, Callable[[], float]] = {
        BASE: stepper(lambda p: torch.optim.Adam(p, 1e-3, foreach=True), device, steps),
        "torch.optim.Adam (fused)": stepper(
            lambda p: torch.optim.Adam(p, 1e-3, fused=True), device, steps
        ),
    }
    firsts: dict[str, list[float]] = {}

    def add(label: str, make: Callable[..., torch.optim.Optimizer], compiled: bool, n: int) -> None:
        candidates[label] = stepper(make, device, n)
        if compiled:
            firsts[f"{label} (compiled)"] = []
            candidates[f"{label} (compiled)"] = stepper(
                lambda p: make(p, compile=True), device, n, first=firsts[f"{label} (compiled)"]
            )

    for info in amalg.list_components("teacher"):
        if info.name == "trained":  # a saved optimizer: timed as the student it wraps
            continue
        add(
            f"teacher {info.name}",
            lambda p, name=info.name, **kw: amalg.optim.Teacher(name, p, **kw),
            getattr(info.component, "compiled_path", False),
            steps,
        )
    for info in amalg.list_components("student"):
        rule = amalg.create("student", info.name)
        add(
            f"student {info.name}",
            lambda p, rule=rule, **kw: amalg.optim.RuleOptimizer(p, rule, warmup=0, **kw),
            getattr(info.component, "compiled_path", False),
            slow_steps,
        )
    candidates[FLOOR] = _floor(device, slow_steps)
    series = alternate(candidates, rounds, BASE)
    eager = {item.label: item for item in series}
    floor = next(item for item in series if item.label == FLOOR)
    rnnprop = next(item for item in series if item.label == "student rnnprop")
    return {
        "steps": series,
        "floor": [
            Series("rnnprop step / its compute floor", rnnprop.values, floor.values),
        ],
        # The first step compiles: its seconds, against one step of the eager path.
        "first": [
            Series(label, values, eager[label.removesuffix(" (compiled)")].values[:1])
            for label, values in firsts.items()
        ],
    }
