"""Stored evaluations: what ``amalg evaluate`` writes and ``amalg report`` reads.

::

    DIR/<task>/<source key>/source.json     the source, the task's config, the settings
    DIR/<task>/<source key>/repeat_NNN.npz  one repeat's arrays (kept: a resumed evaluation
                                            redoes no finished repeat)
    DIR/<task>/<source key>/curves.npz      all repeats, arrays shaped [repeat, ...]

Every repeat ``r`` starts from the warm start of seed ``derive_seed(seed, "evaluation", r)``
and walks that seed's batch stream, whatever the source: every optimizer is compared on the
same warm starts and batches. Settings that differ from those stored (steps, warmup, task
config) are refused rather than mixed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amalg.core.analysis.evaluation import Curves, evaluate_repeat
from amalg.core.errors import AmalgError
from amalg.core.functional import Params
from amalg.core.interfaces import Task, UpdateRule
from amalg.core.run_folder import atomic_write
from amalg.core.seeds import derive_seed
from amalg.core.warm_start import warm_start

__all__ = [
    "EVALUATIONS_DIR_ENV",
    "EvaluationError",
    "EvaluationSettings",
    "EvaluationStore",
    "StoredEvaluation",
    "default_evaluations",
]

EVALUATIONS_DIR_ENV = "AMALG_EVALUATIONS_DIR"


def default_evaluations() -> Path:
    """``$AMALG_EVALUATIONS_DIR``, else ``results/evaluations`` under the current folder."""
    return Path(os.environ.get(EVALUATIONS_DIR_ENV, "").strip() or Path("results") / "evaluations")


class EvaluationError(AmalgError):
    """Stored evaluations that cannot be used as asked."""


@dataclass(frozen=True)
class EvaluationSettings:
    """How every source of an evaluation trains each task."""

    steps: int
    every: int | None
    """Steps between evaluation points; None: once per epoch."""
    warmup_steps: int = 100
    warmup_lr: float = 0.01
    seed: int = 0


@dataclass(frozen=True)
class StoredEvaluation:
    """One source's evaluation on one task."""

    task: str
    key: str
    record: dict[str, Any]
    curves: Curves


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvaluationError(f"{path} cannot be read ({error}); delete it") from None


def _read_curves(path: Path) -> Curves:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return Curves.from_arrays(dict(arrays))
    except (OSError, ValueError, EOFError) as error:
        raise EvaluationError(f"{path} is damaged ({error}); delete it to redo it") from None


def _write_arrays(path: Path, curves: Curves) -> None:
    arrays: dict[str, Any] = dict(curves.arrays())

    def write(file: Any) -> None:
        np.savez(file, **arrays)

    atomic_write(path, write, binary=True)


class EvaluationStore:
    """Evaluations under ``folder`` (default :func:`default_evaluations`)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_evaluations()

    def place(self, task: str, key: str) -> Path:
        return self.folder / task / key

    def evaluate(
        self,
        task: Task[Any],
        key: str,
        rule: UpdateRule[Any],
        record: dict[str, Any],
        settings: EvaluationSettings,
        repeats: int,
        on_step: Callable[[], None] | None = None,
    ) -> Curves:
        """``repeats`` repeats of ``rule`` on ``task``, the finished ones read back; the
        combined curves are written to ``curves.npz``."""
        place = self.place(task.name, key)
        expected = {
            "task": task.name,
            "task_config": task.config.model_dump(mode="json"),
            "settings": asdict(settings),
            "source": record,
        }
        source_file = place / "source.json"
        if source_file.is_file():
            stored = _read_json(source_file)
            mismatch = sorted(
                name for name in ("task_config", "settings") if stored.get(name) != expected[name]
            )
            if mismatch:
                raise EvaluationError(
                    f"{place} holds an evaluation with other {' and '.join(mismatch)}; choose "
                    "another --out, or delete it"
                )
        else:
            text = json.dumps(expected, indent=2, default=str) + "\n"
            atomic_write(source_file, lambda file: file.write(text))
        every = settings.every or getattr(task, "batches_per_epoch", lambda split: 10)("train")

        def start(seed: int) -> tuple[Params, int]:
            return warm_start(task, seed, settings.warmup_steps, settings.warmup_lr)

        parts = []
        for repeat in range(repeats):
            path = place / f"repeat_{repeat:03d}.npz"
            if path.is_file():
                parts.append(_read_curves(path))
                if on_step is not None:
                    for _ in range(settings.steps):
                        on_step()
                continue
            seed = derive_seed(settings.seed, "evaluation", repeat)
            curves = evaluate_repeat(task, rule, start, seed, settings.steps, every, on_step)
            _write_arrays(path, curves)
            parts.append(curves)
        combined = Curves.stack(parts)
        _write_arrays(place / "curves.npz", combined)
        return combined

    def stored(self, tasks: list[str] | None = None) -> Iterator[StoredEvaluation]:
        """Every finished evaluation under the folder (of ``tasks`` only, when given)."""
        if not self.folder.is_dir():
            return
        for task_folder in sorted(self.folder.iterdir()):
            if not task_folder.is_dir() or (tasks is not None and task_folder.name not in tasks):
                continue
            for place in sorted(task_folder.iterdir()):
                if (place / "curves.npz").is_file() and (place / "source.json").is_file():
                    yield self.load(task_folder.name, place.name)

    def load(self, task: str, key: str) -> StoredEvaluation:
        place = self.place(task, key)
        if not (place / "curves.npz").is_file():
            raise EvaluationError(f"no evaluation of {key} on {task} in {self.folder}")
        record = _read_json(place / "source.json")
        if not isinstance(record, dict):
            raise EvaluationError(f"{place / 'source.json'} is not an evaluation record")
        return StoredEvaluation(task, key, record, _read_curves(place / "curves.npz"))
