"""RNNProp (Lv et al. 2017), the amalgamation target of Huang et al. 2022."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from amalg.core.config import ComponentConfig, Epsilon, FirstMomentDecay, SecondMomentDecay
from amalg.core.functional import Params, State, bias_correction, ema, flatten, unflatten
from amalg.core.interfaces import Student
from amalg.plugins.students._lstm import (
    LSTM,
    add_lstm,
    glorot,
    reset_lstm,
    run_lstm,
    simple_lstm_step,
)


class RNNPropConfig(ComponentConfig):
    hidden: int = Field(20, ge=1, le=1024, description="LSTM units per layer.")
    layers: int = Field(2, ge=1, le=8, description="Stacked LSTM layers.")
    beta1: FirstMomentDecay = 0.9
    beta2: SecondMomentDecay = 0.999
    eps: Epsilon = 1e-10
    output_scale: float = Field(
        0.1, gt=0, description="The update is output_scale * tanh(dense(h)): its largest step."
    )
    random_scaling: float = Field(
        3.0,
        ge=0,
        le=20,
        description="Meta-training only: coordinates scaled by exp(U(-r, r)) per trajectory; "
        "0: off.",
    )


class RNNProp(Student[RNNPropConfig]):
    """RNNProp: a coordinate-wise 2-layer LSTM fed Adam- and RMSProp-like inputs.

    Lv et al. 2017; Huang et al. 2022, Appendix C.1.1. For every coordinate, with m and v the
    bias-corrected moving averages of g and g^2 (beta1 0.9, beta2 0.999), the inputs are
    m_hat / sqrt(v_hat + eps) and g / sqrt(v_hat + eps); two LSTM layers of 20 units (tanh,
    sigmoid recurrent activation, Keras gate order i, f, c, o and one bias per gate) with
    weights shared by all coordinates, then delta = 0.1 * tanh(dense(h)). 5,141
    meta-parameters. The moments and every coordinate's hidden and cell states are the
    optimizer state, held flat over all coordinates (parameters in key order) so each step
    is one batched matrix product per layer.

    Random scaling (Lv et al. 2017, Section 3.2), meta-training only: each trajectory, the
    student optimises f(s * x) with s = exp(U(-r, r)) per coordinate, r = ``random_scaling``
    (3 in the reference), so it cannot rely on the scale of the parameters and gradients.
    """

    name: ClassVar[str] = "rnnprop"

    def __init__(self, config: object = None, /, **fields: object) -> None:
        super().__init__(config, **fields)
        hidden = self.config.hidden
        add_lstm(self, 2, hidden, self.config.layers)
        self.dense_kernel = nn.Parameter(torch.empty(hidden, 1))
        self.dense_bias = nn.Parameter(torch.empty(1))
        self.reset_parameters(torch.Generator().manual_seed(0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Keras' LSTM and Dense defaults: Glorot-uniform kernels, orthogonal recurrent
        kernels, zero biases but 1 for the forget gate, Glorot-uniform dense kernel."""
        reset_lstm(self, self.config.hidden, self.config.layers, generator)
        with torch.no_grad():
            glorot(self.dense_kernel, generator)
            self.dense_bias.zero_()

    def training_scale(self, params: Params, generator: torch.Generator) -> Params | None:
        r = self.config.random_scaling
        if r == 0:
            return None
        return {
            key: torch.exp((torch.rand(value.shape, generator=generator) * 2 - 1) * r).to(value)
            for key, value in params.items()
        }

    def init(self, params: Params) -> State:
        size = sum(value.numel() for value in params.values())
        reference = next(iter(params.values()))
        zeros = torch.zeros(size, dtype=reference.dtype, device=reference.device)
        cells = torch.zeros(
            self.config.layers,
            size,
            self.config.hidden,
            dtype=reference.dtype,
            device=reference.device,
        )
        return {"m": zeros, "v": zeros.clone(), "h": cells, "c": cells.clone()}

    def forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        return self._step(grads, state, step, run_lstm)

    def simple_forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """The rule with the LSTM written as its equations (:func:`simple_lstm_step`): the
        reference :meth:`forward` must equal to float rounding."""
        return self._step(grads, state, step, simple_lstm_step)

    def _step(self, grads: Params, state: State, step: int, lstm: LSTM) -> tuple[Params, State]:
        config = self.config
        g = flatten(grads)
        m = ema(state["m"], g, config.beta1)
        v = ema(state["v"], g * g, config.beta2)
        m_hat = m / bias_correction(config.beta1, step)
        root = torch.sqrt(v / bias_correction(config.beta2, step) + config.eps)
        x = torch.stack([m_hat / root, g / root], dim=1)
        x, h, c = lstm(self, config.layers, x, state["h"], state["c"])
        flat = torch.tanh(x @ self.dense_kernel + self.dense_bias).squeeze(1) * config.output_scale
        return unflatten(flat, grads), {"m": m, "v": v, "h": h, "c": c}
