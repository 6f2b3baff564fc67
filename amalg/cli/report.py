"""``amalg report``: tables with 95% intervals and the paper's figures from stored
evaluations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amalg.cli.errors import reports_errors
from amalg.cli.output import echo_json
from amalg.core.analysis.evaluations import EvaluationStore
from amalg.core.analysis.report import TaskReport, build_report, select
from amalg.core.analysis.sources import parse_source
from amalg.core.analysis.statistics import Estimate
from amalg.core.errors import ConfigError
from amalg.core.registry import get_registry
from amalg.core.run_folder import atomic_write
from amalg.core.suites import expand_tasks


def register(app: typer.Typer) -> None:
    app.command("report")(report)


@reports_errors
def report(
    sources: Annotated[
        list[str],
        typer.Argument(help="What `amalg evaluate` evaluated: run folders, teachers, optimizers."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the figures and report.json.")],
    evaluations: Annotated[
        Path | None,
        typer.Option(
            help="Stored evaluations (default: $AMALG_EVALUATIONS_DIR, else results/evaluations)."
        ),
    ] = None,
    task: Annotated[list[str] | None, typer.Option(help="Only this task (repeatable).")] = None,
    suite: Annotated[list[str] | None, typer.Option(help="Only the tasks of this suite.")] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="The optimizer values are relative to (default: each task's oracle)."),
    ] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="A run's checkpoint (default: the one it selected).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Report stored evaluations (Huang et al. 2022, Section 5, Appendix D): per task, each
    optimizer's mean best log validation loss with its 95% interval from the mixed model over
    replicates and evaluations, relative to the reference; final log training loss;
    optimization, meta- and evaluation stability; and the figures (PNG and PDF)."""
    if not str(out).strip():
        raise ConfigError("--out", [("--out", "is empty; give the folder for the figures")])
    registry = get_registry()
    parsed = [parse_source(text, checkpoint, registry) for text in dict.fromkeys(sources)]
    names = expand_tasks(task or [], suite or [], registry) or None
    stored = list(EvaluationStore(evaluations).stored(names))
    made = build_report(select(parsed, stored), reference)
    from amalg.core.analysis.figures import write_figures  # matplotlib: only when drawing

    figures = write_figures(made, out)
    payload = {
        **made.to_dict(),
        "figures": {
            name: {"files": [str(path) for path in paths], "panels": panels}
            for name, (paths, panels) in figures.items()
        },
    }
    text = json.dumps(payload, indent=2, default=str) + "\n"
    atomic_write(out / "report.json", lambda file: file.write(text))
    if as_json:
        echo_json(payload)
        return
    console = Console()
    for task_report in made.tasks:
        console.print(_table(task_report))
    written = ", ".join(
        str(path) for paths, _ in figures.values() for path in paths if path.suffix == ".png"
    )
    console.print(Text(f"figures: {written}; report.json in {out}", style="dim"))


def _ci(estimate: Estimate, offset: float = 0.0) -> str:
    if not math.isfinite(estimate.mean):
        return "diverged" if estimate.excluded else "-"
    sign = "+" if offset else ""
    interval = (
        f" [{estimate.low - offset:{sign}.3f}, {estimate.high - offset:{sign}.3f}]"
        if math.isfinite(estimate.low)
        else ""
    )
    return f"{estimate.mean - offset:{sign}.3f}{interval}"


def _std(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "-"


def _table(task: TaskReport) -> Table:
    reference = task.reference
    who = (
        f"the oracle ({reference.label})"
        if task.reference_is_oracle and reference
        else (reference.label if reference else "nothing")
    )
    table = Table(
        title=f"{task.task}: means with 95% intervals (mixed model); Δ relative to {who}",
        title_justify="left",
    )
    columns = ("optimizer", "replicates × evals", "best log val. loss", "Δ best log val.",
               "final log train loss", "opt. stability", "meta-stab.", "eval. stab.")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    notes = []
    for group in task.groups:
        best = group.best_validation
        offset = reference.best_validation.mean if reference else 0.0
        delta = _ci(best, offset) if reference is not None and group is not reference else "0"
        cells = (
            group.label + (" (oracle)" if task.reference_is_oracle and group is reference else ""),
            f"{best.replicates} × {best.evaluations / max(best.replicates, 1):.0f}",
            _ci(best),
            delta,
            _ci(group.final_training),
            _ci(group.stability),
            _std(best.meta_stability),
            _std(best.evaluation_stability),
        )
        table.add_row(*(Text(cell) for cell in cells))
        if best.excluded:
            notes.append(f"{group.label}: {best.excluded} evaluation(s) diverged, left out")
        if best.note:
            notes.append(f"{group.label}: {best.note}")
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    return table
