"""Runs give each teacher its tuned learning rate on each task, say where it came from, and
resolve the same config however often they are resolved."""

from __future__ import annotations

import pytest

from amalg.core.analysis.tuning import TuningStore
from amalg.core.training.build import build_run
from amalg.core.training.events import TuningFinished, TuningStarted
from amalg.core.training.learning_rates import tune_teachers

RUN = {
    "name": "x",
    "task": {"name": "quadratic", "config": {"dimension": 6, "condition_number": 1.0}},
    "teachers": [{"name": "sgd"}, {"name": "sgd", "label": "slow", "config": {"lr": 0.01}}],
    "scheme": {"name": "mean"},
    "engine": {"warmup_steps": 0},
    "evaluation": {"horizon": 12},
    "tuning": {"grid": [0.05, 0.3, 0.9], "seeds": 1},
}


def test_a_teacher_gets_its_tuned_rate_and_a_set_rate_is_kept(tmp_path):
    events = []
    values = tune_teachers(RUN, store=TuningStore(tmp_path), on_event=events.append)
    config, parts = build_run(values)
    assert [teacher.config.lr for teacher in parts.teachers] == [0.9, 0.01]
    records = config.tuning.learning_rates["quadratic"]
    assert records["sgd"].lr == 0.9 and records["sgd"].source.startswith("tuned: quadratic-sgd-")
    assert "(on the grid's edge)" in records["sgd"].source
    assert records["slow"].source == "set in the run config"
    kinds = [type(e) for e in events]
    assert kinds[0] is TuningStarted and kinds[-1] is TuningFinished
    assert len(kinds) - 2 == events[0].total == 3 * 1 * 12  # one event per training step
    # Resolving again, from the result or from the original values, changes nothing.
    assert tune_teachers(values, store=TuningStore(tmp_path)) == values
    assert tune_teachers(RUN, store=TuningStore(tmp_path)) == values


def test_no_tune_keeps_the_defaults_and_says_so(tmp_path):
    values = tune_teachers({**RUN, "tuning": {"enabled": False}}, store=TuningStore(tmp_path))
    config, parts = build_run(values)
    assert parts.teachers[0].config.lr == 0.2  # sgd's default
    assert "not tuned (--no-tune)" in config.tuning.learning_rates["quadratic"]["sgd"].source
    assert not list(tmp_path.iterdir())


def test_held_out_tasks_get_their_own_tuning(tmp_path):
    values = {**RUN, "evaluation": {"horizon": 12, "tasks": ["rastrigin"]}}
    resolved = tune_teachers(values, store=TuningStore(tmp_path))
    rates = resolved["tuning"]["learning_rates"]
    assert set(rates) == {"quadratic", "rastrigin"}
    assert rates["rastrigin"]["sgd"]["source"].startswith("tuned: rastrigin-sgd-")
    assert rates["rastrigin"]["slow"]["lr"] == 0.01  # a set rate holds on every task
    assert len(list(tmp_path.glob("*.json"))) == 2


@pytest.mark.parametrize("bad", [{"tasks": ["nope"]}, {"horizon": 0}])
def test_bad_evaluation_settings_are_refused_before_tuning(tmp_path, bad):
    from amalg.core.errors import AmalgError

    with pytest.raises(AmalgError):
        build_run({**RUN, "evaluation": {"horizon": 12, **bad}})
