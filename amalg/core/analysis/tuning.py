"""Tuning teachers: the learning-rate grid search of Huang et al. 2022 (Section 5, Appendix
C.2), and the store where its results are found again.

For a task and a teacher (its config but the learning rate), every learning rate of the grid
trains the task for ``horizon`` steps from the same warm start as meta-training, on
``seeds`` batch streams addressed by ``(0, "tuning", i)`` (the same for every teacher and
every run, and apart from the evaluation seeds); its score is the mean over seeds of the best
log validation loss (+inf if a seed diverged). The best score's learning rate is chosen; one
on the edge of the grid is flagged, since the best may lie beyond it.

A tuning is stored as JSON under a key of everything it depends on (task and its config,
teacher and its config without lr, horizon, seeds, warmup, grid), so a changed task config or
horizon is never answered from another tuning.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from amalg.core.analysis.evaluation import evaluate
from amalg.core.analysis.statistics import best_log_validation_loss
from amalg.core.errors import AmalgError
from amalg.core.interfaces import Task, Teacher
from amalg.core.registry import Registry, get_registry
from amalg.core.run_folder import atomic_write
from amalg.core.seeds import derive_seed
from amalg.core.warm_start import warm_start

__all__ = [
    "TUNING_DIR_ENV",
    "Tuning",
    "TuningError",
    "TuningRequest",
    "TuningStore",
    "default_store",
    "request_for",
    "run_tuning",
]

TUNING_DIR_ENV = "AMALG_TUNING_DIR"


def default_store() -> Path:
    """``$AMALG_TUNING_DIR``, else ``results/tuning`` under the current folder (beside the
    runs it serves)."""
    return Path(os.environ.get(TUNING_DIR_ENV, "").strip() or Path("results") / "tuning")


class TuningError(AmalgError):
    """A teacher cannot be tuned, or a stored tuning cannot be read."""


def _digest(values: Mapping[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class TuningRequest:
    """Everything a tuning depends on."""

    task: str
    task_config: dict[str, Any]
    teacher: str
    teacher_config: dict[str, Any]
    """The teacher's config without its learning rate."""
    horizon: int
    seeds: int
    warmup_steps: int
    warmup_lr: float
    grid: tuple[float, ...]

    @property
    def key(self) -> str:
        """``TASK-TEACHER-DIGEST``: a file name, readable, and different for any change."""
        return f"{self.task}-{self.teacher}-{_digest(asdict(self))}"


@dataclass(frozen=True)
class Tuning:
    """A finished grid search."""

    request: TuningRequest
    scores: tuple[float, ...]
    """Per learning rate: the mean over seeds of the best log validation loss."""
    per_seed: tuple[tuple[float, ...], ...]
    """Per learning rate, per seed."""
    best_lr: float
    on_edge: bool
    """The best learning rate is the grid's smallest or largest: the optimum may lie beyond."""
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["request"]["grid"] = list(self.request.grid)
        data["scores"] = [_json_number(score) for score in self.scores]
        data["per_seed"] = [[_json_number(v) for v in row] for row in self.per_seed]
        return {"amalg": "tuning/1", **data}

    @classmethod
    def from_dict(cls, data: Any) -> Tuning:
        if not (isinstance(data, dict) and data.get("amalg") == "tuning/1"):
            raise ValueError("it is not an amalg tuning")
        try:
            request = dict(data["request"])
            request["grid"] = tuple(float(v) for v in request["grid"])
            return cls(
                request=TuningRequest(**request),
                scores=tuple(_number(v) for v in data["scores"]),
                per_seed=tuple(tuple(_number(v) for v in row) for row in data["per_seed"]),
                best_lr=float(data["best_lr"]),
                on_edge=bool(data["on_edge"]),
                notes=tuple(str(note) for note in data.get("notes", ())),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"it is damaged ({type(error).__name__}: {error})") from None


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def request_for(
    task: Task[Any],
    teacher: str,
    teacher_config: Mapping[str, Any],
    horizon: int,
    seeds: int,
    grid: tuple[float, ...],
    warmup_steps: int = 100,
    warmup_lr: float = 0.01,
    registry: Registry | None = None,
) -> TuningRequest:
    """The request for tuning ``teacher`` (with ``teacher_config``, its lr ignored) on
    ``task``; :class:`TuningError` if the teacher has no learning rate."""
    info = (registry or get_registry()).get("teacher", teacher)
    if "lr" not in info.config_class.model_fields:
        raise TuningError(f"teacher {teacher!r} has no learning rate (lr) to tune")
    settings = {key: value for key, value in teacher_config.items() if key != "lr"}
    resolved = info.config_class.model_validate({**settings}).model_dump(mode="json")
    resolved.pop("lr", None)
    return TuningRequest(
        task=task.name,
        task_config=task.config.model_dump(mode="json"),
        teacher=teacher,
        teacher_config=resolved,
        horizon=horizon,
        seeds=seeds,
        warmup_steps=warmup_steps,
        warmup_lr=warmup_lr,
        grid=tuple(grid),
    )


