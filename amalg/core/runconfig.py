"""The run config: which components a run uses, with what settings, and how overrides
(``--set``, ``--config``) are applied and validated before any work starts."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from amalg.core.config import ComponentConfig, problems_from_validation_error
from amalg.core.engine import EngineConfig
from amalg.core.errors import ConfigError

__all__ = [
    "Choice",
    "EvaluationConfig",
    "MetaOptimizerConfig",
    "RunConfig",
    "apply_overrides",
    "read_config_file",
    "validate_run_config",
]

SINGLE_KINDS = ("task", "student", "scheme", "strategy", "estimator")
SECTIONS = ("engine", "meta_optimizer", "evaluation")


class Choice(BaseModel):
    """A component by name, with its config (missing fields take their defaults)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    config: dict[str, Any] = Field(default_factory=dict)


class MetaOptimizerConfig(ComponentConfig):
    lr: float = Field(1e-3, gt=0, description="Adam learning rate for phi.")
    clip_norm: float = Field(
        1.0, gt=0, description="The meta-gradient is clipped to this global L2 norm."
    )


class EvaluationConfig(ComponentConfig):
    horizon: int = Field(500, ge=1, description="Training steps of each evaluation run.")
    seeds: int = Field(3, ge=1, description="Evaluation runs per optimizer.")
    every: int | None = Field(
        None, ge=1, description="Steps between validations; none: once per epoch."
    )


class RunConfig(ComponentConfig):
    name: str = Field(description="The run's name (its folder under results/ by default).")
    seed: int = Field(0, ge=0, description="Seed of every random choice of the run.")
    task: Choice = Field(default_factory=lambda: Choice(name="digits_cnn"))
    student: Choice = Field(default_factory=lambda: Choice(name="rnnprop"))
    teachers: list[Choice] = Field(default_factory=list)
    scheme: Choice = Field(default_factory=lambda: Choice(name="minmax"))
    strategy: Choice = Field(default_factory=lambda: Choice(name="curriculum"))
    estimator: Choice = Field(default_factory=lambda: Choice(name="tbptt"))
    engine: EngineConfig = Field(default_factory=EngineConfig)
    meta_optimizer: MetaOptimizerConfig = Field(default_factory=MetaOptimizerConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A run config from a JSON or TOML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"file {path}", [("(file)", str(error.strerror or error))]) from None
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(
            f"file {path}", [("(file)", f"not valid {path.suffix[1:]}: {error}")]
        ) from None


def _parse_value(text: str) -> Any:
    """``--set`` values: JSON when they parse as JSON (numbers, lists, true), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``config`` with ``--set key=value`` overrides applied.

    Keys: ``KIND.NAME.FIELD`` for a component the run uses (``teacher.adam.lr``,
    ``strategy.curriculum.trajectories``), ``SECTION.FIELD`` for ``engine``,
    ``meta_optimizer`` and ``evaluation``, or ``seed``. Values are validated with the rest of
    the config; a key that names nothing the run has is refused here.
    """
    result = json.loads(json.dumps(config))
    for item in overrides:
        key, equals, raw = item.partition("=")
        if not equals or not key:
            raise ConfigError("--set", [(item, "expected KEY=VALUE, e.g. teacher.adam.lr=0.002")])
        value = _parse_value(raw)
        parts = key.split(".")
        if parts == ["seed"]:
            result["seed"] = value
        elif parts[0] in SECTIONS and len(parts) == 2:
            result.setdefault(parts[0], {})[parts[1]] = value
        elif parts[0] in (*SINGLE_KINDS, "teacher") and len(parts) == 3:
            _set_component(result, parts[0], parts[1], parts[2], value, key)
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


def _set_component(
    config: dict[str, Any], kind: str, name: str, field: str, value: Any, key: str
) -> None:
    if kind != "teacher" and kind not in config:
        # Not chosen explicitly: the run uses the default component.
        config[kind] = RunConfig.model_fields[kind].default_factory().model_dump()
    choices = config.get("teachers", []) if kind == "teacher" else [config[kind]]
    for choice in choices:
        if choice.get("name") == name:
            choice.setdefault("config", {})[field] = value
            return
    used = ", ".join(choice.get("name", "?") for choice in choices) or "none"
    raise ConfigError("--set", [(key, f"the run has no {kind} {name!r} (it has: {used})")])


def validate_run_config(values: dict[str, Any]) -> RunConfig:
    """The run config, validated; a bad value raises :class:`ConfigError` naming it."""
    try:
        return RunConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError("the run", problems_from_validation_error(error, RunConfig)) from None
