"""What the measurement scripts share: ``amalg`` commands in subprocesses, the header that
says where the numbers come from, replicated runs trained side by side, and the evaluation
and report of their students. A rerun skips what is done (finished runs are kept by their
folders, tunings and finished evaluation repeats are stored)."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def arguments(description: str) -> argparse.Namespace:
    """The options every campaign takes: its folder, replicates, evaluation size and jobs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", type=Path, default=Path("results") / "honest")
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=1, help="Runs meta-trained at once.")
    args = parser.parse_args()
    args.work = args.work.resolve()
    return args


def amalg(*args: str, log: Path | None = None, threads: int | None = None) -> None:
    """Run ``amalg ARGS`` (its output into ``log`` when given, with ``threads`` intra-op
    threads when given); stop on a failure."""
    command = [sys.executable, "-m", "amalg", *args]
    print("$ amalg " + " ".join(args), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        result = subprocess.run(
            command, stdout=sink if log else None, stderr=subprocess.STDOUT if log else None,
            env=env,
        )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"amalg {' '.join(args)} failed with exit code {result.returncode}")


def start(work: Path) -> float:
    """Prepare ``work`` (its own tuning store) and print the commit, machine and date."""
    work.mkdir(parents=True, exist_ok=True)
    os.environ["AMALG_TUNING_DIR"] = str(work / "tuning")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
        cwd=Path(__file__).parent,
    ).stdout.strip()  # fmt: skip
    print(
        f"commit {commit or '?'}, {platform.machine()} {os.cpu_count()} cores, "
        f"python {platform.python_version()}, {datetime.date.today()}",
        flush=True,
    )
    return time.perf_counter()


def train_replicates(
    configurations: dict[str, list[str]], replicates: int, work: Path, jobs: int
) -> list[Path]:
    """``amalg run`` of every configuration (its flags) at seeds 0..replicates-1 into
    ``work/runs/NAME-seedS``, ``jobs`` at once, in the order given; the run folders.

    Runs side by side share the cores: each gets its part of them as its thread count, since
    torch's default (every core, per process) makes runs side by side spin against each other
    (two runs at once on 2 cores measured 10x slower per run than one alone)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    runs = [
        (flags, seed, work / "runs" / f"{name}-seed{seed}")
        for name, flags in configurations.items()
        for seed in range(replicates)
    ]

    def train(item: tuple[list[str], int, Path]) -> None:
        flags, seed, folder = item
        folder.parent.mkdir(parents=True, exist_ok=True)
        resume = ["--resume"] if (folder / "config.json").exists() else []
        amalg("run", *flags, "--seed", str(seed), "--out", str(folder), *resume,
              log=folder.parent / f"{folder.name}.log", threads=threads)  # fmt: skip

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(train, runs))
    return [folder for _, _, folder in runs]


def evaluate(sources: list[str], work: Path, where: list[str], repeats: int, steps: int) -> None:
    """``amalg evaluate`` every source on ``where`` (``--task``/``--suite`` options) into
    ``work/evaluations``."""
    amalg("evaluate", *sources, *where, "--repeats", str(repeats), "--steps", str(steps),
          "--out", str(work / "evaluations"), log=work / "evaluate.log")  # fmt: skip


def report(
    sources: list[str], work: Path, name: str = "report", where: tuple[str, ...] = ()
) -> None:
    """``amalg report`` of ``sources`` from ``work/evaluations`` (on the tasks ``where``
    names, ``--task``/``--suite`` options; all by default) into ``work/NAME``: the JSON, the
    figures, and the tables printed."""
    store, out = str(work / "evaluations"), str(work / name)
    amalg("report", *sources, *where, "--evaluations", store, "--out", out, "--json",
          log=work / f"{name}.json.log")  # fmt: skip
    amalg("report", *sources, *where, "--evaluations", store, "--out", out)


def durations(started: float, trained: float) -> None:
    """Print how long meta-training and the evaluation and reports after it took."""
    now = time.perf_counter()
    print(
        f"meta-training {trained - started:.0f} s, evaluation and reports {now - trained:.0f} s, "
        f"total {now - started:.0f} s",
        flush=True,
    )
