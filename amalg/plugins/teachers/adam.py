"""Adam."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from amalg.core.foreach import ForeachUpdate, Numbers, SlotLists, Tensors
from amalg.core.functional import safe_sqrt
from amalg.core.interfaces import ElementwiseTeacher, Hyper, Slots, TensorUpdate
from amalg.plugins.teachers._moments import MomentsConfig, foreach_moments, moments


class AdamConfig(MomentsConfig):
    pass


class Adam(ElementwiseTeacher[AdamConfig]):
    """Adam: delta = lr * m_hat / (sqrt(v_hat) + eps).

    Kingma & Ba 2015; Huang et al. 2022, Table 3 ("Adam: m-hat / sqrt(v-hat)"). m and v are
    EMAs of g and g^2 with standard bias correction, eps outside the root: the rule of
    torch.optim.Adam. Default learning rate from the reference presets.
    """

    name: ClassVar[str] = "adam"
    slots = ("m", "v")
    compiled_path = True

    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        m, v, m_hat, v_hat = moments(grad, slots, step, hyper)
        return hyper["lr"] * m_hat / (safe_sqrt(v_hat) + hyper["eps"]), {"m": m, "v": v}

    def foreach_rule(
        self, grads: Tensors, slots: SlotLists, params: Tensors, step: int, hyper: Numbers
    ) -> ForeachUpdate:
        m, v, delta, root = foreach_moments(grads, slots, step, hyper)
        torch._foreach_mul_(delta, hyper["lr"])
        torch._foreach_div_(delta, root)
        return delta, {"m": m, "v": v}
