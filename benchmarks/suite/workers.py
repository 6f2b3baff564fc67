"""(f) Meta-training spread over worker processes: per-worker throughput with W workers
against one worker.

The same run (digits_cnn, RNNProp, min-max over Adam and RMSProp, tbptt, 4 trajectories
per period in meta-steps of ``meta_optimizer.batch`` = 4, validation included) is trained
by ``amalg run --workers W`` in a fresh folder, each worker with ``cores / max(W)`` threads
(so one worker gets what each of the W gets). Throughput is trajectories per second of a
period's wall time (``timing.csv``), the median over the periods after the first; per
worker, divided by W. The target is at least 80% of one worker's.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from suite.timing import Series, alternate, rate_table

from amalg.core.training.launch import usable_cores

TRAJECTORIES = 4
SETTINGS = [
    "--task", "digits_cnn", "--student", "rnnprop", "--scheme", "minmax",
    "--teacher", "adam", "--teacher", "rmsprop", "--strategy", "repeat", "--no-tune",
    "--set", f"meta_optimizer.batch={TRAJECTORIES}",
    "--set", "strategy.repeat.periods=4", "--set", "strategy.repeat.unrolls=[40]",
    "--set", "strategy.repeat.truncation=20",
    "--set", f"strategy.repeat.trajectories={TRAJECTORIES}",
    "--set", "strategy.repeat.validation_unroll=20",
    "--set", "strategy.repeat.validation_trajectories=4",
    "--set", "evaluation.horizon=5", "--set", "evaluation.seeds=1",
]  # fmt: skip


def _per_worker(workers: int, threads: int) -> Callable[[], float]:
    """Seconds per trajectory per worker (lower is better) of one fresh run."""

    def measure() -> float:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "run"
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            env.pop("WORLD_SIZE", None)
            command = [sys.executable, "-m", "amalg", "run", *SETTINGS, "--out", str(out),
                       "--workers", str(workers)]  # fmt: skip
            subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            with (out / "timing.csv").open() as file:
                seconds = [float(row["seconds"]) for row in csv.DictReader(file)]
        period = statistics.median(seconds[1:])
        # Trajectories per second per worker is TRAJECTORIES / period / workers: its inverse.
        return period * workers / TRAJECTORIES

    return measure


def run(counts: list[int], rounds: int) -> tuple[int, list[Series]]:
    threads = max(1, usable_cores() // max(counts))
    candidates = {f"{count} worker(s)": _per_worker(count, threads) for count in counts}
    return threads, alternate(candidates, rounds, f"{counts[0]} worker(s)")


def table(series: list[Series]) -> list[str]:
    return rate_table(series, ("workers", "trajectories per second per worker", "of one worker's"))
