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

import time

from _campaign import amalg, arguments, durations, evaluate, report, start, train_replicates

SCHEMES = {
    "minmax": ["--teacher", "adam", "--teacher", "rmsprop", "--scheme", "minmax"],
    "none": ["--scheme", "none"],
}


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    work = args.work
    started = start(work)
    # The teachers are tuned once, before runs start side by side.
    amalg("tune", "--teacher", "adam", "--teacher", "rmsprop", "--task", "digits_cnn")
    runs = train_replicates(SCHEMES, args.replicates, work, args.jobs)
    trained = time.perf_counter()
    sources = [str(folder) for folder in runs] + ["adam", "rmsprop"]
    evaluate(sources, work, ["--suite", "digits"], args.repeats, args.steps)
    report(sources, work)
    durations(started, trained)


if __name__ == "__main__":
    main()
