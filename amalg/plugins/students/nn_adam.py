"""nn_adam (Metz et al. 2022): an LSTM hyperparameter controller for Adam."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor, nn

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params, State
from amalg.core.interfaces import Student
from amalg.plugins.students._lstm import add_lstm, reset_lstm, run_lstm

TENSOR_FEATURES = 12

# Bounds of the four hyperparameters, in the space the head predicts them in.
LOG_LR = (math.log(1e-8), math.log(1.0))
LOG_ONE_MINUS_BETA = (math.log(1e-6), math.log(0.999))
LOG_EPS = (math.log(1e-12), math.log(1e-2))


class NNAdamConfig(ComponentConfig):
    hidden: int = Field(32, ge=1, le=1024, description="LSTM units.")
    lr: float = Field(1e-3, gt=0, le=1, description="Initial learning rate (zero head output).")
    beta1: float = Field(0.9, gt=0, lt=1, description="Initial beta1.")
    beta2: float = Field(0.999, gt=0, lt=1, description="Initial beta2.")
    eps: float = Field(1e-8, gt=0, le=1e-2, description="Initial epsilon.")


def transformed(x: Tensor) -> Tensor:
    """The magnitude transform of Metz et al. 2020/2022: 0.5 * clip(log|x|, -5, 5)."""
    return 0.5 * torch.clamp(torch.log(x.abs() + 1e-30), -5.0, 5.0)


def tensor_features(grad: Tensor, param: Tensor, m: Tensor, v: Tensor) -> Tensor:
    """The 12 per-tensor features of Metz et al. 2022, Appendix C.1."""

    def var(x: Tensor) -> Tensor:
        return x.var(unbiased=False) if x.numel() > 1 else x.new_zeros(())

    return torch.stack(
        [
            transformed(m.mean()),
            torch.sign(m.mean()),
            transformed(var(m)),
            transformed(v.mean()),
            torch.sign(v.mean()),
            transformed(param.mean()),
            torch.sign(param.mean()),
            transformed(var(param)),
            transformed(grad.mean()),
            torch.sign(grad.mean()),
            transformed(var(grad)),
            transformed(grad.abs().mean()),
        ]
    )


class NNAdam(Student[NNAdamConfig]):
    """nn_adam: an LSTM over per-tensor features that sets each tensor's Adam hyperparameters.

    Metz et al. 2022, Section 2.2 and Appendix C. For every tensor, 12 features (the
    transformed mean, sign and variance of its momentum, the mean and sign of its second
    moment, the same of the parameter and the gradient, and the mean |g|; the transform is
    0.5 * clip(log|x|, -5, 5)) feed a 32-unit LSTM shared by all tensors. A linear head gives
    4 values added to the initial hyperparameters in their log spaces,

        log lr, log(1 - beta1), log(1 - beta2), log eps

    each clamped to a documented range (lr in [1e-8, 1], 1 - beta in [1e-6, 0.999], eps in
    [1e-12, 1e-2]); the tensor is then updated by Adam with them, its bias corrections
    following the betas actually used (running products). The head starts at zero: a fresh
    nn_adam is Adam at the initial hyperparameters.
    """

    name: ClassVar[str] = "nn_adam"

    # The per-tensor LSTM is tiny; Adam's element-wise arithmetic on the graph keeps a few
    # tensors the size of the state (m, v) per step.
    graph_ratio: ClassVar[float] = 1.0

    def __init__(self, config: object = None, /, **fields: object) -> None:
        super().__init__(config, **fields)
        add_lstm(self, TENSOR_FEATURES, self.config.hidden, 1)
        self.head_kernel = nn.Parameter(torch.empty(self.config.hidden, 4))
        self.head_bias = nn.Parameter(torch.empty(4))
        self.reset_parameters(torch.Generator().manual_seed(0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Keras' LSTM defaults; a zero head (the initial hyperparameters)."""
        reset_lstm(self, self.config.hidden, 1, generator)
        with torch.no_grad():
            self.head_kernel.zero_()
            self.head_bias.zero_()

    def init(self, params: Params) -> State:
        reference = next(iter(params.values()))
        cells = torch.zeros(
            1, len(params), self.config.hidden, dtype=reference.dtype, device=reference.device
        )
        slots = {
            key: {
                "m": torch.zeros_like(value),
                "v": torch.zeros_like(value),
                "p1": torch.ones((), dtype=value.dtype, device=value.device),
                "p2": torch.ones((), dtype=value.dtype, device=value.device),
            }
            for key, value in params.items()
        }
        return {"tensors": slots, "h": cells, "c": cells.clone()}

    def hyperparameters(self, out: Tensor) -> dict[str, Tensor]:
        """Per tensor, the Adam hyperparameters of the head's ``[tensor, 4]`` output."""
        config = self.config
        log_lr = torch.clamp(math.log(config.lr) + out[:, 0], *LOG_LR)
        log_b1 = torch.clamp(math.log(1 - config.beta1) + out[:, 1], *LOG_ONE_MINUS_BETA)
        log_b2 = torch.clamp(math.log(1 - config.beta2) + out[:, 2], *LOG_ONE_MINUS_BETA)
        log_eps = torch.clamp(math.log(config.eps) + out[:, 3], *LOG_EPS)
        return {
            "lr": torch.exp(log_lr),
            "beta1": 1 - torch.exp(log_b1),
            "beta2": 1 - torch.exp(log_b2),
            "eps": torch.exp(log_eps),
        }

    def forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        slots = state["tensors"]
        x = torch.stack(
            [tensor_features(grads[k], params[k], slots[k]["m"], slots[k]["v"]) for k in grads]
        ).to(self.head_kernel.dtype)
        x, h, c = run_lstm(self, 1, x, state["h"], state["c"])
        hyper = self.hyperparameters(x @ self.head_kernel + self.head_bias)
        delta, new_slots = {}, {}
        for i, (key, grad) in enumerate(grads.items()):
            lr, b1, b2, eps = (hyper[name][i].to(grad.dtype) for name in hyper)
            old = slots[key]
            m = b1 * old["m"] + (1 - b1) * grad
            v = b2 * old["v"] + (1 - b2) * grad * grad
            p1, p2 = old["p1"] * b1, old["p2"] * b2
            m_hat, v_hat = m / (1 - p1), v / (1 - p2)
            delta[key] = lr * m_hat / (torch.sqrt(v_hat) + eps)
            new_slots[key] = {"m": m, "v": v, "p1": p1, "p2": p2}
        return delta, {"tensors": new_slots, "h": h, "c": c}
