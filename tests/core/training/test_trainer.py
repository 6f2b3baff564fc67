"""The trainer keeps NaN away from phi, counts what it discarded, reloads a stage's best."""

from __future__ import annotations

import csv
import math

import torch

from amalg.core.interfaces import MetaGradient
from amalg.core.run_folder import RunFolder
from amalg.core.training.build import build_run
from amalg.core.training.run import execute
from amalg.core.training.trainer import Trainer

TINY = {
    "name": "tiny",
    "teachers": [{"name": "adam"}],
    "scheme": {"name": "imitation"},
    "strategy": {
        "name": "repeat",
        "config": {"periods": 1, "unrolls": [20], "truncation": 5, "trajectories": 2,
                   "validation_unroll": 10},
    },
    "engine": {"warmup_steps": 5},
    "evaluation": {"horizon": 10, "seeds": 1},
}  # fmt: skip


class PoisonEveryOther:
    """Wraps an estimator: every second meta-gradient is NaN."""

    def __init__(self, estimator):
        self.inner, self.calls = estimator, 0

    def init(self, phi, start, generator):
        return self.inner.init(phi, start, generator)

    def estimate(self, phi, truncation, state, generator):
        estimate = self.inner.estimate(phi, truncation, state, generator)
        self.calls += 1
        if self.calls % 2 == 0:
            poisoned = {k: torch.full_like(v, math.nan) for k, v in estimate.grads.items()}
            return MetaGradient(poisoned, estimate.state, estimate.objective, estimate.log)
        return estimate


def claimed(config, tmp_path) -> RunFolder:
    folder = RunFolder(tmp_path / "run")
    folder.claim(config.model_dump(mode="json"), resume=False)
    return folder


def test_non_finite_meta_gradients_are_discarded_and_counted(tmp_path):
    config, parts = build_run(TINY)
    parts.by_kind["estimator"]["tbptt"] = PoisonEveryOther(parts.estimator)
    folder = claimed(config, tmp_path)
    updates = []
    trainer = Trainer(config, parts, folder)
    original = trainer.learner.step

    def watched(grads):
        updates.append(all(torch.isfinite(g).all() for g in grads.values()))
        return original(grads)

    trainer.learner.step = watched
    trainer.train()
    assert updates and all(updates)  # no NaN was ever applied
    assert all(torch.isfinite(p).all() for p in parts.student.parameters())
    with (folder.path / "summary.csv").open() as file:
        [row] = list(csv.DictReader(file))
    assert int(row["nonfinite"]) == 2  # one per trajectory: the rest of it is dropped


def test_a_meta_step_that_would_make_phi_non_finite_is_undone(tmp_path):
    config, parts = build_run(TINY)
    trainer = Trainer(config, parts, RunFolder(tmp_path / "run"))
    before = {k: v.clone() for k, v in parts.student.state_dict().items()}
    huge = {name: torch.full_like(p, math.inf) for name, p in parts.student.named_parameters()}
    assert trainer.learner.step(huge) is False
    after = parts.student.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_stage_end_reloads_the_best_period_with_its_meta_optimizer(tmp_path, monkeypatch):
    values = {**TINY, "strategy": {**TINY["strategy"]}}
    values["strategy"]["config"] = {**TINY["strategy"]["config"], "periods": 3, "trajectories": 1}
    config, parts = build_run(values)
    folder = claimed(config, tmp_path)
    trainer = Trainer(config, parts, folder)
    scores = iter([3.0, 1.0, 2.0])  # period 1 is the best; the run ends after period 2
    monkeypatch.setattr(trainer.engine, "validate", lambda phi, seeds, length: next(scores))
    assert trainer.train() == "stage_0.1"
    best = folder.load_checkpoint("stage_0.1")
    now = parts.student.state_dict()
    assert all(torch.equal(best.period_end.phi[k], now[k]) for k in now)
    last = folder.load_checkpoint("stage_0.2")
    assert not all(torch.equal(last.period_end.phi[k], now[k]) for k in now)
    assert all(torch.equal(last.current.phi[k], now[k]) for k in now)
    step = trainer.learner.optimizer.state_dict()["state"][0]["step"]
    assert float(step) == float(best.period_end.optimizer["state"][0]["step"])


def test_a_run_through_the_python_api_writes_its_result(tmp_path):
    config, parts = build_run(TINY)
    folder = claimed(config, tmp_path)
    events = []
    result = execute(config, parts, folder, on_event=events.append)
    [comparison] = result.tasks
    assert [row.optimizer for row in comparison.rows] == ["rnnprop", "adam"]
    assert comparison.oracle is not None and comparison.oracle.optimizer == "adam"
    assert folder.read_result() == (list(result.tasks), result.checkpoint)
    names = [type(event).__name__ for event in events]
    assert names[0] == "RunStarted" and names[-1] == "RunFinished"
    assert {"TrajectoryFinished", "PeriodFinished", "EvaluationStarted"} <= set(names)
    # The same folder again: the finished result comes back, nothing is redone.
    before = {path: path.read_bytes() for path in folder.path.rglob("*") if path.is_file()}
    again, later = execute(config, parts, folder, resume=True, on_event=events.append), len(events)
    assert again == result and len(events) == later
    assert {path: path.read_bytes() for path in folder.path.rglob("*") if path.is_file()} == before
