"""RMSProp."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from amalg.core import foreach
from amalg.core.config import (
    ComponentConfig,
    Epsilon,
    LearningRate,
    SecondMomentDecay,
)
from amalg.core.foreach import ForeachUpdate, Numbers, SlotLists, Tensors
from amalg.core.functional import bias_correction, ema, safe_sqrt
from amalg.core.interfaces import ElementwiseTeacher, Hyper, Slots, TensorUpdate


class RMSPropConfig(ComponentConfig):
    lr: LearningRate = 0.005
    beta2: SecondMomentDecay = 0.999
    eps: Epsilon = 1e-10
    bias_correction: bool = Field(
        True,
        description="Divide v by 1 - beta2^(t+1) (the v-hat of Huang et al. 2022, Table 3); "
        "false gives torch.optim.RMSprop's rule.",
    )


class RMSProp(ElementwiseTeacher[RMSPropConfig]):
    """RMSProp: delta = lr * g / sqrt(v_hat + eps), with v = beta2 * v + (1 - beta2) * g^2.

    Huang et al. 2022, Table 3 ("RMSProp: g / sqrt(v-hat)"); eps sits inside the square root as in
    the design's numerics table (torch.optim.RMSprop adds it outside). v_hat is
    v / (1 - beta2^(t+1)); with ``bias_correction=false`` and beta2 = torch's ``alpha`` the
    rule is torch.optim.RMSprop's (eps placement aside).
    """

    name: ClassVar[str] = "rmsprop"
    slots = ("v",)
    compiled_path = True

    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        beta2 = hyper["beta2"]
        v = ema(slots["v"], grad * grad, beta2)
        v_hat = v / bias_correction(beta2, step) if self.config.bias_correction else v
        return hyper["lr"] * grad / safe_sqrt(v_hat + hyper["eps"]), {"v": v}

    def foreach_rule(
        self, grads: Tensors, slots: SlotLists, params: Tensors, step: int, hyper: Numbers
    ) -> ForeachUpdate:
        beta2 = hyper["beta2"]
        v = foreach.ema_(slots["v"], foreach.squares(grads), beta2, scratch=True)
        if self.config.bias_correction:
            root = torch._foreach_div(v, bias_correction(beta2, step))
            torch._foreach_add_(root, hyper["eps"])
        else:
            root = torch._foreach_add(v, hyper["eps"])
        foreach.moment_sqrt_(root)
        delta = foreach.scaled(grads, hyper["lr"])
        torch._foreach_div_(delta, root)
        return delta, {"v": v}
