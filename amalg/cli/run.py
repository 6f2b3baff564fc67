"""``amalg run``: distill teachers into a student (meta-training), then compare them.

The component options (``--teacher``, ``--scheme``, ...) are made from the run-kinds table
(:data:`amalg.core.runconfig.RUN_KINDS`): a kind added there is an option here.
"""

from __future__ import annotations

import inspect
import math
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from amalg.cli.errors import fail, reports_errors
from amalg.core.analysis.comparison import ComparisonRow
from amalg.core.errors import ConfigError
from amalg.core.registry import get_registry
from amalg.core.run_folder import Claim, RunFolder, RunFolderError
from amalg.core.runconfig import (
    RUN_KINDS,
    EvaluationConfig,
    RunKind,
    apply_overrides,
    apply_quick,
    check_run_name,
    default_run_name,
    read_config_file,
    validate_run_config,
)
from amalg.core.training.build import build_run
from amalg.core.training.events import (
    EvaluationAdvanced,
    EvaluationStarted,
    Event,
    PeriodFinished,
    RunFinished,
    RunStarted,
    TrajectoryFinished,
)
from amalg.core.training.run import execute


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def _parse_choice(spec: str, option: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME:LABEL``."""
    name, colon, label = spec.partition(":")
    if not name or (colon and not label):
        raise ConfigError(option, [(spec, "expected NAME or NAME:LABEL, e.g. adam or adam:fast")])
    return name, label or None


def _key(spec: str, option: str) -> str:
    name, label = _parse_choice(spec, option)
    return label or name


def _choice(spec: str, option: str, previous: Any) -> dict[str, Any]:
    name, label = _parse_choice(spec, option)
    # Settings from a config file are kept only when the component stays the same.
    if isinstance(previous, dict) and (previous.get("name"), previous.get("label")) == (
        name,
        label,
    ):
        return previous
    return {"name": name, **({"label": label} if label else {}), "config": {}}


def build_values(
    *,
    chosen: dict[str, Any],
    seed: int | None,
    name: str | None,
    overrides: list[str],
    config_file: Path | None,
    quick: bool,
) -> dict[str, Any]:
    """The run config the command line asks for, before validation: the config file, then
    the component options, the seed, ``--quick`` presets and ``--set`` overrides."""
    values: dict[str, Any] = read_config_file(config_file) if config_file else {}
    if config_file:
        # Shapes first (a teacher list, component tables), before flags are merged in.
        validate_run_config({"name": "from-file", **values})
    for row in RUN_KINDS:
        given = chosen.get(row.kind)
        if not given:
            continue
        if row.many:
            before = values.get(row.field)
            previous = {
                (item.get("label") or item.get("name")): item
                for item in (before if isinstance(before, list) else [])
                if isinstance(item, dict)
            }
            keys = [_key(spec, row.option) for spec in given]
            values[row.field] = [
                _choice(spec, row.option, previous.get(key))
                for spec, key in zip(given, keys, strict=True)
            ]
        elif row.default is None and given == "none":
            values[row.field] = None  # an optional slot cleared (a config file set it)
        else:
            values[row.field] = _choice(given, row.option, values.get(row.field))
    if seed is not None:
        values["seed"] = seed
    if quick:
        values = apply_quick(values, get_registry())
    values = apply_overrides(values, overrides)
    if name is not None:
        values["name"] = name
    elif "name" not in values:
        values["name"] = default_run_name(values)
    return values


def _kind_option(row: RunKind) -> inspect.Parameter:
    kind = list[str] | None if row.many else str | None
    default = f" (default: {row.default})" if row.default else ""
    return inspect.Parameter(
        row.kind,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind, typer.Option(row.option, help=f"{row.help}{default}")],
    )


_OPTIONS = [
    *(_kind_option(row) for row in RUN_KINDS),
    inspect.Parameter(
        "seed",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[int | None, typer.Option(help="Seed of the run (default: 0).")],
    ),
    inspect.Parameter(
        "out",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, typer.Option(help="Run folder (default: results/NAME).")],
    ),
    inspect.Parameter(
        "name",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None, typer.Option(help="Run name (its folder under results/).")
        ],
    ),
    inspect.Parameter(
        "set_",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            list[str] | None,
            typer.Option(
                "--set", help="Override a setting: KIND.NAME.FIELD=VALUE or SECTION.FIELD=VALUE."
            ),
        ],
    ),
    inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Option(help="A run config (JSON or TOML; a run's config.json)."),
        ],
    ),
    inspect.Parameter(
        "quick",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option(help="A tiny budget for smoke runs.")],
    ),
    inspect.Parameter(
        "resume",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option(help="Continue the run in the folder.")],
    ),
]


@reports_errors
def run(**options: Any) -> None:
    """Distill teachers into a student, then compare them on the task's validation split."""
    chosen = {row.kind: options[row.kind] for row in RUN_KINDS}
    out: str | None = options["out"]
    name: str | None = options["name"]
    resume: bool = options["resume"]
    if out is not None and not out.strip():
        raise RunFolderError("--out is empty; give the folder the run writes to")
    bare_resume = resume and not any(
        [*chosen.values(), options["seed"] is not None, options["set_"], options["config"]]
    )
    if bare_resume and not options["quick"] and (out is not None or name is not None):
        where = out if out is not None else Path("results") / check_run_name(str(name))
        folder = RunFolder(where)
        if not folder.holds_run():
            raise RunFolderError(f"nothing to resume: {folder.path} holds no run")
        values = folder.read_config()
    else:
        values = build_values(
            chosen=chosen,
            seed=options["seed"],
            name=name,
            overrides=options["set_"] or [],
            config_file=options["config"],
            quick=options["quick"],
        )
    config, components = build_run(values)
    folder = RunFolder(out if out is not None else Path("results") / config.name)
    console = Console()
    claim = folder.claim(config.model_dump(mode="json"), resume)
    if claim is Claim.FINISHED:
        rows, _ = folder.read_result() or ([], "")
        console.print(Text(f"{folder.path} already holds this run, finished:", style="dim"))
        console.print(_result_table(rows, config.choice("task").name, config.evaluation))
        return

    view = _RunView(console)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with view:
            result = execute(
                config, components, folder, resume=claim is Claim.RESUME, on_event=view.on_event
            )
    except KeyboardInterrupt:
        message = "interrupted; the last finished period is saved: amalg run --resume --out"
        raise fail(f"{message} {folder.path}", 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print(_result_table(result.rows, config.choice("task").name, config.evaluation))
    console.print(
        Text(f"results in {folder.path} (final student: {result.checkpoint})", style="dim")
    )


run.__signature__ = inspect.Signature(_OPTIONS, return_annotation=None)  # type: ignore[attr-defined]
run.__annotations__ = {parameter.name: parameter.annotation for parameter in _OPTIONS}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class _RunView:
    """Rich progress for the run's events."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar: Any = None

    def __enter__(self) -> _RunView:
        self.progress.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.progress.__exit__(*args)

    def _drop_bar(self) -> None:
        if self.bar is not None:
            self.progress.remove_task(self.bar)
            self.bar = None

    def on_event(self, event: Event) -> None:
        match event:
            case RunStarted(resumed_from=str(checkpoint)):
                self.console.print(Text(f"resuming after {checkpoint}", style="dim"))
            case TrajectoryFinished():
                if self.bar is None:
                    self.bar = self.progress.add_task("", total=event.trajectories)
                imitation = " ".join(f"{k} {v:.2f}" for k, v in event.imitation.items())
                self.progress.update(
                    self.bar,
                    completed=event.trajectory,
                    total=event.trajectories,
                    description=(
                        f"stage {event.stage} period {event.period} unroll {event.unroll}"
                        f" | meta-loss {event.meta_loss:.3f}"
                        + (f" | imitation {imitation}" if imitation else "")
                    ),
                )
            case PeriodFinished(summary=summary):
                self._drop_bar()
                imitation = " ".join(f"{k} {v:.2f}" for k, v in summary.imitation.items())
                line = (
                    f"stage {summary.stage} period {summary.period} unroll {summary.unroll}: "
                    f"meta-loss {summary.meta_loss:.3f}"
                    + (f", imitation {imitation}" if imitation else "")
                    + f", validation {summary.validation:.4f}"
                    + (" (best)" if summary.new_best else "")
                    + (" -> stage over, best reloaded" if event.reloaded else "")
                )
                if summary.nonfinite:
                    line += f", {summary.nonfinite} non-finite truncations discarded so far"
                self.console.print(Text(line))
            case EvaluationStarted(total=total):
                self.bar = self.progress.add_task("evaluating student and teachers", total=total)
            case EvaluationAdvanced() if self.bar is not None:
                self.progress.advance(self.bar)
            case RunFinished():
                self._drop_bar()
            case _:
                pass


def _result_table(rows: list[ComparisonRow] | tuple[ComparisonRow, ...], task: str,
                  evaluation: EvaluationConfig) -> Table:  # fmt: skip
    table = Table(
        title=f"{task}: {evaluation.horizon} steps, {evaluation.seeds} seeds (mean ± std)",
        title_justify="left",
    )
    table.add_column("optimizer", style="bold")
    table.add_column("role")
    table.add_column("best validation loss", justify="right")
    table.add_column("final training loss", justify="right")
    table.add_column("test loss at best validation", justify="right")
    accuracy = any(row.best_validation_accuracy is not None for row in rows)
    if accuracy:
        table.add_column("best validation accuracy", justify="right")
    for row in rows:
        cells = [
            row.optimizer,
            row.role,
            _pm(row.best_validation_loss, row.best_validation_loss_std),
            _pm(row.final_train_loss, row.final_train_loss_std),
            f"{row.test_loss_at_best_validation:.4f}",
        ]
        if accuracy:
            value = row.best_validation_accuracy
            cells.append(f"{value if value is not None else math.nan:.3f}")
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _pm(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "diverged"
    return f"{mean:.4f} ± {std:.4f}"
