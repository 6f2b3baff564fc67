"""A fixed number of periods at one unroll length."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from amalg.core.config import MAX_COUNT, MAX_STEPS, ComponentConfig
from amalg.core.interfaces import Period, PeriodDecision, Strategy, StrategyState


class RepeatConfig(ComponentConfig):
    periods: int = Field(5, ge=1, le=MAX_COUNT, description="Periods to run.")
    unroll: int = Field(100, ge=1, le=MAX_STEPS, description="Steps per trajectory.")
    truncation: int = Field(
        100, ge=1, le=MAX_STEPS, description="Steps per truncation; divides unroll."
    )
    trajectories: int = Field(10, ge=1, le=MAX_COUNT, description="Trajectories per period.")
    alpha: float = Field(0.1, ge=0, description="Imitation weight.")
    validation_unroll: int = Field(
        1000, ge=1, le=MAX_STEPS, description="Steps per validation trajectory."
    )
    validation_trajectories: int = Field(
        2, ge=1, le=MAX_COUNT, description="Fixed-seed trajectories each validation averages."
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {
            "periods": 2,
            "unroll": 20,
            "truncation": 10,
            "trajectories": 2,
            "validation_unroll": 40,
        }

    @model_validator(mode="after")
    def _whole_truncations(self) -> Self:
        if self.unroll % self.truncation:
            raise ValueError(
                f"unroll={self.unroll} must be a multiple of truncation={self.truncation}"
            )
        return self


class Repeat(Strategy[RepeatConfig]):
    """Repeat: a fixed number of periods at one unroll length; the best is reloaded at the end.

    Every period is validated; after the last, the best period's student is reloaded.

    The reference implementation trains the optimal-choice policy this way (Huang et al.
    2022, Appendix C.3): 5 periods, validation over 10 truncations.
    """

    name: ClassVar[str] = "repeat"

    def start(self) -> StrategyState:
        return {"period": 0, "best": None}

    def next_period(self, state: StrategyState) -> Period | None:
        config = self.config
        if state["period"] >= config.periods:
            return None
        return Period(
            stage=0,
            period=state["period"],
            unroll=config.unroll,
            truncation=config.truncation,
            trajectories=config.trajectories,
            alpha=config.alpha,
            validation_unroll=config.validation_unroll,
            validation_trajectories=config.validation_trajectories,
        )

    def record(
        self, state: StrategyState, period: Period, validation_loss: float
    ) -> tuple[StrategyState, PeriodDecision]:
        best = state["best"]
        new_best = best is None or validation_loss < best
        following = state["period"] + 1
        new_state = {"period": following, "best": validation_loss if new_best else best}
        return new_state, PeriodDecision(
            new_best=new_best, reload_best=following >= self.config.periods
        )
