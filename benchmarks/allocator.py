"""How glibc's allocator moves a compiled small_fc_lopt step on 1M parameters from one process
to the next, and what raising its thresholds does.

The compiled step of a large model allocates a few scratch buffers the size of its largest
tensor at every step (inductor's intermediates). glibc's malloc may hand such memory back to
the system between steps (heap trimming, or mmap for a large block), and the next step then
faults it in again, page by page. Whether it does depends on the heap's state, so the same
step can be fast in one process and slow in the next. Each process here times
``torch.optim.Adam`` (foreach, the baseline) and small_fc_lopt compiled in alternating rounds
on section (b)'s parameters (``suite.updates``), once with glibc's defaults and once with
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` raised so that freed memory stays
with the process.

Usage::

    python benchmarks/allocator.py [--processes 4] [--rounds 5] [--output benchmarks/RESULTS.md | -]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RAISED = {"MALLOC_MMAP_THRESHOLD_": "4000000000", "MALLOC_TRIM_THRESHOLD_": "4000000000"}
SETTINGS = {"glibc's defaults": {}, "thresholds raised": RAISED}


def child(rounds: int) -> None:
    """One process's medians (seconds per step) of both optimizers, as one JSON line."""
    import torch
    from suite.timing import alternate
    from suite.updates import stepper

    import amalg
    import amalg.optim

    rule = amalg.create("student", "small_fc_lopt")
    series = alternate(
        {
            "adam": stepper(lambda p: torch.optim.Adam(p, 1e-3, foreach=True), "cpu", 20),
            "small_fc_lopt": stepper(
                lambda p: amalg.optim.RuleOptimizer(p, rule, warmup=0, compile=True), "cpu", 5
            ),
        },
        rounds,
        "adam",
    )
    print(json.dumps({item.label: item.median for item in series}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4, help="Fresh processes per setting.")
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds per process.")
    parser.add_argument("--output", default="benchmarks/RESULTS.md", help="'-' prints only.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    if args.child:
        child(args.rounds)
        return
    from suite.timing import command_line, header, spread

    lines = [*header("Speed: the allocator and a compiled small_fc_lopt step", command_line(),
                     "cpu"), ""]  # fmt: skip
    lines += [
        f"{args.processes} fresh processes per setting, {args.rounds} alternating rounds each; "
        "per process the median step of each optimizer (parameters of section (b): 1.01M).",
        "",
        "| setting | Adam (foreach) ms per process | small_fc_lopt (compiled) ms per process | "
        "ratio (median (range) over processes) |",
        "| --- | --- | --- | --- |",
    ]
    for name, extra in SETTINGS.items():
        runs = []
        for index in range(args.processes):
            print(f"{name}: process {index + 1} of {args.processes} ...", file=sys.stderr)
            done = subprocess.run(
                [sys.executable, __file__, "--child", "--rounds", str(args.rounds)],
                env={**os.environ, **extra}, capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        adam = [run["adam"] * 1e3 for run in runs]
        student = [run["small_fc_lopt"] * 1e3 for run in runs]
        ratios = [s / a for s, a in zip(student, adam, strict=True)]
        lines.append(
            f"| {name} | {', '.join(f'{v:.2f}' for v in adam)} | "
            f"{', '.join(f'{v:.2f}' for v in student)} | {spread(ratios)} |"
        )
        print(f"{name}: median ratio {statistics.median(ratios):.2f}", file=sys.stderr)
    text = "\n".join(lines) + "\n"
    if args.output == "-":
        print(text)
        return
    with open(args.output, "a", encoding="utf-8") as handle:
        handle.write("\n" + text)
    print(f"appended to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
