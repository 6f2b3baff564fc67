"""``amalg run``: distill teachers into a student (meta-training), then compare them."""

from __future__ import annotations

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
from amalg.core.errors import ConfigError
from amalg.core.experiment import ExperimentError, ExperimentFolder
from amalg.core.runconfig import apply_overrides, read_config_file, validate_run_config
from amalg.core.trainer import Event, Trainer, resolve

# A budget for smoke runs: it touches every part of a run in well under 30 s on 2 CPU cores.
QUICK: dict[str, Any] = {
    "engine": {"warmup_steps": 20},
    "evaluation": {"horizon": 60, "seeds": 2},
    "strategy": {
        "curriculum": {
            "unrolls": [20, 40],
            "alphas": [0.2, 0.1],
            "truncation": 10,
            "trajectories": 2,
            "min_periods": 1,
            "patience": 1,
            "max_periods": 2,
            "validation_trajectories": 1,
        },
        "repeat": {
            "periods": 2,
            "unroll": 20,
            "truncation": 10,
            "trajectories": 2,
            "validation_unroll": 40,
        },
    },
}


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def _choice(name: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    # Keep settings only when the component stays the same.
    if previous and previous.get("name") == name:
        return previous
    return {"name": name, "config": {}}


def build_values(
    *,
    teachers: list[str],
    components: dict[str, str | None],
    seed: int | None,
    name: str | None,
    overrides: list[str],
    config_file: Path | None,
    quick: bool,
) -> dict[str, Any]:
    """The run config the command line asks for, before validation."""
    values: Any = read_config_file(config_file) if config_file else {}
    if not isinstance(values, dict):
        raise ConfigError(f"file {config_file}", [("(file)", "expected a table of settings")])
    if config_file:
        # Shapes first (a teacher list, component tables), before flags are merged in.
        validate_run_config({"name": "from-file", **values})
    if teachers:
        given = values.get("teachers")
        previous = {
            choice.get("name"): choice
            for choice in (given if isinstance(given, list) else [])
            if isinstance(choice, dict)
        }
        values["teachers"] = [_choice(teacher, previous.get(teacher)) for teacher in teachers]
    for kind, chosen in components.items():
        if chosen is not None:
            previous_choice = values.get(kind)
            values[kind] = _choice(
                chosen, previous_choice if isinstance(previous_choice, dict) else None
            )
    if seed is not None:
        values["seed"] = seed
    if quick:
        for section in ("engine", "evaluation"):
            values[section] = {**QUICK[section], **_mapping(values.get(section))}
        strategy = values.setdefault("strategy", {"name": "curriculum", "config": {}})
        if isinstance(strategy, dict):
            preset = QUICK["strategy"].get(strategy.get("name", "curriculum"), {})
            strategy["config"] = {**preset, **_mapping(strategy.get("config"))}
    values = apply_overrides(values, overrides)
    if name is not None:
        values["name"] = name
    elif "name" not in values:
        values["name"] = _default_name(values)
    return values


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _default_name(values: dict[str, Any]) -> str:
    teachers = "-".join(choice["name"] for choice in values.get("teachers", [])) or "noteachers"
    scheme = values.get("scheme", {}).get("name", "minmax")
    task = values.get("task", {}).get("name", "digits_cnn")
    student = values.get("student", {}).get("name", "rnnprop")
    return f"{task}-{student}-{scheme}-{teachers}-seed{values.get('seed', 0)}"


def _prepare_folder(folder: ExperimentFolder, config: dict[str, Any], resume: bool) -> bool:
    """Check the folder can take this run (writing its config if new); True when it already
    holds this run, finished."""
    try:
        return _check_folder(folder, config, resume)
    except OSError as error:
        raise ExperimentError(f"cannot use {folder.path} as the run folder: {error}") from None


def _check_folder(folder: ExperimentFolder, config: dict[str, Any], resume: bool) -> bool:
    if folder.path.exists() and not folder.path.is_dir():
        raise ExperimentError(f"{folder.path} is a file, not a folder; choose another --out")
    if folder.exists():
        saved = folder.read_config()
        if saved == config and folder.read_result() is not None:
            return True
        if resume:
            if saved != config:
                changed = sorted(
                    key for key in set(saved) | set(config) if saved.get(key) != config.get(key)
                )
                raise ExperimentError(
                    f"{folder.path} holds a run whose config differs in {', '.join(changed)}; "
                    "resume it with the command that started it, or with --resume alone"
                )
            return False
        what = "this run, unfinished" if saved == config else "a different run"
        raise ExperimentError(
            f"{folder.path} already holds {what}; --resume continues it, or choose another "
            "--out or --name (nothing was overwritten)"
        )
    if resume:
        raise ExperimentError(f"nothing to resume: {folder.path} holds no run")
    if folder.path.exists() and any(folder.path.iterdir()):
        raise ExperimentError(
            f"{folder.path} exists and is not an amalg run folder; choose another --out"
        )
    folder.write_config(config)
    return False


@reports_errors
def run(
    teacher: Annotated[
        list[str] | None, typer.Option("--teacher", help="A teacher (repeat for several).")
    ] = None,
    scheme: Annotated[
        str | None, typer.Option(help="Amalgamation scheme (default: minmax).")
    ] = None,
    student: Annotated[str | None, typer.Option(help="Student (default: rnnprop).")] = None,
    task: Annotated[str | None, typer.Option(help="Task (default: digits_cnn).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy (default: curriculum).")] = None,
    estimator: Annotated[
        str | None, typer.Option(help="Meta-gradient estimator (default: tbptt).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the run (default: 0).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Experiment folder (default: results/NAME).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Run name (the folder under results/).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override a setting: KIND.NAME.FIELD=VALUE or SECTION.FIELD=VALUE."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A run config (JSON or TOML; a run's config.json).")
    ] = None,
    quick: Annotated[bool, typer.Option(help="A tiny budget for smoke runs.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue the run in the folder.")] = False,
) -> None:
    """Distill teachers into a student, then compare them on the task's validation split."""
    components = {
        "scheme": scheme,
        "student": student,
        "task": task,
        "strategy": strategy,
        "estimator": estimator,
    }
    bare_resume = resume and not any(
        [teacher, *components.values(), seed is not None, set_, config, quick]
    )
    if bare_resume and (out is not None or name is not None):
        folder = ExperimentFolder(out or Path("results") / str(name))
        if not folder.exists():
            raise ExperimentError(f"nothing to resume: {folder.path} holds no run")
        values = folder.read_config()
    else:
        values = build_values(
            teachers=teacher or [],
            components=components,
            seed=seed,
            name=name,
            overrides=set_ or [],
            config_file=config,
            quick=quick,
        )
    resolved, parts = resolve(values)
    if out is None and (not resolved.name or Path(resolved.name).name != resolved.name):
        raise ConfigError("the run", [("name", "must be a plain folder name (no '/' or '..')")])
    config_dict = resolved.model_dump(mode="json")
    folder = ExperimentFolder(out or Path("results") / resolved.name)
    console = Console()
    if _prepare_folder(folder, config_dict, resume):
        done = folder.read_result() or {}
        console.print(Text(f"{folder.path} already holds this run, finished:", style="dim"))
        console.print(_result_table(done.get("rows", []), resolved.task.name, resolved.evaluation))
        return

    view = _RunView(console)
    trainer = Trainer(resolved, parts, folder, view.on_event)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with view:
            result = trainer.run(resume=resume)
    except KeyboardInterrupt:
        message = "interrupted; the last finished period is saved: amalg run --resume --out"
        raise fail(f"{message} {folder.path}", 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print(_result_table(result.rows, resolved.task.name, resolved.evaluation))
    console.print(
        Text(f"results in {folder.path} (final student: {result.checkpoint})", style="dim")
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class _RunView:
    """Rich progress for the trainer's events."""

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

    def __exit__(self, *args: object) -> None:
        self.progress.__exit__(*args)

    def on_event(self, event: Event) -> None:
        data = event.data
        if event.name == "start" and data.get("resumed_from"):
            self.console.print(Text(f"resuming after {data['resumed_from']}", style="dim"))
        elif event.name == "trajectory":
            if self.bar is None:
                self.bar = self.progress.add_task("", total=data["trajectories"])
            imitation = " ".join(f"{k} {v:.2f}" for k, v in data["imitation"].items())
            self.progress.update(
                self.bar,
                completed=data["trajectory"],
                total=data["trajectories"],
                description=(
                    f"stage {data['stage']} period {data['period']} unroll {data['unroll']}"
                    f" | meta-loss {data['meta_loss']:.3f}"
                    + (f" | imitation {imitation}" if imitation else "")
                ),
            )
        elif event.name == "period":
            if self.bar is not None:
                self.progress.remove_task(self.bar)
                self.bar = None
            imitation = " ".join(
                f"{key.removeprefix('imitation_')} {value:.2f}"
                for key, value in data.items()
                if key.startswith("imitation_")
            )
            line = (
                f"stage {data['stage']} period {data['period']} unroll {data['unroll']}: "
                f"meta-loss {data['meta_loss']:.3f}"
                + (f", imitation {imitation}" if imitation else "")
                + f", validation {data['validation']:.4f}"
                + (" (best)" if data["new_best"] else "")
                + (" -> stage over, best reloaded" if data["reloaded"] else "")
            )
            if data["nonfinite"]:
                line += f", {data['nonfinite']} non-finite truncations discarded so far"
            self.console.print(Text(line))
        elif event.name == "evaluation":
            self.bar = self.progress.add_task(
                "evaluating student and teachers", total=data["total"]
            )
        elif event.name == "evaluation_step" and self.bar is not None:
            self.progress.advance(self.bar)
        elif event.name == "done" and self.bar is not None:
            self.progress.remove_task(self.bar)
            self.bar = None


def _result_table(rows: list[dict[str, Any]], task: str, evaluation: Any) -> Table:
    table = Table(
        title=f"{task}: {evaluation.horizon} steps, {evaluation.seeds} seeds (mean ± std)",
        title_justify="left",
    )
    table.add_column("optimizer", style="bold")
    table.add_column("role")
    table.add_column("best validation loss", justify="right")
    table.add_column("final training loss", justify="right")
    table.add_column("test loss at best validation", justify="right")
    accuracy = any("best_validation_accuracy" in row for row in rows)
    if accuracy:
        table.add_column("best validation accuracy", justify="right")
    for row in rows:
        cells = [
            row["optimizer"],
            row["role"],
            _pm(row["best_validation_loss"], row["best_validation_loss_std"]),
            _pm(row["final_train_loss"], row["final_train_loss_std"]),
            f"{row.get('test_loss_at_best_validation', math.nan):.4f}",
        ]
        if accuracy:
            cells.append(f"{row.get('best_validation_accuracy', math.nan):.3f}")
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _pm(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "diverged"
    return f"{mean:.4f} ± {std:.4f}"
