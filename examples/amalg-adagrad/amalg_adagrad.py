"""An Adagrad teacher for amalg, as a third-party plugin."""

from torch import Tensor

import amalg
from amalg.core.config import ComponentConfig, Epsilon, LearningRate
from amalg.core.functional import safe_sqrt
from amalg.core.hookspecs import Register
from amalg.core.interfaces import ElementwiseTeacher, Hyper, Slots, Teacher, TensorUpdate


class AdagradConfig(ComponentConfig):
    lr: LearningRate = 0.1
    eps: Epsilon = 1e-10


class Adagrad(ElementwiseTeacher[AdagradConfig]):
    """Adagrad: delta = lr * g / (sqrt(G) + eps), with G the running sum of g^2.

    Duchi, Hazan & Singer, "Adaptive Subgradient Methods", JMLR 2011.
    """

    name = "adagrad"
    slots = ("sum_sq",)

    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        sum_sq = slots["sum_sq"] + grad * grad
        delta = hyper["lr"] * grad / (safe_sqrt(sum_sq) + hyper["eps"])
        return delta, {"sum_sq": sum_sq}


@amalg.hookimpl
def register_teachers(register: Register[Teacher]) -> None:
    register(Adagrad)
