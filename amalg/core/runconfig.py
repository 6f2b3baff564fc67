"""The run config: which components a run uses, with what settings, and how overrides
(``--set``, ``--config``, ``--quick``) are applied and validated before any work starts.

:data:`RUN_KINDS` is the one table of the component kinds a run is made of. The config model,
the building of components, the ``amalg run`` options, ``--set`` keys, ``--quick`` presets
and the default run name are all derived from it: giving runs a new kind of component is one
entry here (and the call site that uses it).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from amalg.core.config import (
    MAX_COUNT,
    MAX_STEPS,
    ComponentConfig,
    problems_from_validation_error,
)
from amalg.core.engine import EngineConfig
from amalg.core.errors import ConfigError

if TYPE_CHECKING:
    from amalg.core.registry import Registry

__all__ = [
    "PAPER_GRID",
    "RUN_KINDS",
    "SECTIONS",
    "Choice",
    "EvaluationConfig",
    "LearningRateSource",
    "MetaOptimizerConfig",
    "RunConfig",
    "RunKind",
    "TuningConfig",
    "apply_overrides",
    "apply_quick",
    "check_run_name",
    "default_run_name",
    "parse_value",
    "read_config_file",
    "run_kind",
    "validate_run_config",
]


@dataclass(frozen=True)
class RunKind:
    """A kind of component in a run."""

    kind: str
    """The registry kind (``amalg list KIND``)."""
    field: str
    """The run config's field, and the root of its ``--set`` keys' component part."""
    default: str | None
    """The component a run uses when none is chosen; None: none (an optional slot)."""
    help: str
    many: bool = False
    """A list of components (``--teacher`` repeated), each with a unique label."""
    in_name: bool = True
    """Part of the default run name ``task-student-scheme-teachers[-perturbation]-seedN``."""

    @property
    def option(self) -> str:
        """The ``amalg run`` option that chooses it."""
        return f"--{self.kind}"


RUN_KINDS: tuple[RunKind, ...] = (
    RunKind("task", "task", "digits_cnn", "The task (optimizee) to meta-train on."),
    RunKind("student", "student", "rnnprop", "The learned optimizer to train."),
    RunKind("scheme", "scheme", "minmax", "How the teachers enter the meta-objective."),
    RunKind(
        "teacher",
        "teachers",
        None,
        "A teacher; repeat for several, NAME:LABEL to use one twice with other settings.",
        many=True,
    ),
    RunKind(
        "perturbation",
        "perturbation",
        None,
        "Noise on the student's weights or inputs during meta-training (default: none; "
        "'none' clears one a config file sets).",
    ),
    RunKind("strategy", "strategy", "curriculum", "The outer schedule.", in_name=False),
    RunKind("estimator", "estimator", "tbptt", "The meta-gradient estimator.", in_name=False),
)

_LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def run_kind(kind: str) -> RunKind:
    """The row of :data:`RUN_KINDS` for ``kind``."""
    for row in RUN_KINDS:
        if row.kind == kind:
            return row
    raise KeyError(kind)


class Choice(BaseModel):
    """A component by name, with its config (missing fields take their defaults) and an
    optional label that tells apart two uses of one component (two Adams)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The registered component name.")
    label: str | None = Field(
        None, description="A name for this use of the component (default: its name)."
    )
    config: dict[str, Any] = Field(default_factory=dict, description="Its config fields.")

    @field_validator("label")
    @classmethod
    def _plain_label(cls, label: str | None) -> str | None:
        if label is not None and not _LABEL.match(label):
            raise ValueError(
                f"label {label!r} must be lowercase letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
        return label

    @property
    def key(self) -> str:
        """How the run refers to it: its label, else its name."""
        return self.label or self.name


class MetaOptimizerConfig(ComponentConfig):
    lr: float = Field(1e-3, gt=0, description="Adam learning rate for phi.")
    clip_norm: float = Field(
        1.0, gt=0, description="The meta-gradient is clipped to this global L2 norm."
    )
    clip_value: float | None = Field(
        None,
        gt=0,
        description="Each meta-gradient value is first clipped to [-c, c] (Metz et al. 2022: "
        "3.0); none: not.",
    )
    batch: int = Field(
        1,
        ge=1,
        le=MAX_COUNT,
        description="Trajectories that step together: their truncations' meta-gradients are "
        "averaged into one meta-step (1: every truncation is a step). amalg run --workers "
        "deals them out to processes.",
    )

    @model_serializer(mode="wrap")
    def _batch_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out at its default, so configs saved before it existed still match theirs.
        data: dict[str, Any] = handler(self)
        if data.get("batch") == 1:
            del data["batch"]
        return data


class EvaluationConfig(ComponentConfig):
    horizon: int = Field(
        500, ge=1, le=MAX_STEPS, description="Training steps of each evaluation run."
    )
    seeds: int = Field(3, ge=1, le=MAX_COUNT, description="Evaluation runs per optimizer.")
    every: int | None = Field(
        None, ge=1, le=MAX_STEPS, description="Steps between validations; none: once per epoch."
    )
    tasks: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Held-out tasks the final comparison also runs on (amalg run --suite).",
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {"horizon": 60, "seeds": 2}


PAPER_GRID: tuple[float, ...] = (5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
"""Huang et al. 2022, Section 5: every teacher's learning rate is chosen on this grid."""


class LearningRateSource(BaseModel):
    """A teacher's learning rate in a run and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lr: float = Field(gt=0, description="The learning rate used.")
    source: str = Field(description="tuned (and the stored tuning), set, or a default.")


class TuningConfig(ComponentConfig):
    enabled: bool = Field(
        True,
        description="Tune each teacher's learning rate for each task the run trains or "
        "evaluates on, unless set (false: --no-tune, the teachers' defaults).",
    )
    grid: list[Annotated[float, Field(gt=0)]] = Field(
        list(PAPER_GRID), min_length=1, max_length=100, description="Learning rates tried."
    )
    horizon: int | None = Field(
        None,
        ge=1,
        le=MAX_STEPS,
        description="Training steps of each trial; none: the run's evaluation horizon.",
    )
    seeds: int = Field(
        2, ge=1, le=MAX_COUNT, description="Trials per learning rate (2: the main job's budget)."
    )
    learning_rates: dict[str, dict[str, LearningRateSource]] = Field(
        default_factory=dict,
        description="Filled in by the run: per task, each teacher's learning rate and source.",
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {"seeds": 1}


SECTIONS: dict[str, type[ComponentConfig]] = {
    "engine": EngineConfig,
    "meta_optimizer": MetaOptimizerConfig,
    "evaluation": EvaluationConfig,
    "tuning": TuningConfig,
}
"""The run's own settings beside its components: ``--set SECTION.FIELD=VALUE``."""

_FOLDER_NAME = re.compile(r"^[^/\\\x00-\x1f]+$")


def _name_problem(name: str) -> str:
    if (
        not name.strip()
        or name != name.strip()
        or name in (".", "..")
        or not _FOLDER_NAME.match(name)
        or len(name) > 200
    ):
        return (
            f"{name!r} is not a plain folder name: give a non-blank name without '/', "
            "not '.' or '..' (or choose the folder with --out)"
        )
    return ""


def check_run_name(name: str) -> str:
    """``name`` if it can be a run's folder under ``results/``; ConfigError otherwise."""
    problem = _name_problem(name)
    if problem:
        raise ConfigError("the run", [("name", problem)])
    return name


class RunSettings(ComponentConfig):
    """The settings every run has; :data:`RunConfig` adds a field per row of RUN_KINDS."""

    name: str = Field(
        description="The run's name (its folder under results/ by default).", max_length=200
    )
    seed: int = Field(0, ge=0, le=2**62, description="Seed of every random choice of the run.")
    engine: EngineConfig = Field(default_factory=lambda: EngineConfig())
    meta_optimizer: MetaOptimizerConfig = Field(default_factory=lambda: MetaOptimizerConfig())
    evaluation: EvaluationConfig = Field(default_factory=lambda: EvaluationConfig())
    tuning: TuningConfig = Field(default_factory=lambda: TuningConfig())

    @model_validator(mode="before")
    @classmethod
    def _moved_settings(cls, values: Any) -> Any:
        engine = values.get("engine") if isinstance(values, dict) else None
        if isinstance(engine, dict) and "random_scaling" in engine:
            raise ValueError(
                "engine.random_scaling is now a setting of the student that uses it: "
                "student.rnnprop.random_scaling"
            )
        return values

    @field_validator("name")
    @classmethod
    def _plain_folder_name(cls, name: str) -> str:
        problem = _name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    def choices(self, kind: str) -> list[Choice]:
        """The run's choices of ``kind`` (none, one, or several for teachers)."""
        value = getattr(self, run_kind(kind).field)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

    def choice(self, kind: str) -> Choice:
        """The run's one component of a single kind (``task``, ``student``, ...)."""
        value = getattr(self, run_kind(kind).field)
        if not isinstance(value, Choice):
            raise KeyError(f"the run has no single {kind}")
        return value


def _slot(row: RunKind) -> tuple[Any, Any]:
    description = row.help
    if row.many:
        return list[Choice], Field(default_factory=list, description=description)
    if row.default is None:
        return Choice | None, Field(None, description=description)
    default = row.default
    return Choice, Field(default_factory=lambda: Choice(name=default), description=description)


RunConfig: type[RunSettings] = create_model(  # type: ignore[call-overload]
    "RunConfig",
    __base__=RunSettings,
    __doc__="A run: its settings and, per row of RUN_KINDS, the components it uses.",
    __module__=__name__,
    **{row.field: _slot(row) for row in RUN_KINDS},
)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A run config from a JSON or TOML file."""
    path = Path(path)
    subject = f"file {path}"
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(subject, [("(file)", str(error.strerror or error))]) from None
    except UnicodeDecodeError:
        raise ConfigError(
            subject, [("(file)", "not UTF-8 text: expected a JSON or TOML run config")]
        ) from None
    try:
        values = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "toml" if path.suffix.lower() == ".toml" else "json"
        raise ConfigError(subject, [("(file)", f"not valid {kind}: {error}")]) from None
    if not isinstance(values, dict):
        raise ConfigError(subject, [("(file)", "expected a table of settings")])
    return values


def parse_value(text: str) -> Any:
    """``--set`` values: JSON when they parse as JSON (numbers, lists, true), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``config`` with ``--set key=value`` overrides applied.

    Keys: ``KIND.KEY.FIELD`` for a component the run uses, KEY being its label or name
    (``teacher.adam.lr``, ``strategy.curriculum.trajectories``), ``SECTION.FIELD`` for
    ``engine``, ``meta_optimizer`` and ``evaluation``, or ``seed``. Values are validated with
    the rest of the config; a key that names nothing the run has is refused here.
    """
    result = json.loads(json.dumps(config))
    kinds = {row.kind: row for row in RUN_KINDS}
    for item in overrides:
        key, equals, raw = item.partition("=")
        if not equals or not key:
            raise ConfigError("--set", [(item, "expected KEY=VALUE, e.g. teacher.adam.lr=0.002")])
        value = parse_value(raw)
        parts = key.split(".")
        if parts == ["seed"]:
            result["seed"] = value
        elif parts[0] in SECTIONS and len(parts) == 2:
            section = result.setdefault(parts[0], {})
            if not isinstance(section, dict):
                raise ConfigError("--set", [(key, f"{parts[0]} is not a table in the config")])
            section[parts[1]] = value
        elif parts[0] in kinds and len(parts) == 3:
            _set_component(result, kinds[parts[0]], parts[1], parts[2], value, key)
        else:
            raise ConfigError(
                "--set",
                [
                    (
                        key,
                        "unknown key; use KIND.NAME.FIELD (teacher.adam.lr), "
                        f"SECTION.FIELD ({', '.join(SECTIONS)}) or seed",
                    )
                ],
            )
    return result


def _components(config: dict[str, Any], row: RunKind) -> list[dict[str, Any]]:
    """The config's choices of one kind as mutable dicts, the default filled in when absent."""
    if row.field not in config and row.default is not None:
        config[row.field] = {"name": row.default, "config": {}}
    value = config.get(row.field)
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _set_component(
    config: dict[str, Any], row: RunKind, key_name: str, field: str, value: Any, key: str
) -> None:
    choices = _components(config, row)
    for choice in choices:
        if (choice.get("label") or choice.get("name")) == key_name:
            settings = choice.setdefault("config", {})
            if not isinstance(settings, dict):
                raise ConfigError("--set", [(key, f"the {row.kind}'s config is not a table")])
            settings[field] = value
            return
    used = ", ".join(str(c.get("label") or c.get("name", "?")) for c in choices) or "none"
    raise ConfigError("--set", [(key, f"the run has no {row.kind} {key_name!r} (it has: {used})")])


def apply_quick(config: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """``config`` with the smoke-run presets of its sections and components (each config
    class's :meth:`~amalg.core.config.ComponentConfig.quick`) under the values it sets."""
    result = json.loads(json.dumps(config))
    for section, model in SECTIONS.items():
        given = result.get(section)
        result[section] = {**model.quick(), **(given if isinstance(given, dict) else {})}
    for row in RUN_KINDS:
        for choice in _components(result, row):
            name = choice.get("name")
            if not isinstance(name, str):
                continue  # validation reports it
            preset = registry.get(row.kind, name).config_class.quick()
            given = choice.get("config")
            choice["config"] = {**preset, **(given if isinstance(given, dict) else {})}
    return result


def default_run_name(values: dict[str, Any]) -> str:
    """``TASK-STUDENT-SCHEME-TEACHERS[-PERTURBATION]-seedN`` from the kinds marked
    ``in_name``; a list with nothing chosen reads ``no<field>``."""
    parts = []
    for row in RUN_KINDS:
        if not row.in_name:
            continue
        value = values.get(row.field, None if row.default is None else {"name": row.default})
        items = value if isinstance(value, list) else [value] if value else []
        keys = [
            str(item.get("label") or item.get("name", "?"))
            for item in items
            if isinstance(item, dict)
        ]
        if keys:
            parts.append("-".join(keys))
        elif row.many:
            parts.append(f"no{row.field}")
    return "-".join([*parts, f"seed{values.get('seed', 0)}"])


def validate_run_config(values: dict[str, Any]) -> RunSettings:
    """The run config, validated; a bad value raises :class:`ConfigError` naming it."""
    try:
        return RunConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError("the run", problems_from_validation_error(error, RunConfig)) from None
