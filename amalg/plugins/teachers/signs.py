"""AddSign and PowerSign (Bello et al. 2017), made differentiable as in Huang et al. 2022, eq. 8."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from amalg.core.component import ConfigT
from amalg.core.config import LearningRate
from amalg.core.foreach import ForeachUpdate, Numbers, SlotLists, Tensors
from amalg.core.functional import safe_sqrt, tanh
from amalg.core.interfaces import ElementwiseTeacher, Hyper, Slots, TensorUpdate
from amalg.plugins.teachers._moments import MomentsConfig, foreach_moments, moments


class SignAgreementTeacher(ElementwiseTeacher[ConfigT]):
    """Shared rule: delta = lr * scale(a) * g with the soft sign agreement

    a = tanh(m_hat / (sqrt(v_hat) + eps)) * tanh(g / (sqrt(v_hat) + eps)),

    the differentiable stand-in for sign(m_hat) * sign(g) (Huang et al. 2022, eq. 8): dividing by
    sqrt(v_hat) gives tanh a consistent input scale whatever the gradient magnitude.
    """

    slots = ("m", "v")
    compiled_path = True
    fast_twins: ClassVar[dict[str, str]] = {"rule": "foreach_rule", "scale": "scale_"}

    @staticmethod
    @abstractmethod
    def scale(agreement: Tensor) -> Tensor:
        """How the step grows with agreement between momentum and gradient."""

    @staticmethod
    @abstractmethod
    def scale_(agreements: Tensors) -> None:
        """:meth:`scale` in place over every tensor (the fast path)."""

    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        m, v, m_hat, v_hat = moments(grad, slots, step, hyper)
        root = safe_sqrt(v_hat) + hyper["eps"]
        agreement = tanh(m_hat / root) * tanh(grad / root)
        return hyper["lr"] * self.scale(agreement) * grad, {"m": m, "v": v}

    def foreach_rule(
        self, grads: Tensors, slots: SlotLists, params: Tensors, step: int, hyper: Numbers
    ) -> ForeachUpdate:
        m, v, agreement, root = foreach_moments(grads, slots, step, hyper)
        torch._foreach_div_(agreement, root)
        torch._foreach_tanh_(agreement)
        against = torch._foreach_div(grads, root)
        torch._foreach_tanh_(against)
        torch._foreach_mul_(agreement, against)
        self.scale_(agreement)
        torch._foreach_mul_(agreement, hyper["lr"])
        torch._foreach_mul_(agreement, grads)
        return agreement, {"m": m, "v": v}


class AddSignConfig(MomentsConfig):
    lr: LearningRate = 0.1


class AddSign(SignAgreementTeacher[AddSignConfig]):
    """AddSign: delta = lr * (1 + tanh(m_hat/sqrt(v_hat)) * tanh(g/sqrt(v_hat))) * g.

    Bello et al. 2017 (g * (1 + sign(m) sign(g))), with the soft sign of Huang et al. 2022, eq. 8
    and Table 3; sqrt(v_hat) + eps in the denominators. Default lr from the reference presets.
    """

    name: ClassVar[str] = "addsign"

    @staticmethod
    def scale(agreement: Tensor) -> Tensor:
        return 1 + agreement

    @staticmethod
    def scale_(agreements: Tensors) -> None:
        torch._foreach_add_(agreements, 1)


class PowerSignConfig(MomentsConfig):
    lr: LearningRate = 0.1


class PowerSign(SignAgreementTeacher[PowerSignConfig]):
    """PowerSign: delta = lr * exp(tanh(m_hat/sqrt(v_hat)) * tanh(g/sqrt(v_hat))) * g.

    Bello et al. 2017 (g * exp(sign(m) sign(g))), with the soft sign of Huang et al. 2022, eq. 8
    and Table 3; sqrt(v_hat) + eps in the denominators. Default lr from the reference presets.
    """

    name: ClassVar[str] = "powersign"

    @staticmethod
    def scale(agreement: Tensor) -> Tensor:
        return torch.exp(agreement)

    @staticmethod
    def scale_(agreements: Tensors) -> None:
        torch._foreach_exp_(agreements)
