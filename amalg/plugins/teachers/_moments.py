"""The first and second moment estimates shared by Adam, AddSign and PowerSign."""

from __future__ import annotations

import torch
from torch import Tensor

from amalg.core import foreach
from amalg.core.config import (
    ComponentConfig,
    Epsilon,
    FirstMomentDecay,
    LearningRate,
    SecondMomentDecay,
)
from amalg.core.foreach import Numbers, SlotLists, Tensors
from amalg.core.functional import bias_correction, ema
from amalg.core.interfaces import Hyper, Slots


class MomentsConfig(ComponentConfig):
    lr: LearningRate = 0.005
    beta1: FirstMomentDecay = 0.9
    beta2: SecondMomentDecay = 0.999
    eps: Epsilon = 1e-10


def moments(
    grad: Tensor, slots: Slots, step: int, hyper: Hyper
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(m, v, m_hat, v_hat)``: the EMAs of g and g^2 and their bias-corrected values
    ``m / (1 - beta1^(t+1))`` and ``v / (1 - beta2^(t+1))`` (Kingma & Ba 2015)."""
    beta1, beta2 = hyper["beta1"], hyper["beta2"]
    m = ema(slots["m"], grad, beta1)
    v = ema(slots["v"], grad * grad, beta2)
    return m, v, m / bias_correction(beta1, step), v / bias_correction(beta2, step)


def foreach_moments(
    grads: Tensors, slots: SlotLists, step: int, hyper: Numbers
) -> tuple[Tensors, Tensors, Tensors, Tensors]:
    """:func:`moments` over every tensor at once, and the denominator Adam, AddSign and
    PowerSign share: ``(m, v, m_hat, sqrt(v_hat) + eps)``, ``m`` and ``v`` written into
    ``slots``' buffers, the other two new tensors the caller may overwrite."""
    beta1, beta2 = hyper["beta1"], hyper["beta2"]
    m = foreach.ema_(slots["m"], grads, beta1)
    v = foreach.ema_(slots["v"], foreach.squares(grads), beta2, scratch=True)
    m_hat = torch._foreach_div(m, bias_correction(beta1, step))
    root = foreach.moment_sqrt_(torch._foreach_div(v, bias_correction(beta2, step)))
    torch._foreach_add_(root, hyper["eps"])
    return m, v, m_hat, root
