"""Every registered strategy meets the same contract: a deterministic state machine over a
JSON state that ends, asks for well-formed periods and never mutates the state it is given."""

from __future__ import annotations

import copy
import json

import pytest

import amalg

LIMIT = 10_000  # periods a walk may take before the strategy is declared endless


@pytest.fixture
def name(strategy_name: str, amalg_registry: object) -> str:
    return strategy_name


def walk(strategy, validations, state=None):
    """Periods and decisions until the strategy ends (validation losses taken in turn)."""
    state = strategy.start() if state is None else state
    seen = []
    for count in range(LIMIT):
        period = strategy.next_period(state)
        if period is None:
            return seen, state
        before = copy.deepcopy(state)
        new_state, decision = strategy.record(state, period, validations(count))
        assert state == before, "record() changed the state it was given"
        state = json.loads(json.dumps(new_state))  # as a checkpoint stores it
        assert state == new_state, "the strategy state does not survive JSON"
        seen.append((period, decision))
    raise AssertionError(f"the strategy asked for more than {LIMIT} periods")


def quick(name: str):
    strategy = amalg.create("strategy", name)
    return amalg.create("strategy", name, **type(strategy.config).quick())


@pytest.mark.parametrize("trend", ["improving", "flat", "worsening"])
def test_the_strategy_ends_with_well_formed_periods(name: str, trend: str) -> None:
    strategy = quick(name)
    losses = {"improving": lambda i: -float(i), "flat": lambda i: 1.0, "worsening": float}[trend]
    seen, _ = walk(strategy, losses)
    assert seen, "the strategy ran no period"
    for period, _ in seen:
        assert period.unroll >= period.truncation >= 1
        assert period.unroll % period.truncation == 0
        assert period.trajectories >= 1 and period.validation_trajectories >= 1
        assert period.validation_unroll >= 1 and period.alpha >= 0
    assert seen[0][1].new_best, "the first validation is the best so far"


def test_the_same_losses_give_the_same_periods_even_across_a_resume(name: str) -> None:
    strategy = quick(name)
    losses = [3.0, 1.0, 2.0, 0.5, 4.0, 0.25, 5.0, 6.0, 7.0, 8.0] * 50

    def validations(i: int) -> float:
        return losses[i % len(losses)]

    whole, _ = walk(strategy, validations)
    first, state = walk_some(strategy, validations, 1)
    rest, _ = walk(strategy, lambda i: validations(i + 1), json.loads(json.dumps(state)))
    assert [*first, *rest] == whole


def walk_some(strategy, validations, periods: int):
    state = strategy.start()
    seen = []
    for count in range(periods):
        period = strategy.next_period(state)
        if period is None:
            break
        state, decision = strategy.record(state, period, validations(count))
        seen.append((period, decision))
    return seen, state


def test_the_quick_preset_is_a_valid_config(name: str) -> None:
    strategy = amalg.create("strategy", name)
    preset = type(strategy.config).quick()
    assert set(preset) <= set(type(strategy.config).model_fields)
    amalg.create("strategy", name, **preset)
