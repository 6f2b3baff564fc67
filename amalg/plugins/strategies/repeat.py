"""A fixed number of periods at each of a list of unroll lengths."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import Field, model_validator

from amalg.core.config import MAX_COUNT, MAX_STEPS, ComponentConfig
from amalg.core.interfaces import Period, PeriodDecision, Strategy, StrategyState


class RepeatConfig(ComponentConfig):
    periods: int = Field(5, ge=1, le=MAX_COUNT, description="Periods run at each unroll length.")
    unrolls: list[Annotated[int, Field(ge=1, le=MAX_STEPS)]] = Field(
        [100],
        min_length=1,
        max_length=100,
        description="Steps per trajectory, one stage each, in order.",
    )
    truncation: int = Field(
        100, ge=1, le=MAX_STEPS, description="Steps per truncation; divides every unroll."
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
            "unrolls": [20],
            "truncation": 10,
            "trajectories": 2,
            "validation_unroll": 40,
        }

    @model_validator(mode="after")
    def _whole_truncations(self) -> Self:
        if any(unroll % self.truncation for unroll in self.unrolls):
            raise ValueError(
                f"every unroll must be a multiple of truncation={self.truncation} "
                f"(unrolls={self.unrolls})"
            )
        return self


class Repeat(Strategy[RepeatConfig]):
    """Repeat: ``periods`` periods at each unroll length of ``unrolls``, in order.

    Every period is validated at ``validation_unroll`` steps; at the end of each stage (one
    unroll length), the stage's best period is reloaded.

    The reference implementation trains the optimal-choice policy this way (Huang et al.
    2022, Appendix C.3): 5 periods at each of 1, 2 and 5 truncations of 100 steps
    (``unrolls=[100,200,500]``), validated over 10 truncations (``validation_unroll=1000``).
    """

    name: ClassVar[str] = "repeat"

    def start(self) -> StrategyState:
        return {"stage": 0, "period": 0, "best": None}

    def next_period(self, state: StrategyState) -> Period | None:
        config = self.config
        stage = state["stage"]
        if stage >= len(config.unrolls):
            return None
        return Period(
            stage=stage,
            period=state["period"],
            unroll=config.unrolls[stage],
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
        stage_over = following >= self.config.periods
        if stage_over:
            new_state = {"stage": state["stage"] + 1, "period": 0, "best": None}
        else:
            new_state = {
                "stage": state["stage"],
                "period": following,
                "best": validation_loss if new_best else best,
            }
        return new_state, PeriodDecision(new_best=new_best, reload_best=stage_over)
