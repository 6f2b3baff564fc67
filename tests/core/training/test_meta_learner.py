"""The meta-learner refuses another student's state and undoes a step that breaks phi."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.core.runconfig import MetaOptimizerConfig
from amalg.core.training.meta_learner import IncompatibleStateError, MetaLearner


def test_another_students_state_is_refused_naming_what_differs():
    learner = MetaLearner(amalg.create("student", "rnnprop"), MetaOptimizerConfig())
    other = MetaLearner(amalg.create("student", "rnnprop", hidden=7), MetaOptimizerConfig())
    with pytest.raises(IncompatibleStateError, match=r"other shape: bias0") as caught:
        learner.load(other.state(), "checkpoint x.pt")
    assert str(caught.value).startswith("checkpoint x.pt holds another student's")
    learner.load(learner.state())  # its own state loads


def test_value_clipping_comes_before_the_norm_clipping(monkeypatch):
    student = amalg.create("student", "rnnprop", hidden=2, layers=1)
    seen = {}
    for clip_value in (None, 0.5):
        learner = MetaLearner(student, MetaOptimizerConfig(clip_norm=100.0, clip_value=clip_value))
        grads = {name: torch.full_like(p, 2.0) for name, p in student.named_parameters()}
        grads["dense_bias"] = torch.full_like(grads["dense_bias"], 0.1)

        def capture(*args, learner=learner, key=clip_value, **kwargs):
            seen[key] = {n: p.grad.clone() for n, p in learner.student.named_parameters()}

        monkeypatch.setattr(learner.optimizer, "step", capture)
        learner.step(grads)
    assert float(seen[None]["kernel0"].max()) == 2.0
    assert float(seen[0.5]["kernel0"].max()) == 0.5
    assert float(seen[0.5]["dense_bias"]) == pytest.approx(0.1)  # under the clip: kept
