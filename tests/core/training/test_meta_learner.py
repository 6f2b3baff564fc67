"""The meta-learner refuses another student's state and undoes a step that breaks phi."""

from __future__ import annotations

import pytest

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
