"""Typed records of meta-training progress: one summary per period, and the progress a
checkpoint carries so that a resumed run continues exactly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from amalg.core.interfaces import StrategyState

__all__ = ["PeriodSummary", "Progress"]

_IMITATION = "imitation_"


@dataclass(frozen=True)
class PeriodSummary:
    """One period of meta-training: a row of ``summary.csv``."""

    stage: int
    period: int
    unroll: int
    truncation: int
    trajectories: int
    alpha: float
    meta_loss: float
    """The mean meta-loss over the period's applied truncations (NaN if none was)."""
    imitation: dict[str, float]
    """The mean imitation distance to each teacher, by label."""
    validation: float
    new_best: bool
    nonfinite: int
    """Truncations discarded as non-finite since the run began."""
    perturbation: float | None = None
    """The mean relative weight perturbation ``||psi|| / ||phi||`` over the period's applied
    truncations; None for a run without a perturbation (no column then)."""

    @property
    def checkpoint(self) -> str:
        """The name of the checkpoint written at the period's end."""
        return f"stage_{self.stage}.{self.period}"

    def row(self) -> dict[str, Any]:
        """The ``summary.csv`` row, columns in their file order."""
        row: dict[str, Any] = {
            "stage": self.stage,
            "period": self.period,
            "unroll": self.unroll,
            "truncation": self.truncation,
            "trajectories": self.trajectories,
            "alpha": self.alpha,
            "meta_loss": self.meta_loss,
        }
        row.update({f"{_IMITATION}{label}": value for label, value in self.imitation.items()})
        if self.perturbation is not None:
            row["perturbation"] = self.perturbation
        row.update(
            {"validation": self.validation, "new_best": self.new_best, "nonfinite": self.nonfinite}
        )
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PeriodSummary:
        """A summary back from :meth:`row` (as a checkpoint stores it); ValueError if the
        row is not one."""
        try:
            return cls(
                stage=_integer(row["stage"]),
                period=_integer(row["period"]),
                unroll=_integer(row["unroll"]),
                truncation=_integer(row["truncation"]),
                trajectories=_integer(row["trajectories"]),
                alpha=float(row["alpha"]),
                meta_loss=float(row["meta_loss"]),
                imitation={
                    key.removeprefix(_IMITATION): float(value)
                    for key, value in row.items()
                    if key.startswith(_IMITATION)
                },
                validation=float(row["validation"]),
                new_best=_boolean(row["new_best"]),
                nonfinite=_integer(row["nonfinite"]),
                perturbation=float(row["perturbation"]) if "perturbation" in row else None,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"a period record is damaged ({type(error).__name__}: {error})"
            ) from None


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class Progress:
    """Where meta-training is: the strategy's state, the trajectories run so far (the
    counter that addresses the next one's seeds), the periods done and each stage's best."""

    strategy: StrategyState
    trajectories: int = 0
    nonfinite: int = 0
    periods: tuple[PeriodSummary, ...] = ()
    best: dict[str, str] = field(default_factory=dict)
    """Stage (as text) -> the checkpoint of its best period so far."""

    def after(self, summary: PeriodSummary, strategy: StrategyState, trajectories: int) -> Progress:
        """The progress once ``summary``'s period is done."""
        best = dict(self.best)
        if summary.new_best:
            best[str(summary.stage)] = summary.checkpoint
        return replace(
            self,
            strategy=strategy,
            trajectories=self.trajectories + trajectories,
            nonfinite=summary.nonfinite,
            periods=(*self.periods, summary),
            best=best,
        )

    def final_checkpoint(self) -> str | None:
        """The checkpoint the run's result is: the last stage's best period (None before any
        period)."""
        if not self.periods:
            return None
        last = self.periods[-1]
        return self.best.get(str(last.stage), last.checkpoint)

    def to_payload(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "trajectories": self.trajectories,
            "nonfinite": self.nonfinite,
            "rows": [summary.row() for summary in self.periods],
            "best": dict(self.best),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Progress:
        """Progress back from :meth:`to_payload`; ValueError if it is not one."""
        try:
            strategy, rows, best = payload["strategy"], payload["rows"], payload["best"]
            if not isinstance(strategy, dict) or not isinstance(rows, list):
                raise ValueError("the strategy state or the period rows are missing")
            if not (isinstance(best, dict) and all(isinstance(v, str) for v in best.values())):
                raise ValueError("the stages' best checkpoints are damaged")
            return cls(
                strategy=strategy,
                trajectories=_integer(payload["trajectories"]),
                nonfinite=_integer(payload["nonfinite"]),
                periods=tuple(PeriodSummary.from_row(row) for row in rows),
                best={str(key): value for key, value in best.items()},
            )
        except KeyError as error:
            raise ValueError(f"it lacks {error}") from None


def mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan
