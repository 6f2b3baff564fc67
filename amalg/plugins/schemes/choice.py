"""Optimal choice amalgamation."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field
from torch import Tensor

from amalg.core.config import MAX_COUNT, MAX_STEPS, ComponentConfig
from amalg.core.interfaces import AmalgamationScheme, PolicyPhase


class ChoiceSchemeConfig(ComponentConfig):
    policy_unrolls: list[Annotated[int, Field(ge=1, le=MAX_STEPS)]] = Field(
        [100, 200, 500],
        min_length=1,
        max_length=100,
        description="Policy phase: steps per trajectory, one stage each (depths 1, 2, 5).",
    )
    policy_periods: int = Field(
        2, ge=1, le=MAX_COUNT, description="Policy phase: periods per stage (paper: 5)."
    )
    policy_trajectories: int = Field(
        4, ge=1, le=MAX_COUNT, description="Policy phase: trajectories per period (paper: 10)."
    )
    policy_truncation: int = Field(
        100, ge=1, le=MAX_STEPS, description="Policy phase: steps per truncation."
    )
    policy_validation_unroll: int = Field(
        1000, ge=1, le=MAX_STEPS, description="Policy phase: steps per validation trajectory."
    )
    policy_validation_trajectories: int = Field(
        2, ge=1, le=MAX_COUNT, description="Policy phase: validation trajectories."
    )
    policy_hidden: int = Field(20, ge=1, le=1024, description="The choice network's LSTM units.")

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {
            "policy_unrolls": [20],
            "policy_periods": 1,
            "policy_trajectories": 2,
            "policy_truncation": 10,
            "policy_validation_unroll": 40,
            "policy_validation_trajectories": 1,
        }


class OptimalChoice(AmalgamationScheme[ChoiceSchemeConfig]):
    """Optimal choice amalgamation: distill the student from a trained choice of teachers.

    Huang et al. 2022, Section 3.3, eq. 4, and the reference implementation's two chained
    runs, here two phases of one run:

    1. the policy: the ``choice`` network over the run's teachers (its pool, each teacher at
       its tuned learning rate) is meta-trained on the meta-loss alone, with the reference's
       schedule (repeat strategy, periods at depths 1, 2 and 5 truncations, validated over
       10; sized for a CPU by default: 2 periods a stage, 4 trajectories), into ``policy/``;
    2. the student is distilled from that policy as its single imitation target:

           L = L_meta(phi) + alpha * mean_t d(student, policy)

       with the run's strategy (the curriculum by default).

    The distillation walks one target whatever the pool size: the policy runs the pool's
    updates without a graph, so its memory does not grow with the pool as min-max's does.
    """

    name: ClassVar[str] = "choice"
    min_teachers: ClassVar[int] = 2

    def imitation(self, distances: Tensor) -> Tensor:
        return distances.mean(dim=1)

    def policy_phase(self) -> PolicyPhase:
        config = self.config
        return PolicyPhase(
            student="choice",
            student_config={"hidden": config.policy_hidden},
            strategy="repeat",
            strategy_config={
                "periods": config.policy_periods,
                "unrolls": list(config.policy_unrolls),
                "truncation": config.policy_truncation,
                "trajectories": config.policy_trajectories,
                "alpha": 0.0,
                "validation_unroll": config.policy_validation_unroll,
                "validation_trajectories": config.policy_validation_trajectories,
            },
            target="choice",
        )
