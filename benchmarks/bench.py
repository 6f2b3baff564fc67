"""amalg's speed and memory benchmark suite (``make bench``): measures, then appends one
section to ``benchmarks/RESULTS.md``.

(a) one unrolled amalgamation step / one plain Adam training step, on digits_cnn and train
    (mock data: the timing does not depend on the pixels);
(b) the optimizer step on 1M parameters of every teacher and student / torch.optim.Adam;
(c) the whole training step of a user's model with amalg.optim / with torch.optim.Adam;
(d) peak memory of meta-training against truncation length, unroll length and pool size;
(e) ES, PES and merged throughput against tbptt;
(f) per-worker meta-training throughput with 2 worker processes against 1;
(g) only when asked for (``--sections g``, meant for a GPU): small_fc_lopt's step on
    ViT-B/16's 86M parameters against fused Adam.

Every speed figure is a ratio to a baseline measured in the same process, in alternating
rounds, with the median and range over rounds; the section names the machine, torch, the
threads, the commit and the date. The issue's targets are checked at the end of the section.

Usage::

    python benchmarks/bench.py [--sections abcdef] [--rounds 5] [--device cpu] [--workers 1 2]
                               [--output benchmarks/RESULTS.md | -] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from suite.code import requested, use_checkout

CODE = requested(sys.argv)
if CODE is not None:  # before any import of amalg
    use_checkout(CODE)

from suite import (  # noqa: E402
    amalgamation,
    estimators,
    large,
    memory,
    training_step,
    updates,
    workers,
)
from suite.timing import ROOT, Series, command_line, commit, header, timing_table  # noqa: E402

import amalg  # noqa: E402
from amalg.core.device import on_device, resolve_device  # noqa: E402
from amalg.core.interfaces import Task  # noqa: E402

SECTIONS = "abcdef"
OPTIONAL = "g"


@contextlib.contextmanager
def mocked_datasets() -> Iterator[None]:
    """tensorflow-datasets serving random examples of the real shapes (the train task's
    MNIST is not needed, nor downloadable offline)."""
    import tensorflow_datasets as tfds

    with tempfile.TemporaryDirectory() as folder:
        previous = os.environ.get("AMALG_DATA_DIR")
        os.environ["AMALG_DATA_DIR"] = folder
        try:
            with tfds.testing.mock_data(num_examples=1024):
                yield
        finally:
            if previous is None:
                os.environ.pop("AMALG_DATA_DIR", None)
            else:
                os.environ["AMALG_DATA_DIR"] = previous


def _task(name: str, device: str) -> Task:
    """A task making its tensors on ``device``."""
    return on_device(amalg.create("task", name), resolve_device(device))


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _find(series: list[Series], label: str) -> Series | None:
    return next((item for item in series if item.label == label), None)


class Targets:
    """The targets of the performance issue, checked against this run's medians."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def check(self, what: str, series: Series | None, limit: float) -> None:
        if series is None:
            return
        ratio = statistics.median(series.ratios)
        verdict = "met" if ratio <= limit else "**not met**"
        self.lines.append(f"- {what}: {ratio:.2f} against <= {limit:g}: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=SECTIONS, help="Which of a-e to run.")
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds per figure.")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (f stays on the CPU).")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "RESULTS.md"),
                        help="The file the section is appended to; - prints it only.")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: a smoke test.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="Worker counts (f) compares, the first the baseline.")  # fmt: skip
    parser.add_argument("--code", type=Path,
                        help="Measure the amalg of this checkout (a before) instead of the "
                        "installed one; sections a, b, c and e.")  # fmt: skip
    parser.add_argument("--probe-memory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_memory:
        print(json.dumps(memory.probe(**json.loads(args.probe_memory))))
        return
    unknown = set(args.sections) - set(SECTIONS + OPTIONAL)
    if unknown or not args.sections:
        parser.error(f"--sections takes letters of {SECTIONS + OPTIONAL!r}, not {args.sections!r}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if min(args.workers) < 1:
        parser.error("--workers counts must be at least 1")
    if args.code is not None and set(args.sections) & set("df"):
        parser.error("--code measures sections a, b, c and e (d and f start processes that "
                     "would import the installed amalg): give --sections abce")  # fmt: skip
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch sees no CUDA device here")

    title = "Speed and memory: `make bench`" + (" (quick smoke run)" if args.quick else "")
    if args.code is not None:
        title += f", amalg as of commit `{commit(args.code)}`"
    lines = header(title, command_line(), args.device, args.code or ROOT)
    lines += ["", f"{args.rounds} alternating rounds per figure; ratios are medians of the "
              "per-round ratios to the baseline measured in the same rounds."]  # fmt: skip
    targets = Targets()
    if "a" in args.sections:
        _say("(a) amalgamation step ...")
        with mocked_datasets():
            tasks = {name: _task(name, args.device) for name in ("digits_cnn", "train")}
            tables = amalgamation.run(tasks, args.rounds, args.quick)
        lines += ["", "### (a) One unrolled amalgamation step / one plain Adam training step"]
        lines += ["", amalgamation.__doc__.split("\n\n", 1)[1].strip()]
        for name, series in tables.items():
            lines += ["", f"{name} (train: mock data):" if name.startswith("train") else f"{name}:"]
            lines += ["", *timing_table(series, "ms", "step")]
            minmax = _find(series, "min-max, 2 teachers (first-order, default)")
            targets.check(f"(a) min-max step on {name.split(',')[0]} / Adam step", minmax, 4.0)
    if "b" in args.sections:
        _say("(b) optimizer steps on 1M parameters ...")
        tables = updates.run(args.device, args.rounds, args.quick)
        lines += ["", "### (b) The optimizer step on 1M parameters / torch.optim.Adam (foreach)"]
        lines += ["", updates.__doc__.split("\n\n", 1)[1].strip()]
        lines += ["", *timing_table(tables["steps"], "ms", "optimizer")]
        lines += ["", *timing_table(tables["floor"], "ms", "")]
        for item in tables["steps"]:
            if item.label.startswith("teacher "):
                targets.check(f"(b) {item.label} / Adam foreach", item, 1.5)
        for label in ("student small_fc_lopt", "student small_fc_lopt (compiled)"):
            targets.check(f"(b) {label.removeprefix('student ')} / Adam foreach",
                          _find(tables["steps"], label), 10.0)  # fmt: skip
        lines += ["", "The first step of each compiled path, which compiles its kernels:", ""]
        lines += [f"- {item.label}: {item.values[0]:.1f} s (an eager step: "
                  f"{item.baseline[0] * 1e3:.0f} ms)" for item in tables["first"]]  # fmt: skip
        targets.check("(b) rnnprop / its compute floor", tables["floor"][0], 3.0)
    if "c" in args.sections:
        _say("(c) whole training steps ...")
        tables = training_step.run(args.device, args.rounds, args.quick)
        lines += ["", "### (c) The whole training step with amalg.optim / torch.optim.Adam"]
        lines += ["", training_step.__doc__.split("\n\n", 1)[1].strip()]
        for model, series in tables.items():
            lines += ["", f"{model}:", "", *timing_table(series, "ms", "optimizer")]
        limits = {"train CNN (18k)": 1.3, "fmnist_mlp MLP (118k)": 2.0}
        for model, series in tables.items():
            for label in ("small_fc_lopt", "small_fc_lopt (compiled)"):
                targets.check(f"(c) {label} on the {model} / Adam",
                              _find(series, f"amalg {label}"), limits[model])  # fmt: skip
    if "d" in args.sections:
        _say("(d) peak memory (a process per configuration) ...")
        tables = memory.run("digits_cnn", args.device)
        lines += ["", "### (d) Peak memory of meta-training (digits_cnn, RNNProp, min-max)"]
        lines += ["", memory.__doc__.split("\n\n", 1)[1].strip()]
        for sweep, rows in tables.items():
            lines += ["", f"Against {sweep}:", "", *memory.table(rows)]
    if "e" in args.sections:
        _say("(e) estimator throughput ...")
        length, series = estimators.run(_task("digits_cnn", args.device), args.rounds, args.quick)
        lines += ["", f"### (e) Estimator throughput (digits_cnn, truncations of {length} steps)"]
        lines += ["", estimators.__doc__.split("\n\n", 1)[1].strip()]
        lines += ["", *estimators.table(series)]
    if "f" in args.sections:
        _say("(f) meta-training over worker processes ...")
        threads, series = workers.run(args.workers, max(1, args.rounds // 2))
        lines += ["", "### (f) Meta-training over worker processes: per-worker throughput"]
        lines += ["", workers.__doc__.split("\n\n", 1)[1].strip()]
        lines += ["", f"{threads} thread(s) per worker:", "", *workers.table(series)]
        for item in series[1:]:
            ratio = statistics.median(1 / r for r in item.ratios)
            verdict = "met" if ratio >= 0.8 else "**not met**"
            targets.lines.append(
                f"- (f) per-worker throughput with {item.label} / with 1: {ratio:.2f} against "
                f">= 0.8: {verdict}"
            )
    if "g" in args.sections:
        _say("(g) the optimizer step on ViT-B/16's parameters ...")
        count, series = large.run(args.device, args.rounds, args.quick)
        lines += ["", f"### (g) The optimizer step on ViT-B/16's {count:,} parameters"]
        lines += ["", large.__doc__.split("\n\n", 1)[1].strip()]
        lines += ["", *timing_table(series, "ms", "optimizer")]
    if targets.lines:
        lines += ["", "### Targets", "", *targets.lines]
    text = "\n".join(lines) + "\n"
    if args.output == "-":
        print(text)
        return
    output = Path(args.output)
    existing = output.read_text() if output.exists() else "# Benchmark results\n"
    output.write_text(existing.rstrip("\n") + "\n\n" + text)
    _say(f"appended to {output}")


if __name__ == "__main__":
    main()
