"""The honest comparison of "Honest comparisons": students against tuned teachers and the
oracle, over replicates, on the offline digits suite, with mixed-model intervals.

1. Meta-trains ``--replicates`` students per scheme (seeds 0, 1, ...) on ``digits_cnn`` with
   ``amalg run``: min-max amalgamation of Adam and RMSProp at their tuned learning rates, and
   the plain RNNProp baseline (scheme ``none``).
2. Evaluates every student and the two tuned teachers on every task of the ``digits`` suite
   with ``amalg evaluate`` (the teachers tuned per task; ``--repeats`` evaluations of
   ``--steps`` steps each, the same warm starts and batches for all).
3. Reports with ``amalg report`` (tables, mixed-model intervals relative to each task's
   oracle, the figures) into ``WORK/report``.

Every step is an ``amalg`` command; a rerun skips what is done (runs, tunings and finished
evaluation repeats are stored). Usage::

    python benchmarks/honest_comparison.py --work results/honest [--replicates 4]
        [--repeats 5] [--steps 500] [--jobs 1]
"""

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

SCHEMES = {
    "minmax": ["--teacher", "adam", "--teacher", "rmsprop", "--scheme", "minmax"],
    "none": ["--scheme", "none"],
}


def amalg(*args: str, log: Path | None = None) -> None:
    command = [sys.executable, "-m", "amalg", *args]
    print("$ amalg " + " ".join(args), flush=True)
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        result = subprocess.run(
            command, stdout=sink if log else None, stderr=subprocess.STDOUT if log else None
        )
    if result.returncode != 0:
        raise SystemExit(f"amalg {' '.join(args)} failed with exit code {result.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("results") / "honest")
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=1, help="Runs meta-trained at once.")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["AMALG_TUNING_DIR"] = str(work / "tuning")
    started = time.perf_counter()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
        cwd=Path(__file__).parent,
    ).stdout.strip()  # fmt: skip
    print(
        f"commit {commit or '?'}, {platform.machine()} {os.cpu_count()} cores, "
        f"python {platform.python_version()}, {datetime.date.today()}",
        flush=True,
    )
    runs = [
        (scheme, seed, work / "runs" / f"{scheme}-seed{seed}")
        for scheme in SCHEMES
        for seed in range(args.replicates)
    ]
    # The teachers are tuned once, before runs start side by side.
    amalg("tune", "--teacher", "adam", "--teacher", "rmsprop", "--task", "digits_cnn")

    def train(item: tuple[str, int, Path]) -> None:
        scheme, seed, folder = item
        folder.parent.mkdir(parents=True, exist_ok=True)
        resume = ["--resume"] if (folder / "config.json").exists() else []
        amalg("run", *SCHEMES[scheme], "--seed", str(seed), "--out", str(folder), *resume,
              log=folder.parent / f"{folder.name}.log")  # fmt: skip

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(train, runs))
    trained = time.perf_counter()
    sources = [str(folder) for _, _, folder in runs] + ["adam", "rmsprop"]
    store = str(work / "evaluations")
    amalg("evaluate", *sources, "--suite", "digits", "--repeats", str(args.repeats),
          "--steps", str(args.steps), "--out", store, log=work / "evaluate.log")  # fmt: skip
    evaluated = time.perf_counter()
    amalg("report", *sources, "--evaluations", store, "--out", str(work / "report"),
          "--json", log=work / "report.json.log")  # fmt: skip
    amalg("report", *sources, "--evaluations", store, "--out", str(work / "report"))
    print(
        f"meta-training {trained - started:.0f} s, evaluation {evaluated - trained:.0f} s, "
        f"total {time.perf_counter() - started:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
