"""``amalg tune``: the teachers' learning-rate grid search, shown and stored."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amalg.cli.errors import reports_errors
from amalg.cli.output import echo_json
from amalg.cli.views import ProgressView
from amalg.core.analysis.tuning import Tuning, TuningStore, request_for, run_tuning
from amalg.core.errors import ConfigError
from amalg.core.interfaces import Task
from amalg.core.registry import get_registry
from amalg.core.runconfig import PAPER_GRID, TuningConfig, parse_value
from amalg.core.suites import expand_tasks
from amalg.core.training.events import TuningAdvanced, TuningStarted


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


def parse_grid(text: str) -> tuple[float, ...]:
    """``5e-4,1e-3,0.01``: positive numbers, at least one."""
    try:
        grid = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        grid = ()
    if not grid or not all(math.isfinite(lr) and lr > 0 for lr in grid):
        raise ConfigError("--grid", [(text, "expected positive numbers, e.g. 1e-3,1e-2,0.1")])
    return tuple(sorted(set(grid)))


def parse_settings(items: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """``--set KIND.NAME.FIELD=VALUE`` for the teachers and tasks of a tuning."""
    settings: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        key, equals, raw = item.partition("=")
        parts = key.split(".")
        if not equals or len(parts) != 3 or parts[0] not in ("teacher", "task"):
            raise ConfigError(
                "--set", [(item, "expected teacher.NAME.FIELD=VALUE or task.NAME.FIELD=VALUE")]
            )
        if parts[:1] == ["teacher"] and parts[2] == "lr":
            raise ConfigError("--set", [(item, "the learning rate is what tuning chooses")])
        settings.setdefault((parts[0], parts[1]), {})[parts[2]] = parse_value(raw)
    return settings


@reports_errors
def tune(
    teacher: Annotated[
        list[str], typer.Option("--teacher", help="A teacher to tune (repeat for several).")
    ],
    task: Annotated[
        list[str] | None, typer.Option("--task", help="A task to tune on (repeatable).")
    ] = None,
    suite: Annotated[
        list[str] | None, typer.Option(help="Every task of this suite (digits, paper).")
    ] = None,
    horizon: Annotated[int, typer.Option(min=1, help="Training steps of each trial.")] = 500,
    seeds: Annotated[
        int, typer.Option(min=1, help="Trials per learning rate (as `amalg run`'s default).")
    ] = TuningConfig.model_fields["seeds"].default,
    grid: Annotated[
        str | None,
        typer.Option(help="Learning rates, comma-separated (default: 5e-4, 1e-3, 2e-3 ... 1)."),
    ] = None,
    warmup_steps: Annotated[int, typer.Option(min=0, help="SGD warmup steps.")] = 100,
    warmup_lr: Annotated[float, typer.Option(min=0, help="SGD warmup learning rate.")] = 0.01,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="teacher.NAME.FIELD=VALUE or task.NAME.FIELD=VALUE."),
    ] = None,
    tuning_dir: Annotated[
        Path | None,
        typer.Option(help="Stored tunings (default: $AMALG_TUNING_DIR, else results/tuning)."),
    ] = None,
    again: Annotated[bool, typer.Option(help="Tune again even when a tuning is stored.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Grid-search each teacher's learning rate on each task (Huang et al. 2022, Section 5):
    the best mean log validation loss over the horizon, from the same warm start as
    meta-training. Results are stored; `amalg run` and `amalg evaluate` use them."""
    registry = get_registry()
    tasks = expand_tasks(task or [], suite or [], registry)
    if not tasks:
        raise ConfigError("amalg tune", [("--task", "give a task (--task NAME) or --suite")])
    chosen_grid = parse_grid(grid) if grid is not None else PAPER_GRID
    settings = parse_settings(set_ or [])
    store = TuningStore(tuning_dir)
    console = Console(stderr=as_json)
    view = ProgressView(console)
    found: list[tuple[Tuning, bool, Path]] = []
    requests = []
    for task_name in tasks:
        built = cast(
            Task[Any], registry.create("task", task_name, **settings.get(("task", task_name), {}))
        )
        built.batch_at("train", 0, 0)  # a dataset that is not there fails before any work
        for name in dict.fromkeys(teacher):
            config = settings.get(("teacher", name), {})
            request = request_for(
                built, name, config, horizon, seeds, chosen_grid, warmup_steps, warmup_lr,
                registry,
            )  # fmt: skip
            requests.append((request, built))
    with view:
        for request, built in requests:
            stored = None if again else store.find(request)
            if stored is None:
                total = len(request.grid) * request.seeds * request.horizon
                view.on_event(TuningStarted(request.task, request.teacher, total))
                stored = run_tuning(
                    request, built, registry, lambda: view.on_event(TuningAdvanced())
                )
                found.append((stored, False, store.save(stored)))
            else:
                found.append((stored, True, store.path(request)))
    if as_json:
        echo_json(
            [
                {**tuning.to_dict(), "stored": str(path), "reused": reused}
                for tuning, reused, path in found
            ]
        )
        return
    for task_name in tasks:
        console.print(
            _table(task_name, [item for item in found if item[0].request.task == task_name])
        )


def _table(task: str, results: list[tuple[Tuning, bool, Path]]) -> Table:
    first = results[0][0].request
    table = Table(
        title=f"{task}: mean best log validation loss over {first.horizon} steps, "
        f"{first.seeds} seeds (lower is better; * best)",
        title_justify="left",
    )
    table.add_column("lr", justify="right")
    for tuning, reused, _ in results:
        table.add_column(tuning.request.teacher + (" (stored)" if reused else ""), justify="right")
    for index, lr in enumerate(first.grid):
        cells = [f"{lr:g}"]
        for tuning, _, _ in results:
            score = tuning.scores[index] if index < len(tuning.scores) else math.nan
            mark = " *" if tuning.request.grid[index] == tuning.best_lr else ""
            cells.append(("diverged" if not math.isfinite(score) else f"{score:.3f}") + mark)
        table.add_row(*(Text(cell) for cell in cells))
    notes = []
    for tuning, _, path in results:
        edge = " (on the grid's edge: the optimum may lie beyond it)" if tuning.on_edge else ""
        notes.append(f"{tuning.request.teacher}: lr {tuning.best_lr:g}{edge}; stored in {path}")
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    return table
