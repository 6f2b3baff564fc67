"""``amalg run``: distill teachers into a student (meta-training), then compare them.

The component options (``--teacher``, ``--scheme``, ...) are made from the run-kinds table
(:data:`amalg.core.runconfig.RUN_KINDS`): a kind added there is an option here.
"""

from __future__ import annotations

import inspect
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.text import Text

from amalg.cli.errors import fail, reports_errors
from amalg.cli.views import ProgressView, comparison_tables
from amalg.core.analysis.tuning import TuningStore
from amalg.core.device import worker_device
from amalg.core.errors import ConfigError
from amalg.core.pools import pool_teachers
from amalg.core.registry import get_registry
from amalg.core.run_folder import Claim, RunFolder, RunFolderError
from amalg.core.runconfig import (
    RUN_KINDS,
    RunKind,
    apply_overrides,
    apply_quick,
    check_run_name,
    default_run_name,
    read_config_file,
    validate_run_config,
)
from amalg.core.suites import expand_tasks
from amalg.core.training.build import build_run
from amalg.core.training.launch import start_workers, stop_workers
from amalg.core.training.learning_rates import tune_teachers
from amalg.core.training.run import execute
from amalg.core.training.workers import SOLO, count_workers, join


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
    suites: list[str] | None = None,
    tune: bool = True,
    pool: str | None = None,
) -> dict[str, Any]:
    """The run config the command line asks for, before validation: the config file, then
    the component options, the seed, the held-out suites, ``--no-tune``, ``--quick`` presets
    and ``--set`` overrides."""
    if pool is not None:
        if chosen.get("teacher"):
            raise ConfigError(
                "the run", [("--pool", "give the teachers with --pool or with --teacher, not both")]
            )
        chosen = {**chosen, "teacher": pool_teachers(pool)}
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
    if suites:
        evaluation = values.setdefault("evaluation", {})
        if isinstance(evaluation, dict):
            given = evaluation.get("tasks", [])
            evaluation["tasks"] = expand_tasks(given if isinstance(given, list) else [], suites)
    if not tune:
        tuning = values.setdefault("tuning", {})
        if isinstance(tuning, dict):
            tuning["enabled"] = False
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
        "pool",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                help="The teachers of a pool instead of --teacher: small (adam, rmsprop) or "
                "large (adam, rmsprop, sgd, momentum, addsign, powersign)."
            ),
        ],
    ),
    inspect.Parameter(
        "suite",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            list[str] | None,
            typer.Option(
                help="Also compare on every task of this suite (digits, paper); repeatable."
            ),
        ],
    ),
    inspect.Parameter(
        "tune",
        inspect.Parameter.KEYWORD_ONLY,
        default=True,
        annotation=Annotated[
            bool,
            typer.Option(
                help="Give each teacher its tuned learning rate on each task (tuning it first "
                "when none is stored); --no-tune keeps the teachers' defaults."
            ),
        ],
    ),
    inspect.Parameter(
        "tuning_dir",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Option(help="Stored tunings (default: $AMALG_TUNING_DIR, else results/tuning)."),
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
    inspect.Parameter(
        "device",
        inspect.Parameter.KEYWORD_ONLY,
        default="cpu",
        annotation=Annotated[
            str,
            typer.Option(
                help="Where meta-training and evaluation compute: cpu or cuda (cuda:N). Not "
                "part of the run: a run may be resumed on another device.",
            ),
        ],
    ),
    inspect.Parameter(
        "workers",
        inspect.Parameter.KEYWORD_ONLY,
        default=1,
        annotation=Annotated[
            int,
            typer.Option(
                min=1,
                max=256,
                help="Processes meta-training is spread over (torch.distributed, gloo on CPU): "
                "each meta-step's trajectories (meta_optimizer.batch, a multiple of the workers) "
                "are dealt out; the result is the single process's.",
            ),
        ],
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
        [
            *chosen.values(),
            options["seed"] is not None,
            options["set_"],
            options["config"],
            options["suite"],
            options["pool"],
            not options["tune"],
        ]
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
            suites=options["suite"],
            tune=options["tune"],
            pool=options["pool"],
        )
    console = Console()
    view = ProgressView(console)
    store = TuningStore(options["tuning_dir"])
    # Every mistake is found before the teachers are tuned (which may take a minute).
    count = count_workers(options["workers"], validate_run_config(values).meta_optimizer.batch)
    device = worker_device(options["device"], count, int(os.environ.get("LOCAL_RANK", "0")))
    checked, _ = build_run(values, device=device)
    folder = RunFolder(out if out is not None else Path("results") / checked.name)
    launched = join(device)  # one of the processes torchrun started, or the single process
    if not launched.main:
        # Worker 0 tunes, claims and prints; the others take its resolved run.
        values, resume_run = cast(tuple[dict[str, Any], bool], launched.share(None))
        config, components = build_run(values, device=device)
        execute(config, components, folder, resume=resume_run, workers=launched)
        return
    folder.precheck()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = False
    try:
        with view:
            values = tune_teachers(values, store=store, on_event=view.on_event)
        config, components = build_run(values, device=device)
        claim = folder.claim(config.model_dump(mode="json"), resume)
        started = True
        if launched.size > 1:
            launched.share((values, claim is Claim.RESUME))
            workers = launched
        elif count > 1 and claim is not Claim.FINISHED:
            spec = {
                "values": values,
                "folder": str(folder.path),
                "resume": claim is Claim.RESUME,
                "device": options["device"],
            }
            workers = start_workers(count, spec, device, on_failure=_worker_failed(folder))
        else:
            workers = SOLO
        if claim is Claim.FINISHED:
            workers.finish()  # torchrun's other processes found it finished too
            tasks, _ = folder.read_result() or ([], "")
            console.print(Text(f"{folder.path} already holds this run, finished:", style="dim"))
            for table in comparison_tables(tasks, config):
                console.print(table)
            return
        with view:
            result = execute(
                config,
                components,
                folder,
                resume=claim is Claim.RESUME,
                on_event=view.on_event,
                workers=workers,
            )
        assert result is not None  # worker 0 evaluates
    except KeyboardInterrupt:
        if not started:
            message = "interrupted before the run began; finished tunings are stored: run again"
        else:
            message = (
                "interrupted; the last finished period is saved: amalg run --resume --out "
                f"{folder.path}"
            )
        raise fail(message, 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_workers()
    for table in comparison_tables(result.tasks, config):
        console.print(table)
    console.print(
        Text(f"results in {folder.path} (final student: {result.checkpoint})", style="dim")
    )


run.__signature__ = inspect.Signature(_OPTIONS, return_annotation=None)  # type: ignore[attr-defined]
run.__annotations__ = {parameter.name: parameter.annotation for parameter in _OPTIONS}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _worker_failed(folder: RunFolder) -> Callable[[str], None]:
    def report(message: str) -> None:
        typer.echo(
            f"error: {message}; the last finished period is saved: amalg run --resume "
            f"--out {folder.path}",
            err=True,
        )

    return report
