"""Strategy: the outer schedule of meta-training.

Huang et al. 2022, Appendix C.3: a curriculum of stages with growing unroll length (100,
200, 500, 1000 steps, truncations of 100), each stage made of periods of a few trajectories
after which the student is validated; a stage ends after some periods without a new best
validation loss, and the best checkpoint is reloaded before the next. A ``repeat`` strategy
runs fixed periods at one length (the choice policy's training).

The strategy is a state machine over a plain, JSON-serialisable state, so an interrupted run
resumes exactly: the trainer asks :meth:`Strategy.next_period` what to run, validates, and
reports the validation loss to :meth:`Strategy.record`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from amalg.core.component import Component, ConfigT

__all__ = ["Period", "PeriodDecision", "Strategy", "StrategyState"]

StrategyState = dict[str, Any]
"""The strategy's progress: JSON-serialisable, saved with every checkpoint."""


@dataclass(frozen=True)
class Period:
    """What the trainer runs next."""

    stage: int
    period: int
    unroll: int
    """Steps per trajectory."""
    truncation: int
    """Steps per truncation (the meta-gradient is taken once per truncation)."""
    trajectories: int
    """Trajectories in this period."""
    alpha: float
    """Weight of the imitation loss in the meta-objective."""
    validation_unroll: int
    """Steps per validation trajectory."""
    validation_trajectories: int = 2
    """Fixed-seed validation trajectories to average."""


@dataclass(frozen=True)
class PeriodDecision:
    """What the strategy concluded from a period's validation loss."""

    new_best: bool
    """This period's checkpoint is the best of its stage so far."""
    reload_best: bool
    """The stage ended: reload the stage's best checkpoint before going on."""


class Strategy(Component[ConfigT]):
    """Decides unroll and truncation lengths, periods, validation and stage changes."""

    kind: ClassVar[str] = "strategy"

    @abstractmethod
    def start(self) -> StrategyState:
        """The state before the first period."""

    @abstractmethod
    def next_period(self, state: StrategyState) -> Period | None:
        """The next period to run, or None when meta-training is over."""

    @abstractmethod
    def record(
        self, state: StrategyState, period: Period, validation_loss: float
    ) -> tuple[StrategyState, PeriodDecision]:
        """Take in a finished period's validation loss; the new state and the decision."""
