"""(d) Peak memory of meta-training against truncation length, unroll length and pool size.

Each configuration runs in a fresh process (``bench.py --probe-memory``): the run is built
as ``amalg run`` builds it (RNNProp, min-max, the ``repeat`` strategy, tbptt), one
trajectory of ``unroll`` steps is meta-trained in truncations of ``truncation`` steps, and
the process reports its peak memory during the trajectory above what it held before it
(task, data and components built, one step warmed): the meta-training's own working set.
On CPU that is the peak resident set (its high-water mark reset before the trajectory); on
CUDA, ``torch.cuda.max_memory_allocated``. Beside
it stands what ``core/training/budget.py`` predicts before any work, the figure a run is
refused by: it must not overstate (a run that fits would be refused) and should not
understate by much (a run that does not fit would start).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

SWEEPS: dict[str, list[dict[str, Any]]] = {
    "truncation length (unroll 40, 2 teachers)": [
        {"truncation": t, "unroll": 40, "pool": 2} for t in (5, 10, 20, 40)
    ],
    "unroll length (truncation 10, 2 teachers)": [
        {"truncation": 10, "unroll": u, "pool": 2} for u in (10, 40, 160)
    ],
    "pool size (truncation 20, unroll 20)": [
        {"truncation": 20, "unroll": 20, "pool": p} for p in (1, 2, 4, 7)
    ],
}
POOL = ("adam", "rmsprop", "sgd", "momentum", "addsign", "powersign", "nadamw")


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MiB."""
    match = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}: peak memory needs Linux")
    return int(match.group(1)) / 1024


def _reset_peak() -> None:
    """Start the peak resident set (VmHWM) afresh from the current one (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def probe(task: str, device: str, truncation: int, unroll: int, pool: int) -> dict[str, float]:
    """One configuration, measured in this process (run it in a fresh one)."""
    import torch

    from amalg.core.training.budget import run_allocations
    from amalg.core.training.build import build_run
    from amalg.core.training.trainer import build_engine

    values = {
        "name": "memory-probe",
        "task": {"name": task},
        "student": {"name": "rnnprop"},
        "scheme": {"name": "minmax"},
        "teachers": [{"name": name} for name in POOL[:pool]],
        "strategy": {"name": "repeat", "config": {"truncation": truncation, "unrolls": [unroll]}},
        "estimator": {"name": "tbptt"},
    }
    config, components = build_run(values, device=device)
    predicted = sum(a.bytes for a in run_allocations(config, components)[:2]) / 2**20
    engine = build_engine(config, components)
    estimator = components.estimator
    phi = dict(components.student.named_parameters())
    start = engine.start(0)
    state = estimator.init(phi, start, torch.Generator().manual_seed(0))
    estimator.estimate(phi, engine.truncation(1, 0.1), state, torch.Generator().manual_seed(0))
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    else:
        _reset_peak()
        before = _status_mib("VmRSS")
    state = estimator.init(phi, start, torch.Generator().manual_seed(0))
    for index in range(unroll // truncation):
        estimate = estimator.estimate(
            phi, engine.truncation(truncation, 0.1), state, torch.Generator().manual_seed(index)
        )
        state = estimate.state
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _status_mib("VmHWM")
    return {"measured_mib": peak - before, "predicted_mib": predicted}


def run(task: str, device: str) -> dict[str, list[tuple[dict[str, Any], dict[str, float]]]]:
    tables = {}
    for sweep, configs in SWEEPS.items():
        rows = []
        for config in configs:
            output = subprocess.run(
                [sys.executable, sys.argv[0], "--probe-memory", json.dumps(
                    {"task": task, "device": device, **config}
                )],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            rows.append((config, json.loads(output.strip().splitlines()[-1])))
        tables[sweep] = rows
    return tables


def table(rows: list[tuple[dict[str, Any], dict[str, float]]]) -> list[str]:
    lines = [
        "| truncation | unroll | teachers | measured peak MiB | budget's prediction MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for config, result in rows:
        lines.append(
            f"| {config['truncation']} | {config['unroll']} | {config['pool']} | "
            f"{result['measured_mib']:.1f} | {result['predicted_mib']:.1f} |"
        )
    return lines
