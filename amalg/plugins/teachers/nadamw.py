"""NAdamW: Adam / Nesterov-Adam with AdamW-style and L2 weight decay and a cosine schedule."""

from __future__ import annotations

import math
from typing import ClassVar, Self

import torch
from pydantic import Field, model_validator
from torch import Tensor

from amalg.core import foreach
from amalg.core.config import (
    ComponentConfig,
    Epsilon,
    FirstMomentDecay,
    LearningRate,
    SecondMomentDecay,
)
from amalg.core.foreach import ForeachUpdate, Numbers, SlotLists, Tensors
from amalg.core.functional import bias_correction, ema, safe_sqrt
from amalg.core.interfaces import ElementwiseTeacher, Hyper, Slots, TensorUpdate


class NAdamWConfig(ComponentConfig):
    # The adam teacher's default: NAdamW with its extras off then starts where Adam does.
    lr: LearningRate = Field(0.005, description="Base learning rate alpha_base.")
    beta1: FirstMomentDecay = 0.9
    beta2: SecondMomentDecay = 0.999
    eps: Epsilon = 1e-8
    use_nesterov: bool = Field(True, description="NAdam's Nesterov step instead of Adam's.")
    l2_weight_decay: float = Field(
        0.0, ge=0, description="L2 regularisation: l2_weight_decay * ||theta||^2 joins the loss."
    )
    adamw_weight_decay: float = Field(
        0.0, ge=0, description="Decoupled (AdamW) decay: lr_t * adamw_weight_decay * theta."
    )
    horizon: int | None = Field(
        None,
        ge=1,
        description="Training length T in steps for the schedule; none: a constant lr.",
    )
    warmup_fraction: float = Field(
        0.0, ge=0, le=1, description="Linear warmup over the first warmup_fraction * T steps."
    )
    constant_fraction: float = Field(
        0.0, ge=0, le=1, description="Hold lr until constant_fraction * T, then cosine decay."
    )
    min_lr_mult: float = Field(
        0.0, ge=0, le=1, description="The cosine decay ends at min_lr_mult * lr at step T."
    )

    @model_validator(mode="after")
    def _schedule_needs_horizon(self) -> Self:
        scheduled = [
            name
            for name in ("warmup_fraction", "constant_fraction", "min_lr_mult")
            if getattr(self, name) != 0.0
        ]
        if self.horizon is None and scheduled:
            raise ValueError(
                f"{', '.join(scheduled)} shape a schedule over `horizon` steps; set horizon"
            )
        return self


class NAdamW(ElementwiseTeacher[NAdamWConfig]):
    """NAdamW: Nesterov Adam with AdamW-style and L2 weight decay over a cosine schedule.

    Metz et al. 2022, Appendix F (after Metz et al. 2020). With gradient g of
    f + l2_weight_decay * ||theta||^2, i.e. g = grad + 2 * l2_weight_decay * theta::

        m = beta1 m + (1 - beta1) g,          v = beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^(t+1)),        v_hat = v / (1 - beta2^(t+1))
        u = m_hat / (sqrt(v_hat) + eps)                              (Adam)
        u = (beta1 m_hat + (1 - beta1) g) / (sqrt(v_hat) + eps)      (Nesterov)
        delta = alpha_t * u + alpha_t * adamw_weight_decay * theta

    The learning rate alpha_t follows one cosine cycle over ``horizon`` = T steps: linear
    warmup ``alpha_t = lr * t / (warmup_fraction T)`` while ``t < warmup_fraction T``,
    otherwise ``lr_min + (lr - lr_min) (1 + cos(pi s / (T - constant_fraction T))) / 2`` with
    ``s = max(t - constant_fraction T, 0)``, ``lr_min = min_lr_mult * lr`` and t clipped at T.
    Without a horizon alpha_t = lr. This follows the printed equations (4)-(9): warmup
    lasts warmup_fraction T whatever constant_fraction is (the code Metz et al. 2020 released
    stretches warmup to max(warmup_fraction, constant_fraction) T instead).
    """

    name: ClassVar[str] = "nadamw"
    slots = ("m", "v")
    compiled_path = True
    # The schedule fields are read as plain numbers; the rest may be tensors.
    differentiable: ClassVar[tuple[str, ...]] = (
        "lr",
        "beta1",
        "beta2",
        "eps",
        "l2_weight_decay",
        "adamw_weight_decay",
    )

    def schedule(self, step: int | Tensor) -> float | Tensor:
        """The multiplier of lr at ``step`` (1 without a horizon): a number for an int step,
        a 0-dimensional tensor for a tensor step (the compiled path). One formula for both,
        in float64 (the same bits as Python's floats), with no Python branch on the step's
        value: both pieces computed, one chosen by ``torch.where``."""
        config = self.config
        if config.horizon is None:
            return 1.0
        if not isinstance(step, Tensor):
            return float(self.schedule(torch.tensor(float(step), dtype=torch.float64)))
        horizon = float(config.horizon)
        warmup = config.warmup_fraction * horizon
        constant = config.constant_fraction * horizon
        t = step.clamp(max=horizon)
        ramp = t / warmup if warmup > 0 else torch.ones_like(t)
        if constant >= horizon:
            after = torch.ones_like(t)
        else:
            angle = math.pi * (t - constant).clamp(min=0.0) / (horizon - constant)
            cosine = 0.5 * (1.0 + torch.cos(angle))
            after = config.min_lr_mult + (1.0 - config.min_lr_mult) * cosine
        return torch.where(t < warmup, ramp, after)

    def rule(
        self, grad: Tensor, slots: Slots, param: Tensor, step: int, hyper: Hyper
    ) -> TensorUpdate:
        beta1, beta2 = hyper["beta1"], hyper["beta2"]
        g = grad + 2 * hyper["l2_weight_decay"] * param
        m = ema(slots["m"], g, beta1)
        v = ema(slots["v"], g * g, beta2)
        m_hat = m / bias_correction(beta1, step)
        v_hat = v / bias_correction(beta2, step)
        direction = beta1 * m_hat + (1 - beta1) * g if self.config.use_nesterov else m_hat
        lr_t = hyper["lr"] * self.schedule(step)
        delta = lr_t * direction / (safe_sqrt(v_hat) + hyper["eps"])
        return delta + lr_t * hyper["adamw_weight_decay"] * param, {"m": m, "v": v}

    def foreach_rule(
        self, grads: Tensors, slots: SlotLists, params: Tensors, step: int, hyper: Numbers
    ) -> ForeachUpdate:
        beta1, beta2 = hyper["beta1"], hyper["beta2"]
        g = foreach.scaled(params, 2 * hyper["l2_weight_decay"])
        torch._foreach_add_(g, grads)
        m = foreach.ema_(slots["m"], g, beta1)
        v = foreach.ema_(slots["v"], foreach.squares(g), beta2, scratch=True)
        direction = torch._foreach_div(m, bias_correction(beta1, step))
        root = torch._foreach_div(v, bias_correction(beta2, step))
        if self.config.use_nesterov:
            torch._foreach_mul_(direction, beta1)
            torch._foreach_mul_(g, 1 - beta1)
            torch._foreach_add_(direction, g)
        lr_t = hyper["lr"] * float(self.schedule(step))
        foreach.moment_sqrt_(root)
        torch._foreach_add_(root, hyper["eps"])
        torch._foreach_mul_(direction, lr_t)
        torch._foreach_div_(direction, root)
        torch._foreach_add_(direction, foreach.scaled(params, lr_t * hyper["adamw_weight_decay"]))
        return direction, {"m": m, "v": v}
