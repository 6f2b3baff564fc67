"""What a run reports while it works, as typed values (the CLI turns them into progress)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amalg.core.analysis.comparison import TaskComparison
from amalg.core.training.progress import PeriodSummary

__all__ = [
    "EvaluationAdvanced",
    "EvaluationStarted",
    "Event",
    "EventSink",
    "PeriodFinished",
    "PhaseStarted",
    "RunFinished",
    "RunStarted",
    "TrajectoryFinished",
    "TruncationDiscarded",
    "TuningAdvanced",
    "TuningFinished",
    "TuningStarted",
]


@dataclass(frozen=True)
class TuningStarted:
    """A teacher's learning-rate grid search begins (none was stored for it)."""

    task: str
    teacher: str
    total: int
    """Training steps the search takes."""


@dataclass(frozen=True)
class TuningAdvanced:
    """One training step of a grid search is done."""


@dataclass(frozen=True)
class TuningFinished:
    task: str
    teacher: str
    lr: float
    reused: bool
    """Found in the store: nothing was run."""
    on_edge: bool


@dataclass(frozen=True)
class PhaseStarted:
    """A phase of a two-phase run (optimal choice: the policy, then the student) begins."""

    phase: int
    phases: int
    description: str


@dataclass(frozen=True)
class RunStarted:
    resumed_from: str | None
    """The checkpoint a resumed run continues after (None for a fresh run)."""
    teachers: tuple[str, ...]


@dataclass(frozen=True)
class TrajectoryFinished:
    stage: int
    period: int
    trajectory: int
    """1-based, within the period."""
    trajectories: int
    unroll: int
    meta_loss: float
    """The last applied truncation's meta-loss (NaN if none was applied)."""
    imitation: dict[str, float]
    """The last applied truncation's distance to each teacher, by label."""


@dataclass(frozen=True)
class TruncationDiscarded:
    """A non-finite truncation or meta-step: it and the rest of its trajectory are dropped."""

    stage: int
    period: int


@dataclass(frozen=True)
class PeriodFinished:
    summary: PeriodSummary
    reloaded: bool
    """The period ended its stage and the stage's best checkpoint was reloaded."""


@dataclass(frozen=True)
class EvaluationStarted:
    total: int
    """Training steps the comparison will take, over all optimizers and seeds."""


@dataclass(frozen=True)
class EvaluationAdvanced:
    """One training step of the comparison is done."""


@dataclass(frozen=True)
class RunFinished:
    tasks: tuple[TaskComparison, ...]
    checkpoint: str


Event = (
    TuningStarted
    | TuningAdvanced
    | TuningFinished
    | PhaseStarted
    | RunStarted
    | TrajectoryFinished
    | TruncationDiscarded
    | PeriodFinished
    | EvaluationStarted
    | EvaluationAdvanced
    | RunFinished
)
EventSink = Callable[[Event], None]
