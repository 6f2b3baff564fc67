"""How the benchmark suite measures: alternating rounds, medians with their spread, ratios to
a baseline measured in the same run, and the header saying where the numbers come from.

Every candidate of a comparison runs once per round, in the same order, so slow phases of a
shared machine hit all of them alike. A ratio is taken round by round (candidate / baseline
of the same round) and summarised by its median and range: two medians divided would hide how
much the rounds disagree.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Series:
    """One candidate's measurements, one per round (seconds per unit, or any positive
    quantity), and the same rounds of the baseline."""

    label: str
    values: list[float]
    baseline: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def ratios(self) -> list[float]:
        return [value / base for value, base in zip(self.values, self.baseline, strict=True)]


def sync(device: str | torch.device) -> None:
    """Wait for a GPU's queued work before reading the clock (asynchronous kernels would
    time too short); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def alternate(candidates: dict[str, Callable[[], float]], rounds: int, base: str) -> list[Series]:
    """Each candidate once per round, ``rounds`` times; ``base`` is the baseline label."""
    values: dict[str, list[float]] = {label: [] for label in candidates}
    for _ in range(rounds):
        for label, measure in candidates.items():
            values[label].append(measure())
    return [Series(label, values[label], values[base]) for label in candidates]


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid * scale:.{digits}f} ({low * scale:.{digits}f}-{high * scale:.{digits}f})"


def timing_table(series: list[Series], unit: str, first: str) -> list[str]:
    """A markdown table: the label, the median time with its range, the ratio to the baseline
    (median of the per-round ratios, with their range)."""
    lines = [
        f"| {first} | median {unit} (range) | ratio to baseline (range) |",
        "| --- | --- | --- |",
    ]
    scale = {"ms": 1e3, "s": 1.0, "us": 1e6}[unit]
    for item in series:
        lines.append(f"| {item.label} | {spread(item.values, scale)} | {spread(item.ratios)} |")
    return lines


def rate_table(series: list[Series], columns: tuple[str, str, str]) -> list[str]:
    """A markdown table of rates, for series measured as seconds per unit: the label, units
    per second with its range, and the rate relative to the baseline's (per round)."""
    first, rate, relative = columns
    lines = [f"| {first} | {rate} (range) | {relative} (range) |", "| --- | --- | --- |"]
    for item in series:
        rates = [1 / value for value in item.values]
        relatives = [1 / ratio for ratio in item.ratios]
        lines.append(f"| {item.label} | {spread(rates)} | {spread(relatives)} |")
    return lines


def commit(where: Path = ROOT) -> str:
    """The commit measured (of the checkout ``where``), marked ``+changes`` when the working
    tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def processor() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str) -> str:
    """One line: processor, cores, threads, the device measured, torch, python."""
    where = processor() + f", {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    if device.startswith("cuda"):
        where += f", {torch.cuda.get_device_name(torch.device(device))}"
    return (
        f"{where}; torch {torch.__version__}, python {platform.python_version()}; device {device}"
    )


def header(title: str, command: str, device: str, code: Path = ROOT) -> list[str]:
    """A RESULTS.md section's heading and provenance lines (``code``: the checkout whose
    amalg is measured; the suite is this one's)."""
    today = datetime.date.today().isoformat()
    measured = f"commit `{commit(code)}`"
    if code.resolve() != ROOT:
        measured = f"amalg of commit `{commit(code)}`, the suite of commit `{commit()}`"
    return [
        f"## {title} ({today})",
        "",
        f"`{command}` ({measured}), {machine(device)}.",
    ]


def command_line() -> str:
    """How this process was started, as a user would type it."""
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(ROOT)
    return " ".join(["python", str(script), *sys.argv[1:]])