def run_tuning(
    request: TuningRequest,
    task: Task[Any],
    registry: Registry | None = None,
    on_step: Callable[[], None] | None = None,
) -> Tuning:
    """The grid search of ``request`` on ``task`` (``len(grid) * seeds * horizon`` steps)."""
    registry = registry or get_registry()
    seeds = [derive_seed(0, "tuning", i) for i in range(request.seeds)]
    every = getattr(task, "batches_per_epoch", lambda split: 10)("train")

    def start(seed: int) -> Any:
        return warm_start(task, seed, request.warmup_steps, request.warmup_lr)

    per_seed = []
    for lr in request.grid:
        teacher = cast(
            Teacher[Any],
            registry.create("teacher", request.teacher, **request.teacher_config, lr=lr),
        )
        curves = evaluate(
            task, teacher, start, seeds, request.horizon, every, on_step, validation_only=True
        )
        per_seed.append(tuple(float(v) for v in best_log_validation_loss(curves)))
    scores = tuple(float(np.mean(row)) for row in per_seed)
    # -inf is a score too: a loss of exactly 0 (a learning rate that solves the task).
    finite = [index for index, score in enumerate(scores) if score < math.inf]
    if not finite:
        raise TuningError(
            f"teacher {request.teacher!r} diverged on {request.task!r} at every learning rate "
            f"of the grid ({min(request.grid)} to {max(request.grid)}); give it a smaller grid"
        )
    best = min(finite, key=lambda index: scores[index])
    on_edge = len(request.grid) > 1 and best in (0, len(request.grid) - 1)
    notes: tuple[str, ...] = ()
    if on_edge:
        side = "smallest" if best == 0 else "largest"
        notes = (f"the best learning rate is the grid's {side}: the optimum may lie beyond it",)
    return Tuning(request, scores, tuple(per_seed), request.grid[best], on_edge, notes)


class TuningStore:
    """Stored tunings, one JSON file each, under ``folder`` (default: :func:`default_store`)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_store()

    def path(self, request: TuningRequest) -> Path:
        return self.folder / f"{request.key}.json"

    def find(self, request: TuningRequest) -> Tuning | None:
        """The stored tuning of ``request``, or None; a damaged file is one clear error."""
        path = self.path(request)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
            tuning = Tuning.from_dict(data)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
            raise TuningError(
                f"stored tuning {path} cannot be read ({error}); delete it to tune again"
            ) from None
        if tuning.request != request:
            raise TuningError(f"stored tuning {path} is of another request; delete it")
        return tuning

    def save(self, tuning: Tuning) -> Path:
        path = self.path(tuning.request)
        text = json.dumps(tuning.to_dict(), indent=2) + "\n"
        try:
            atomic_write(path, lambda file: file.write(text))
        except OSError as error:
            raise TuningError(
                f"cannot store the tuning in {self.folder}: {error.strerror or error}"
            ) from None
        return path
