"""The learning-rate grid search picks the known best and is stored under everything it
depends on."""

from __future__ import annotations

import json

import pytest

import amalg
from amalg.core.analysis.tuning import TuningError, TuningStore, request_for, run_tuning

# On f = 0.5 ||x - x*||^2 (condition number 1) SGD contracts by |1 - lr| a step: of this
# grid 0.8 is best; 1.9 overshoots and 1e30 overflows (diverges).
GRID = (0.05, 0.2, 0.5, 0.8, 1.9, 1e30)


def sphere(**config):
    return amalg.create(
        "task", "quadratic", dimension=8, condition_number=1.0, dtype="float64", **config
    )


def test_the_grid_search_picks_the_learning_rate_known_to_be_best():
    task = sphere()
    request = request_for(task, "sgd", {}, horizon=20, seeds=2, grid=GRID, warmup_steps=0)
    tuning = run_tuning(request, task)
    assert tuning.best_lr == 0.8 and not tuning.on_edge
    assert tuning.scores[-1] == float("inf")  # diverged
    assert tuning.scores[4] > tuning.scores[3]
    assert list(tuning.scores[:4]) == sorted(tuning.scores[:4], reverse=True)
    edge = run_tuning(request_for(task, "sgd", {}, 20, 1, GRID[:3], warmup_steps=0), task)
    assert edge.best_lr == 0.5 and edge.on_edge and "grid's largest" in edge.notes[0]


def test_a_stored_tuning_is_found_only_for_the_same_request(tmp_path):
    store = TuningStore(tmp_path)
    task = sphere()
    request = request_for(task, "sgd", {}, 20, 1, GRID, warmup_steps=0)
    assert store.find(request) is None
    tuning = run_tuning(request, task)
    path = store.save(tuning)
    assert path.name.startswith("quadratic-sgd-") and store.find(request) == tuning
    changed = [
        request_for(sphere(problem_seed=1), "sgd", {}, 20, 1, GRID, warmup_steps=0),
        request_for(task, "sgd", {}, 30, 1, GRID, warmup_steps=0),
        request_for(task, "sgd", {}, 20, 2, GRID, warmup_steps=0),
        request_for(task, "sgd", {}, 20, 1, GRID, warmup_steps=5),
    ]
    assert all(store.find(other) is None for other in changed)
    path.write_text("{not json")
    with pytest.raises(TuningError, match=r"cannot be read .*delete it to tune again"):
        store.find(request)


def test_a_teacher_without_a_learning_rate_cannot_be_tuned():
    from pydantic import Field

    from amalg.core.config import ComponentConfig
    from amalg.core.interfaces import ElementwiseTeacher
    from amalg.core.registry import Registry

    class FixedConfig(ComponentConfig):
        step: float = Field(0.1, gt=0, description="Step.")

    class Fixed(ElementwiseTeacher[FixedConfig]):
        """delta = step * sign(g)."""

        name = "fixed"

        def rule(self, grad, slots, param, step, hyper):
            return self.config.step * grad.sign(), {}

    registry = Registry([], disabled=())
    registry.add_plugin(
        type("P", (), {"register_teachers": amalg.hookimpl(lambda register: register(Fixed))}),
        "fixed",
    )
    with pytest.raises(TuningError, match="has no learning rate"):
        request_for(sphere(), "fixed", {}, 20, 1, GRID, registry=registry)


def test_a_tuning_round_trips_through_json(tmp_path):
    task = sphere()
    tuning = run_tuning(request_for(task, "sgd", {}, 10, 1, GRID, warmup_steps=0), task)
    path = TuningStore(tmp_path).save(tuning)
    data = json.loads(path.read_text())
    assert data["best_lr"] == 0.8 and data["scores"][-1] == "inf"
