"""Momentum with an exponential moving average of the gradient."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from amalg.core import foreach
from amalg.core.config import ComponentConfig, FirstMomentDecay, LearningRate
from amalg.core.foreach import ForeachUpdate, Numbers, SlotLists, Tensors
from amalg.core.functional import bias_correction, ema
from amalg.core.interfaces import ElementwiseTeacher, Hyper, Slots, TensorUpdate


class MomentumConfig(ComponentConfig):
    lr: LearningRate = 0.5
    beta: FirstMomentDecay = 0.9
    bias_correction: bool = Field(
        True, description="Divide m by 1 - beta^(t+1) (the m-hat of Huang et al. 2022, Table 3)."
    )


class Momentum(ElementwiseTeacher[MomentumConfig]):
    """Momentum: delta = lr * m_hat, with m = beta * m + (1 - beta) * g.

    Huang et al. 2022, Table 3 ("Momentum: m-hat"). m_hat = m / (1 - beta^(t+1)) with the step t
    counted from 0; set ``bias_correction=false`` for the raw average m.
    """

    name: ClassVar[str] = "momentum"
    slots = ("m",)
    compiled_path = True

    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        beta = hyper["beta"]
        m = ema(slots["m"], grad, beta)
        m_hat = m / bias_correction(beta, step) if self.config.bias_correction else m
        return hyper["lr"] * m_hat, {"m": m}

    def foreach_rule(
        self, grads: Tensors, slots: SlotLists, params: Tensors, step: int, hyper: Numbers
    ) -> ForeachUpdate:
        beta = hyper["beta"]
        m = foreach.ema_(slots["m"], grads, beta)
        delta: foreach.Tensors
        if self.config.bias_correction:
            delta = torch._foreach_div(m, bias_correction(beta, step))
            torch._foreach_mul_(delta, hyper["lr"])
        else:
            delta = foreach.scaled(m, hyper["lr"])
        return delta, {"m": m}
