"""Comparing a run's trained student with its teachers: each trains the run's task from the
same warm starts on the same batches, and is summarised in one row of the final table."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from amalg.core.analysis.evaluation import Curves, evaluate
from amalg.core.functional import Params
from amalg.core.interfaces import Task, UpdateRule

__all__ = ["ComparisonRow", "Contender", "TaskComparison", "compare", "oracle_of", "summarize"]

Role = Literal["student", "teacher"]


@dataclass(frozen=True)
class Contender:
    """An optimizer in the comparison: its label (file names, the table) and its rule."""

    label: str
    role: Role
    rule: UpdateRule


@dataclass(frozen=True)
class ComparisonRow:
    """One optimizer's results over the evaluation seeds (a row of ``evaluation.csv``)."""

    optimizer: str
    role: Role
    best_validation_loss: float
    best_validation_loss_std: float
    final_train_loss: float
    final_train_loss_std: float
    test_loss_at_best_validation: float
    best_validation_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        if self.best_validation_accuracy is None:
            del values["best_validation_accuracy"]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ComparisonRow:
        """A row back from :meth:`to_dict`; ValueError if it is not one."""
        try:
            role = values["role"]
            if role not in ("student", "teacher") or not isinstance(values["optimizer"], str):
                raise ValueError("not a comparison row")
            accuracy = values.get("best_validation_accuracy")
            return cls(
                optimizer=values["optimizer"],
                role=role,
                best_validation_loss=float(values["best_validation_loss"]),
                best_validation_loss_std=float(values["best_validation_loss_std"]),
                final_train_loss=float(values["final_train_loss"]),
                final_train_loss_std=float(values["final_train_loss_std"]),
                test_loss_at_best_validation=float(values["test_loss_at_best_validation"]),
                best_validation_accuracy=None if accuracy is None else float(accuracy),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"a result row is damaged ({type(error).__name__}: {error})") from None


@dataclass(frozen=True)
class TaskComparison:
    """The final table of one task: a row per optimizer, and the oracle among them."""

    task: str
    rows: tuple[ComparisonRow, ...]

    @property
    def oracle(self) -> ComparisonRow | None:
        """The best teacher (Huang et al. 2022, Section 5: the teacher with the best validation
        loss); None without a teacher that converged."""
        return oracle_of(self.rows)

    def to_dict(self) -> dict[str, Any]:
        oracle = self.oracle
        return {
            "task": self.task,
            "oracle": oracle.optimizer if oracle else None,
            "rows": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TaskComparison:
        try:
            task, rows = values["task"], values["rows"]
            if not isinstance(task, str) or not isinstance(rows, list):
                raise ValueError("not a task's comparison")
            return cls(task, tuple(ComparisonRow.from_dict(row) for row in rows))
        except (KeyError, TypeError) as error:
            raise ValueError(f"a task's comparison is damaged ({error})") from None


def oracle_of(rows: Sequence[ComparisonRow]) -> ComparisonRow | None:
    """The teacher row with the lowest mean best validation loss (None if no teacher's is
    finite)."""
    teachers = [
        row for row in rows if row.role == "teacher" and math.isfinite(row.best_validation_loss)
    ]
    return min(teachers, key=lambda row: row.best_validation_loss) if teachers else None


def summarize(label: str, role: Role, curves: Curves) -> ComparisonRow:
    """The row of one optimizer: means and standard deviations over its seeds."""
    best, final = curves.best_validation_loss, curves.final_train_loss
    finite = bool(np.isfinite(final).any())
    accuracy = None
    if curves.val_accuracy is not None:
        accuracy = float(np.nanmean(np.nanmax(curves.val_accuracy, axis=1)))
    return ComparisonRow(
        optimizer=label,
        role=role,
        best_validation_loss=float(np.mean(best)),
        best_validation_loss_std=float(np.std(best)),
        final_train_loss=float(np.nanmean(final)) if finite else math.inf,
        final_train_loss_std=float(np.nanstd(final)) if finite else math.nan,
        test_loss_at_best_validation=float(np.mean(curves.test_loss_at_best_validation)),
        best_validation_accuracy=accuracy,
    )


def compare(
    task: Task,
    contenders: Sequence[Contender],
    warm_start: Callable[[int], tuple[Params, int]],
    seeds: Sequence[int],
    horizon: int,
    every: int,
    on_curves: Callable[[Contender, Curves], None] = lambda contender, curves: None,
    on_step: Callable[[], None] | None = None,
) -> list[ComparisonRow]:
    """Train ``task`` with each contender from the same warm starts and batches; one row
    each. ``on_curves`` receives each contender's curves as they are done (to save them)."""
    rows = []
    for contender in contenders:
        curves = evaluate(task, contender.rule, warm_start, seeds, horizon, every, on_step)
        on_curves(contender, curves)
        rows.append(summarize(contender.label, contender.role, curves))
    return rows
