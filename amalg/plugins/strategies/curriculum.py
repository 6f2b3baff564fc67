"""Curriculum over unroll lengths."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import Field, model_validator

from amalg.core.config import MAX_COUNT, MAX_STEPS, ComponentConfig
from amalg.core.interfaces import Period, PeriodDecision, Strategy, StrategyState


class CurriculumConfig(ComponentConfig):
    unrolls: list[Annotated[int, Field(le=MAX_STEPS)]] = Field(
        [100, 200, 500],
        min_length=1,
        max_length=100,
        description="Steps per trajectory, one per stage.",
    )
    alphas: list[float] = Field(
        [0.2, 0.1, 0.05], min_length=1, max_length=100, description="Imitation weight per stage."
    )
    truncation: int = Field(
        100, ge=1, le=MAX_STEPS, description="Steps per truncation; divides each unroll."
    )
    trajectories: int = Field(4, ge=1, le=MAX_COUNT, description="Trajectories per period.")
    min_periods: int = Field(
        2, ge=1, le=MAX_COUNT, description="Periods every stage runs at least."
    )
    patience: int = Field(
        2,
        ge=1,
        le=MAX_COUNT,
        description="A stage ends after this many periods without a new best.",
    )
    max_periods: int = Field(5, ge=1, le=MAX_COUNT, description="Periods a stage runs at most.")
    validation_trajectories: int = Field(
        3, ge=1, le=MAX_COUNT, description="Fixed-seed trajectories each validation averages."
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {
            "unrolls": [20, 40],
            "alphas": [0.2, 0.1],
            "truncation": 10,
            "trajectories": 2,
            "min_periods": 1,
            "patience": 1,
            "max_periods": 2,
            "validation_trajectories": 1,
        }

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.alphas) != len(self.unrolls):
            raise ValueError(
                f"alphas has {len(self.alphas)} values, unrolls {len(self.unrolls)}: give one "
                "imitation weight per stage"
            )
        if any(unroll <= 0 or unroll % self.truncation for unroll in self.unrolls):
            raise ValueError(
                f"every unroll must be a positive multiple of truncation={self.truncation}"
            )
        if any(alpha < 0 for alpha in self.alphas):
            raise ValueError("alphas must be >= 0")
        if self.max_periods < self.min_periods:
            raise ValueError("max_periods must be at least min_periods")
        return self


class Curriculum(Strategy[CurriculumConfig]):
    """Curriculum: stages of growing unroll length, each validated at the next stage's length.

    Huang et al. 2022, Appendix C.3, and the reference implementation: truncations of 100
    steps; the paper's stages unroll 100, 200, 500 and 1000 steps with imitation weights 0.2,
    0.1, 0.05, 0.02; every period (10 trajectories there) is validated on fixed seeds at the
    next stage's length (the last stage at its own); a stage runs at least ``min_periods``
    and ends after ``patience`` periods without a new best validation (5 and 5 there), or at
    ``max_periods``; the stage's best checkpoint is then reloaded. The defaults are sized for
    a CPU run of the default task within minutes (three stages, 4 trajectories per period, at
    most 5 periods a stage, patience 2);
    set ``unrolls=[100,200,500,1000]``, ``alphas=[0.2,0.1,0.05,0.02]``, ``trajectories=10``,
    ``min_periods=5``, ``patience=5`` for the paper's schedule.
    """

    name: ClassVar[str] = "curriculum"

    def start(self) -> StrategyState:
        return {"stage": 0, "period": 0, "best": None, "since_best": 0}

    def next_period(self, state: StrategyState) -> Period | None:
        config = self.config
        stage = state["stage"]
        if stage >= len(config.unrolls):
            return None
        following = min(stage + 1, len(config.unrolls) - 1)
        return Period(
            stage=stage,
            period=state["period"],
            unroll=config.unrolls[stage],
            truncation=config.truncation,
            trajectories=config.trajectories,
            alpha=config.alphas[stage],
            validation_unroll=config.unrolls[following],
            validation_trajectories=config.validation_trajectories,
        )

    def record(
        self, state: StrategyState, period: Period, validation_loss: float
    ) -> tuple[StrategyState, PeriodDecision]:
        config = self.config
        best = state["best"]
        new_best = best is None or validation_loss < best
        since_best = 0 if new_best else state["since_best"] + 1
        periods = state["period"] + 1
        stage_over = periods >= config.max_periods or (
            periods >= config.min_periods and since_best >= config.patience
        )
        if stage_over:
            new_state = {"stage": state["stage"] + 1, "period": 0, "best": None, "since_best": 0}
        else:
            new_state = {
                "stage": state["stage"],
                "period": periods,
                "best": validation_loss if new_best else best,
                "since_best": since_best,
            }
        return new_state, PeriodDecision(new_best=new_best, reload_best=stage_over)
