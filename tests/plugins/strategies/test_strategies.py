"""The strategies' state machines: stage lengths, validation lengths, patience, reloads."""

from __future__ import annotations

import json

import pytest

import amalg
from amalg.core.errors import ConfigError


def walk(strategy, validations):
    """Run the strategy over a sequence of validation losses; the periods it asked for."""
    state, seen = strategy.start(), []
    for loss in validations:
        period = strategy.next_period(state)
        if period is None:
            break
        state, decision = strategy.record(state, period, loss)
        json.dumps(state)  # the state must stay JSON-serialisable (checkpoints, resume)
        seen.append((period, decision))
    return seen, strategy.next_period(state)


def test_curriculum_stages_grow_and_validate_at_the_next_length():
    curriculum = amalg.create(
        "strategy", "curriculum", min_periods=1, patience=1, max_periods=3,
        unrolls=[100, 200, 500], alphas=[0.2, 0.1, 0.05],
    )  # fmt: skip
    # Each stage: a first best, then no improvement -> the stage ends after patience 1.
    seen, after = walk(curriculum, [5.0, 6.0, 4.0, 4.5, 3.0, 3.5])
    assert after is None
    assert [(p.stage, p.period, p.unroll, p.validation_unroll, p.alpha) for p, _ in seen] == [
        (0, 0, 100, 200, 0.2), (0, 1, 100, 200, 0.2),
        (1, 0, 200, 500, 0.1), (1, 1, 200, 500, 0.1),
        (2, 0, 500, 500, 0.05), (2, 1, 500, 500, 0.05),
    ]  # fmt: skip
    assert [d.new_best for _, d in seen] == [True, False] * 3
    assert [d.reload_best for _, d in seen] == [False, True] * 3


def test_a_stage_runs_at_least_min_periods_and_at_most_max_periods():
    curriculum = amalg.create(
        "strategy", "curriculum", unrolls=[100], alphas=[0.1], min_periods=3, patience=1,
        max_periods=4,
    )  # fmt: skip
    seen, _ = walk(curriculum, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert len(seen) == 3  # patience met after period 1, but min_periods is 3
    improving, _ = walk(curriculum, [5.0, 4.0, 3.0, 2.0, 1.0])
    assert len(improving) == 4 and improving[-1][1].reload_best  # max_periods


def test_curriculum_refuses_inconsistent_stages():
    with pytest.raises(ConfigError, match="alphas has 1 values, unrolls 2"):
        amalg.create("strategy", "curriculum", unrolls=[100, 200], alphas=[0.1])
    with pytest.raises(ConfigError, match="multiple of truncation=100"):
        amalg.create("strategy", "curriculum", unrolls=[150], alphas=[0.1])


def test_repeat_runs_its_periods_and_reloads_the_best_at_the_end():
    repeat = amalg.create("strategy", "repeat", periods=3, unrolls=[50], truncation=25)
    seen, after = walk(repeat, [2.0, 1.0, 1.5])
    assert after is None and [p.unroll for p, _ in seen] == [50, 50, 50]
    assert [d.new_best for _, d in seen] == [True, True, False]
    assert [d.reload_best for _, d in seen] == [False, False, True]


def test_repeat_runs_its_periods_at_each_unroll_and_reloads_each_stage_best():
    repeat = amalg.create(
        "strategy", "repeat", periods=2, unrolls=[100, 200, 500], validation_unroll=1000
    )
    seen, after = walk(repeat, [2.0, 1.0, 0.5, 0.7, 0.9, 0.4])
    assert after is None
    assert [(p.stage, p.period, p.unroll) for p, _ in seen] == [
        (0, 0, 100), (0, 1, 100), (1, 0, 200), (1, 1, 200), (2, 0, 500), (2, 1, 500),
    ]  # fmt: skip
    assert {p.validation_unroll for p, _ in seen} == {1000}
    # Each stage's best is its own: a stage starts with no best.
    assert [d.new_best for _, d in seen] == [True, True, True, False, True, True]
    assert [d.reload_best for _, d in seen] == [False, True, False, True, False, True]
    with pytest.raises(ConfigError, match="multiple of truncation=100"):
        amalg.create("strategy", "repeat", unrolls=[100, 150])
