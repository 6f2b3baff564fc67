"""Components name their config once, as the type argument of their contract."""

from __future__ import annotations

from pydantic import Field

import amalg
from amalg.core.config import ComponentConfig
from amalg.core.interfaces import ElementwiseTeacher, Optimizee, Task
from amalg.plugins.students.rnnprop import RNNProp, RNNPropConfig


class ScaleConfig(ComponentConfig):
    lr: float = Field(0.1, gt=0, description="Step size.")


class Scaled(ElementwiseTeacher[ScaleConfig]):
    """delta = lr * g."""

    name = "scaled"

    def rule(self, grad, slots, param, step, hyper):
        return hyper["lr"] * grad, {}


def test_the_type_argument_is_the_config_class():
    assert Scaled.config_class is ScaleConfig
    assert Scaled(lr=0.5).config.lr == 0.5
    assert RNNProp.config_class is RNNPropConfig
    assert isinstance(amalg.create("student", "rnnprop").config, RNNPropConfig)


def test_an_explicit_config_class_still_works():
    class Explicit(ElementwiseTeacher):
        """delta = lr * g."""

        name = "explicit"
        config_class = ScaleConfig

        def rule(self, grad, slots, param, step, hyper):
            return hyper["lr"] * grad, {}

    assert Explicit(lr=0.2).config.lr == 0.2


def test_optimizee_is_the_task_contract_under_the_designs_word():
    assert Optimizee is Task
    assert [info.name for info in amalg.list_components("optimizee")] == [
        info.name for info in amalg.list_components("task")
    ]
