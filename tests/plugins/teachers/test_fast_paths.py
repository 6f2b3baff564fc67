"""A teacher's fast path is taken only where it computes the teacher's own rule, and only
where no autograd graph is wanted."""

from __future__ import annotations

from typing import ClassVar

import torch

from amalg.core.interfaces.teacher import _has_fast_path
from amalg.plugins.teachers.adam import Adam
from amalg.plugins.teachers.signs import AddSign
from amalg.testing.problems import random_params


class ScaledAdam(Adam):
    """Overrides the rule but not its fast twin: the fast path would be Adam's."""

    name: ClassVar[str] = "scaled_adam"

    def rule(self, grad, slots, param, step, hyper):
        delta, new = super().rule(grad, slots, param, step, hyper)
        return 2 * delta, new


class StrongerSign(AddSign):
    name: ClassVar[str] = "stronger_sign"

    @staticmethod
    def scale(agreement):
        return 2 + agreement


class StrongerSignFast(StrongerSign):
    @staticmethod
    def scale_(agreements):
        torch._foreach_add_(agreements, 2)


def test_a_subclass_that_changes_the_rule_alone_loses_the_fast_path():
    assert _has_fast_path(Adam) and _has_fast_path(AddSign)
    assert not _has_fast_path(ScaledAdam) and not _has_fast_path(StrongerSign)
    assert _has_fast_path(StrongerSignFast)


def test_such_a_subclass_computes_its_own_rule_without_a_graph():
    teacher, params = ScaledAdam(), random_params()
    grads = random_params(seed=1)
    expected, _ = Adam().update(grads, Adam().init(params), params, 0)
    with torch.no_grad():
        got, _ = teacher.update(grads, teacher.init(params), params, 0)
    assert all(torch.allclose(got[k], 2 * expected[k]) for k in expected)


def test_a_hyperparameter_to_differentiate_takes_the_simple_path():
    lr = torch.tensor(0.01, requires_grad=True)
    teacher, params = Adam().with_hyperparameters(lr=lr), random_params()
    delta, _ = teacher.update(random_params(seed=1), teacher.init(params), params, 0)
    assert all(value.grad_fn is not None for value in delta.values())
