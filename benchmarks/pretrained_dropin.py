"""The measurement of "The trained optimizer in a user's training loop": each optimizer shipped
in ``amalg/pretrained/``, used untuned as a drop-in on every task of the offline ``digits``
suite, against Adam at its tuned learning rate on that task.

1. Tunes Adam on every task of the suite (stored: a rerun reuses it).
2. Evaluates each shipped optimizer and tuned Adam on every task (``--repeats`` evaluations of
   ``--steps`` steps from the same warm starts and batches, validation every ``--every``
   steps).
3. Reports with Adam as the reference (``WORK/report``: tables, intervals, figures) and prints,
   per optimizer and task: the best log validation loss against tuned Adam's, the mean paired
   difference over repeats (a repeat is the same warm start and batches for both) with its 95%
   t-interval, the verdict (beats: the interval is below 0; matches: it holds 0; loses: above
   0, or a repeat diverged), and the steps the optimizer needs to reach tuned Adam's best
   validation loss of the same repeat (the median over the repeats that reach it, "never"
   when none does, Adam's own step to its best beside it); then on how many tasks it matches
   or beats tuned Adam (target: 70% of the suite).

Usage::

    python benchmarks/pretrained_dropin.py --work results/dropin [--repeats 5] [--steps 500]
        [--every 25]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from _campaign import amalg, report, start
from scipy import stats

from amalg.optim import pretrained


def steps_to_reach(ours: Path, adam: Path) -> tuple[list[int | None], list[int]]:
    """Per repeat, the first evaluation step at which our validation loss is at or below
    tuned Adam's best in the same repeat (None: never within the steps), and the step at which
    Adam reached that best itself."""
    with np.load(ours / "curves.npz") as mine, np.load(adam / "curves.npz") as theirs:
        values, reference, steps = mine["val_loss"], theirs["val_loss"], mine["eval_step"]
    reached: list[int | None] = []
    own: list[int] = []
    for row, base in zip(values, reference, strict=True):
        finite = np.where(np.isfinite(base), base, np.inf)
        own.append(int(steps[int(finite.argmin())]))
        below = np.nonzero(row <= finite.min())[0]
        reached.append(int(steps[below[0]]) if len(below) else None)
    return reached, own


def reach_text(reached: list[int | None], own: list[int]) -> str:
    """``median step (k of n repeats)``, or ``never``; Adam's own median in brackets."""
    hits = [step for step in reached if step is not None]
    mine = f"{int(np.median(hits))} ({len(hits)}/{len(reached)})" if hits else "never"
    return f"{mine} [{int(np.median(own))}]"


def best_logs(place: Path) -> np.ndarray:
    """Per repeat, the best log validation loss (inf where every point was non-finite)."""
    with np.load(place / "curves.npz") as arrays:
        values = np.where(np.isfinite(arrays["val_loss"]), arrays["val_loss"], np.inf)
    return np.log(values.min(axis=1))


def paired(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float, float]:
    """Mean of ours - theirs over repeats and its 95% t-interval (inf when one diverged)."""
    difference = ours - theirs
    if not np.all(np.isfinite(difference)):
        return math.inf, math.inf, math.inf
    mean = float(difference.mean())
    half = float(stats.t.ppf(0.975, len(difference) - 1) * difference.std(ddof=1))
    half /= math.sqrt(len(difference))
    return mean, mean - half, mean + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("results") / "dropin")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--every", type=int, default=25)
    args = parser.parse_args()
    work = args.work.resolve()
    started = start(work)
    names = list(pretrained())
    if not names:
        raise SystemExit("no pretrained optimizer is installed: run `make pretrained` first")
    amalg("tune", "--teacher", "adam", "--suite", "digits", log=work / "tune.log")
    sources = [*names, "adam"]
    amalg("evaluate", *sources, "--suite", "digits", "--repeats", str(args.repeats),
          "--steps", str(args.steps), "--every", str(args.every),
          "--out", str(work / "evaluations"), "--json", log=work / "evaluate.json")  # fmt: skip
    # The log holds what amalg said on stderr (tunings, progress), then the JSON.
    text = (work / "evaluate.json").read_text()
    begin = 0 if text.startswith("[") else text.index("\n[") + 1
    records = json.JSONDecoder().raw_decode(text[begin:])[0]
    places = {(r["task"], r["source"]): Path(r["place"]) for r in records}
    report(sources, work, "report", ("--suite", "digits", "--reference", "adam"))
    tasks = sorted({task for task, _ in places})
    print(
        "\n| optimizer | task | best log val. loss | tuned Adam | vs Adam [95% CI] | verdict "
        "| steps to Adam's best (repeats reaching it) [Adam's own] |\n" + "| --- " * 7 + "|"
    )
    wins: dict[str, int] = dict.fromkeys(names, 0)
    for name in names:
        for task in tasks:
            ours, adam = best_logs(places[(task, name)]), best_logs(places[(task, "adam")])
            mean, low, high = paired(ours, adam)
            verdict = "beats" if high < 0 else "loses" if low > 0 else "matches"
            wins[name] += verdict != "loses"
            reach = reach_text(*steps_to_reach(places[(task, name)], places[(task, "adam")]))
            print(
                f"| {name} | {task} | {ours.mean():.3f} | {adam.mean():.3f} "
                f"| {mean:+.3f} [{low:+.3f}, {high:+.3f}] | {verdict} | {reach} |"
            )
    for name in names:
        print(f"{name}: matches or beats tuned Adam on {wins[name]} of {len(tasks)} tasks "
              f"({wins[name] / len(tasks):.0%}; target 70%)")  # fmt: skip
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
