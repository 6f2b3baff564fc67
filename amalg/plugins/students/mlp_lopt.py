"""The MLP learned optimizer of Metz et al. 2019."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor, nn

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params, State, graph_wanted, unflatten
from amalg.core.interfaces import Student
from amalg.plugins.students._features import exponential_step, folded_step, unit_second_moment

DECAYS = (0.5, 0.9, 0.99, 0.999, 0.9999)
TIMESCALES = tuple(3 * 10 ** (5 * i / 8) for i in range(9))
"""9 timescales logarithmically spaced from 3 to 300k."""
FEATURES = 2 + 4 * len(DECAYS) + len(TIMESCALES)


class MLPLoptConfig(ComponentConfig):
    hidden: int = Field(32, ge=1, le=1024, description="ReLU units of the hidden layer.")
    step_scale: float = Field(
        1e-3, gt=0, description="lambda_lin: the step is l_lin o2 exp(l_exp o1)."
    )
    magnitude_scale: float = Field(1e-3, gt=0, description="lambda_exp of the step.")
    eps: float = Field(1e-8, gt=0, description="Numerical stability term of 1 / (rms + eps).")


class MLPLopt(Student[MLPLoptConfig]):
    """The per-parameter MLP learned optimizer of Metz et al. 2019 (Section 4.1, Appendix C).

    For every coordinate, at each decay d in 0.5, 0.9, 0.99, 0.999, 0.9999: the momentum m_d
    (EMA of g), rms_d (square root of the EMA of g^2), r_d = 1 / (rms_d + eps) and r_d m_d
    (20 features), plus the gradient and the parameter (22), each scaled to a second moment of
    1 over its tensor; then tanh(t / eta - 1) for 9 timescales eta log-spaced from 3 to 300k:
    31 inputs. One hidden layer of 32 ReLU units gives o1 and o2, and the update is
    delta = l_lin * o2 * exp(l_exp * o1), l_lin = l_exp = 1e-3. 1,090 meta-parameters.
    """

    name: ClassVar[str] = "mlp_lopt"

    # Per coordinate: 10 accumulators of state; a step's graph keeps the 31 features, the
    # 32 hidden units and the features' intermediates: well above 4 times the state.
    graph_ratio: ClassVar[float] = 4.0

    def __init__(self, config: object = None, /, **fields: object) -> None:
        super().__init__(config, **fields)
        hidden = self.config.hidden
        self.w0 = nn.Parameter(torch.empty(FEATURES, hidden))
        self.b0 = nn.Parameter(torch.empty(hidden))
        self.w1 = nn.Parameter(torch.empty(hidden, 2))
        self.b1 = nn.Parameter(torch.empty(2))
        self.reset_parameters(torch.Generator().manual_seed(0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Truncated normal weights of std 1 / sqrt(fan_in), zero biases."""
        with torch.no_grad():
            for weight in (self.w0, self.w1):
                std = 1 / math.sqrt(weight.shape[0])
                nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std, generator=generator)
            self.b0.zero_()
            self.b1.zero_()

    def init(self, params: Params) -> State:
        return {
            key: {
                "m": torch.zeros(len(DECAYS), *value.shape, dtype=value.dtype, device=value.device),
                "ms": torch.zeros(
                    len(DECAYS), *value.shape, dtype=value.dtype, device=value.device
                ),
            }
            for key, value in params.items()
        }

    def _raw_features(
        self, grad: Tensor, param: Tensor, slots: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The 22 features of one tensor before normalisation, ``[22, coordinates]``, and
        its new slots."""
        decays = grad.new_tensor(DECAYS).view((len(DECAYS),) + (1,) * grad.dim())
        m = decays * slots["m"] + (1 - decays) * grad
        ms = decays * slots["ms"] + (1 - decays) * grad * grad
        rms = torch.sqrt(ms + 1e-30)
        r = 1 / (rms + self.config.eps)
        groups = [grad.unsqueeze(0), param.unsqueeze(0), m, rms, r, r * m]
        return torch.cat([g.reshape(g.shape[0], -1) for g in groups]), {"m": m, "ms": ms}

    def _time(self, step: int, like: Tensor) -> Tensor:
        return torch.tanh(step / like.new_tensor(TIMESCALES) - 1)

    def features(
        self, grad: Tensor, param: Tensor, slots: dict[str, Tensor], step: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The ``[coordinate, 31]`` inputs of one tensor and its new slots."""
        stacked, new = self._raw_features(grad, param, slots)
        normalised = unit_second_moment(stacked)
        time = self._time(step, grad)
        inputs = torch.cat([normalised.T, time.expand(normalised.shape[1], -1)], dim=1)
        return inputs, new

    def forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """The fast path of :meth:`simple_forward`, never building the 31 inputs of a
        coordinate (:func:`~amalg.plugins.students._features.folded_step`)."""
        config = self.config

        def head(x: Tensor) -> Tensor:
            return torch.addmm(self.b1.unsqueeze(1), self.w1.T, torch.relu(x))

        return folded_step(
            grads, state, params, self._raw_features,
            (self.w0, self.b0, self._time(step, self.w0)), head,
            (1, 0, config.step_scale, config.magnitude_scale),
            chunked=not graph_wanted(*grads.values(), *self.parameters()),
        )  # fmt: skip

    def simple_forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """The rule as the docstring states it: every coordinate's 31 inputs, then the MLP.
        The reference :meth:`forward` must equal (to float rounding)."""
        inputs, new_state = [], {}
        for key, grad in grads.items():
            features, new_state[key] = self.features(grad, params[key], state[key], step)
            inputs.append(features.to(self.w0.dtype))
        hidden = torch.relu(torch.cat(inputs) @ self.w0 + self.b0)
        out = hidden @ self.w1 + self.b1
        config = self.config
        flat = exponential_step(out[:, 1], out[:, 0], config.step_scale, config.magnitude_scale)
        return unflatten(flat, grads), new_state
