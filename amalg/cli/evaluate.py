"""``amalg evaluate``: train tasks with run students, teachers and saved optimizers from the
same warm starts on the same batches, and store their curves."""

from __future__ import annotations

import math
import signal
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amalg.cli.errors import fail, reports_errors
from amalg.cli.output import echo_json
from amalg.cli.views import ProgressView
from amalg.core.analysis.evaluations import EvaluationSettings, EvaluationStore
from amalg.core.analysis.sources import parse_source
from amalg.core.analysis.statistics import best_log_validation_loss, final_log_training_loss
from amalg.core.analysis.tuning import TuningStore, request_for, run_tuning
from amalg.core.device import on_device, resolve_device
from amalg.core.errors import ConfigError
from amalg.core.interfaces import Task
from amalg.core.registry import get_registry
from amalg.core.runconfig import PAPER_GRID, TuningConfig
from amalg.core.suites import expand_tasks
from amalg.core.training.events import (
    EvaluationAdvanced,
    EvaluationStarted,
    TuningAdvanced,
    TuningFinished,
    TuningStarted,
)

# Tuned as `amalg run` tunes by default, so a run's stored tunings serve its evaluations.
TUNING_SEEDS: int = TuningConfig.model_fields["seeds"].default


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@reports_errors
def evaluate(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Run folders, teachers (adam: tuned on each task; adam@0.01) or saved "
            "optimizer folders."
        ),
    ],
    task: Annotated[list[str] | None, typer.Option(help="A task (repeatable).")] = None,
    suite: Annotated[
        list[str] | None, typer.Option(help="Every task of this suite (digits, paper).")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, max=10_000, help="Evaluations per task.")] = 10,
    steps: Annotated[
        int, typer.Option(min=1, max=10_000_000, help="Training steps of each evaluation.")
    ] = 500,
    every: Annotated[
        int | None, typer.Option(min=1, help="Steps between evaluation points (default: an epoch).")
    ] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="A run's checkpoint (default: the one it selected).")
    ] = None,
    warmup_steps: Annotated[int, typer.Option(min=0, help="SGD warmup steps.")] = 100,
    warmup_lr: Annotated[float, typer.Option(min=0, help="SGD warmup learning rate.")] = 0.01,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the warm starts and batches.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Stored evaluations (default: $AMALG_EVALUATIONS_DIR, else results/evaluations)."
        ),
    ] = None,
    tuning_dir: Annotated[
        Path | None,
        typer.Option(help="Stored tunings (default: $AMALG_TUNING_DIR, else results/tuning)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
    device: Annotated[
        str, typer.Option(help="Where the evaluations compute: cpu or cuda (cuda:N).")
    ] = "cpu",
) -> None:
    """Evaluate optimizers on tasks (Huang et al. 2022, Section 5): every source trains each
    task from the same 100-step SGD warm start on the same batches, repeat by repeat; the
    arrays are stored, and a finished repeat is never redone."""
    registry = get_registry()
    parsed = [parse_source(text, checkpoint, registry) for text in dict.fromkeys(sources)]
    names = expand_tasks(task or [], suite or [], registry)
    if not names:
        raise ConfigError("amalg evaluate", [("--task", "give a task (--task NAME) or --suite")])
    where = resolve_device(device)
    tasks = [on_device(cast(Task[Any], registry.create("task", name)), where) for name in names]
    for built in tasks:
        built.batch_at("train", 0, 0)  # a dataset that is not there fails before any work
    settings = EvaluationSettings(steps, every, warmup_steps, warmup_lr, seed)
    store, tunings = EvaluationStore(out), TuningStore(tuning_dir)
    console = Console(stderr=as_json)
    view = ProgressView(console)

    def tuned_lr(teacher: str, on: Task[Any]) -> float:
        request = request_for(
            on, teacher, {}, steps, TUNING_SEEDS, PAPER_GRID, warmup_steps, warmup_lr, registry
        )
        tuning = tunings.find(request)
        reused = tuning is not None
        if tuning is None:
            total = len(request.grid) * request.seeds * request.horizon
            view.on_event(TuningStarted(on.name, teacher, total))
            tuning = run_tuning(request, on, registry, lambda: view.on_event(TuningAdvanced()))
            tunings.save(tuning)
        view.on_event(TuningFinished(on.name, teacher, tuning.best_lr, reused, tuning.on_edge))
        return tuning.best_lr

    records: list[dict[str, Any]] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with view:
            plan = []
            for built in tasks:
                for source in parsed:
                    rule, how = source.rule(built, tuned_lr, registry)
                    if isinstance(rule, torch.nn.Module):  # a student's phi goes with the task
                        rule.to(where)
                    plan.append((built, source, rule, how))
            view.on_event(EvaluationStarted(total=len(plan) * repeats * steps))
            for built, source, rule, how in plan:
                key = source.key(how.get("lr"))
                record = {
                    "label": f"{source.teacher}@{how['lr']:g}" if source.kind == "teacher"
                    else source.label,
                    "group": source.group, "replicate": source.replicate, "kind": source.kind,
                    "source": source.text, **source.details, **how,
                }  # fmt: skip
                curves = store.evaluate(
                    built, key, rule, record, settings, repeats,
                    lambda: view.on_event(EvaluationAdvanced()),
                )  # fmt: skip
                records.append(
                    {"task": built.name, "key": key, "place": str(store.place(built.name, key)),
                     **record, **_summary(curves)}
                )  # fmt: skip
    except KeyboardInterrupt:
        raise fail(
            "interrupted; finished repeats are stored: the same command continues", 130
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if as_json:
        echo_json(records)
        return
    for name in names:
        console.print(_table(name, [r for r in records if r["task"] == name], steps, repeats))
    console.print(Text(f"evaluations in {store.folder}", style="dim"))


def _summary(curves: Any) -> dict[str, float]:
    best = best_log_validation_loss(curves)
    final = final_log_training_loss(curves)
    return {
        "best_log_validation_loss": float(np.mean(best)),
        "best_log_validation_loss_std": float(np.std(best)),
        "final_log_training_loss": float(np.nanmean(final))
        if np.isfinite(final).any()
        else math.inf,
        "diverged": int(np.sum(~np.isfinite(best))),
    }


def _table(task: str, rows: list[dict[str, Any]], steps: int, repeats: int) -> Table:
    table = Table(
        title=f"{task}: {steps} steps, {repeats} repeats (mean ± std; lower is better)",
        title_justify="left",
    )
    for column in ("source", "best log validation loss", "final log training loss", "diverged"):
        table.add_column(column, justify="left" if column == "source" else "right")
    teachers = [
        r for r in rows if r["kind"] == "teacher" and math.isfinite(r["best_log_validation_loss"])
    ]
    oracle = min(teachers, key=lambda r: r["best_log_validation_loss"]) if teachers else None
    for row in rows:
        mean, std = row["best_log_validation_loss"], row["best_log_validation_loss_std"]
        best = f"{mean:.3f} ± {std:.3f}" if math.isfinite(mean) else "diverged"
        final = row["final_log_training_loss"]
        label = row["label"] + (" (oracle)" if row is oracle else "")
        cells = (
            label,
            best,
            f"{final:.3f}" if math.isfinite(final) else "diverged",
            str(row["diverged"]),
        )
        table.add_row(*(Text(cell) for cell in cells))
    return table
