"""Markdown tables of an ``amalg report --json`` file, for ``benchmarks/RESULTS.md``.

Per task: each optimizer's best log validation loss (mean and 95% interval of the mixed
model), its difference from the reference (the oracle unless the report names another),
meta-stability and final log training loss. Usage::

    python benchmarks/results_table.py WORK/report/report.json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def _interval(estimate: dict, shift: float = 0.0, sign: bool = False) -> str:
    mean, low, high = (estimate[key] - shift for key in ("mean", "low", "high"))
    form = "{:+.3f}" if sign else "{:.3f}"
    return f"{form.format(mean)} [{form.format(low)}, {form.format(high)}]"


def _number(value: float | None) -> str:
    """A meta-stability: a dash where it cannot be estimated (one replicate)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def tables(report: dict) -> str:
    lines = []
    for task in report["tasks"]:
        reference = task["reference"]
        base = next(
            (o for o in task["optimizers"] if o["label"] == reference), None
        )  # fmt: skip
        shift = base["best_log_validation_loss"]["mean"] if base else 0.0
        role = "oracle" if task["reference_is_oracle"] else "reference"
        lines += [
            f"**{task['task']}** ({role}: {reference})",
            "",
            "| optimizer | replicates | best log val. loss [95% CI] | vs "
            + role
            + " [95% CI] | meta-stability | final log train loss [95% CI] |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for optimizer in task["optimizers"]:
            best = optimizer["best_log_validation_loss"]
            final = optimizer["final_log_training_loss"]
            stability = best["meta_stability"]
            lines.append(
                f"| {optimizer['label']} | {best['replicates']} | {_interval(best)} | "
                f"{_interval(best, shift, sign=True)} | "
                f"{_number(stability)} | {_interval(final)} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text())))
