"""Stochastic gradient descent."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from amalg.core import foreach
from amalg.core.config import ComponentConfig, LearningRate
from amalg.core.foreach import ForeachUpdate, Numbers, SlotLists, Tensors
from amalg.core.interfaces import ElementwiseTeacher, Hyper, Slots, TensorUpdate


class SGDConfig(ComponentConfig):
    lr: LearningRate = 0.2


class SGD(ElementwiseTeacher[SGDConfig]):
    """Stochastic gradient descent: delta = lr * g.

    Huang et al. 2022, Table 3 ("SGD: g"); default learning rate from the reference presets.
    """

    name: ClassVar[str] = "sgd"
    compiled_path = True

    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        return hyper["lr"] * grad, {}

    def foreach_rule(
        self, grads: Tensors, slots: SlotLists, params: Tensors, step: int, hyper: Numbers
    ) -> ForeachUpdate:
        return foreach.scaled(grads, hyper["lr"]), {}
