"""The measurement of "Metz learned optimizers": ``small_fc_lopt`` and ``nn_adam`` meta-trained
on ``digits_cnn`` by ``pes`` and by ``merged``, and small_fc_lopt distilled from tuned Adam
and RMSProp by min-max and PES, over replicates, against the tuned teachers and the oracle on
the digits suite, with their meta-training wall time.

1. Meta-trains ``--replicates`` students (seeds 0, 1, ...) of each configuration with
   ``amalg run --config recipes/pes-digits.toml``, ``--jobs`` at once: the Metz recipe
   scaled to a CPU (scheme ``none``, truncations of 20 steps, each step's loss clipped at the
   truncation's start, each meta-gradient value clipped at 3, Adam at 1e-3, the largest meta
   learning rate of seed 001 Appendix D) on a curriculum of unrolls of 200, 500 and 1,000
   steps, two periods of two trajectories each; PES with 4 antithetic pairs, merged with 2
   (about equal compute). That is a CPU budget: the seed trains for thousands of
   meta-iterations over unrolls up to 2,000 steps.
2. Prints each configuration's meta-training wall time (the sum of the run's ``timing.csv``,
   mean and range over replicates; runs side by side share the machine's cores).
3. Evaluates every student, tuned Adam and RMSProp, and Adam at 1e-3 (where nn_adam starts:
   a fresh nn_adam is that Adam) on every task of the ``digits`` suite (``--repeats``
   evaluations of ``--steps`` steps) and reports into ``WORK/report``: tables, mixed-model
   intervals relative to each task's oracle, the figures.

Usage::

    python benchmarks/learned_optimizers.py --work results/lopt [--replicates 3]
        [--repeats 5] [--steps 500] [--jobs 1]
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from _campaign import amalg, arguments, durations, evaluate, report, start, train_replicates

# The recipe's settings (``--student`` and ``--estimator`` replace its own).
RECIPE = ["--config", str(Path(__file__).resolve().parent.parent / "recipes" / "pes-digits.toml")]
# About equal compute per truncation: PES runs 2 x 4 particles without a graph (and the
# unperturbed trajectory), merged 2 x 2 with one (each pass about twice a forward pass).
ESTIMATORS = {"pes": [], "merged": ["--set", "estimator.merged.pairs=2"]}
CONFIGURATIONS = {
    f"{student}-{estimator}": ["--student", student, "--estimator", estimator, *flags, *RECIPE]
    for estimator, flags in ESTIMATORS.items()
    for student in ("small_fc_lopt", "nn_adam")
}
# The distilled combination: small_fc_lopt by PES, min-max over tuned Adam and RMSProp, with
# the imitation weights of amalg's default curriculum (the recipe's are 0: no teachers).
CONFIGURATIONS["small_fc_lopt-pes-minmax"] = [
    "--student", "small_fc_lopt", "--estimator", "pes", *RECIPE, "--teacher", "adam",
    "--teacher", "rmsprop", "--scheme", "minmax",
    "--set", "strategy.curriculum.alphas=[0.2,0.1,0.05]",
]  # fmt: skip
TEACHERS = ["adam", "rmsprop"]
# Where nn_adam starts: a fresh nn_adam is Adam at its config's lr (1e-3), untuned.
START = "adam@0.001"


def wall_time(run: Path) -> float:
    """The run's meta-training wall time: the sum of its periods in ``timing.csv``."""
    with open(run / "timing.csv", newline="") as handle:
        return sum(float(row["seconds"]) for row in csv.DictReader(handle))


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    work = args.work
    started = start(work)
    amalg("tune", *(f"--teacher={name}" for name in TEACHERS), "--task", "digits_cnn")
    runs = train_replicates(CONFIGURATIONS, args.replicates, work, args.jobs)
    trained = time.perf_counter()
    for index, name in enumerate(CONFIGURATIONS):
        times = [wall_time(run) for run in runs[index * args.replicates :][: args.replicates]]
        print(
            f"{name}: meta-training {sum(times) / len(times):.0f} s per run "
            f"({min(times):.0f}-{max(times):.0f} s over {len(times)} replicates)",
            flush=True,
        )
    sources = [*map(str, runs), *TEACHERS, START]
    evaluate(sources, work, ["--suite", "digits"], args.repeats, args.steps)
    report(sources, work)
    durations(started, trained)


if __name__ == "__main__":
    main()
