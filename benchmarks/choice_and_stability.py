"""The measurement of "Optimal choice and perturbations": choice (small and large pool)
against min-max, mean and the oracle, and the meta-stability of min-max under perturbations,
over replicates on ``digits_cnn`` with tuned teachers.

1. Tunes the large pool's six teachers on ``digits_cnn`` (stored: the runs reuse them).
2. Meta-trains ``--replicates`` students (seeds 0, 1, ...) of each configuration with
   ``amalg run``, ``--jobs`` at once, in this order: min-max of Adam and RMSProp (the same
   runs as ``honest_comparison.py``: with the same ``--work`` they are reused), choice over
   the small pool, mean, min-max with ``gaussian_rel`` 1e-3, min-max with ``pgd`` 1e-4 (one
   step), choice over the large pool.
3. Evaluates every student, every trained choice policy (``RUN/policy``) and the six tuned
   teachers on ``digits_cnn`` (``--repeats`` evaluations of ``--steps`` steps) and reports
   twice: ``WORK/report-schemes`` (choice, its policies, min-max, mean, the oracle) and
   ``WORK/report-stability`` (min-max under each perturbation: meta-stability against
   magnitude, Figure 6).

Usage::

    python benchmarks/choice_and_stability.py --work results/honest [--replicates 4]
        [--repeats 5] [--steps 500] [--jobs 1]
"""

from __future__ import annotations

import time

from _campaign import (
    amalg,
    arguments,
    durations,
    evaluate,
    report,
    start,
    train_replicates,
)

SMALL = ["--teacher", "adam", "--teacher", "rmsprop"]
LARGE = ["adam", "rmsprop", "sgd", "momentum", "addsign", "powersign"]
CONFIGURATIONS = {
    "minmax": [*SMALL, "--scheme", "minmax"],
    "choice-small": ["--pool", "small", "--scheme", "choice"],
    "mean": [*SMALL, "--scheme", "mean"],
    "minmax-gaussian_rel": [*SMALL, "--scheme", "minmax", "--perturbation", "gaussian_rel",
                            "--set", "perturbation.gaussian_rel.magnitude=1e-3"],
    "minmax-pgd": [*SMALL, "--scheme", "minmax", "--perturbation", "pgd",
                   "--set", "perturbation.pgd.magnitude=1e-4", "--set", "perturbation.pgd.steps=1"],
    "choice-large": ["--pool", "large", "--scheme", "choice"],
}  # fmt: skip
SCHEMES = ("minmax", "choice-small", "mean", "choice-large")
STABILITY = ("minmax", "minmax-gaussian_rel", "minmax-pgd")


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    work = args.work
    started = start(work)
    amalg("tune", *(f"--teacher={name}" for name in LARGE), "--task", "digits_cnn")
    runs = train_replicates(CONFIGURATIONS, args.replicates, work, args.jobs)
    trained = time.perf_counter()
    folders = dict(zip([f"{name}-seed{seed}" for name in CONFIGURATIONS
                        for seed in range(args.replicates)], runs, strict=True))  # fmt: skip

    def runs_of(names: tuple[str, ...]) -> list[str]:
        return [str(folders[f"{name}-seed{s}"]) for name in names for s in range(args.replicates)]

    # The trained choice policies (phase 1) are optimizers too: the paper's "optimal choice"
    # baseline, a per-iteration approximation of the oracle.
    policies = [f"{run}/policy" for run in runs_of(("choice-small", "choice-large"))]
    sources = [*map(str, runs), *policies, *LARGE]
    evaluate(sources, work, ["--task", "digits_cnn"], args.repeats, args.steps)
    task = ("--task", "digits_cnn")
    report([*runs_of(SCHEMES), *policies, *LARGE], work, "report-schemes", task)
    report([*runs_of(STABILITY), "adam", "rmsprop"], work, "report-stability", task)
    durations(started, trained)


if __name__ == "__main__":
    main()
