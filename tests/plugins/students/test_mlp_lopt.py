"""mlp_lopt has the architecture of Metz et al. 2019, Appendix C.1: 31 features (the moments
at 5 decays, their rms terms, the gradient and the parameter normalised over the tensor, 9
time features), a 32-unit hidden layer and the step l_lin o2 exp(l_exp o1)."""

from __future__ import annotations

import itertools
import math

import torch

import amalg
from amalg.plugins.students.mlp_lopt import DECAYS, TIMESCALES


def unit(value: torch.Tensor) -> torch.Tensor:
    flat = value.reshape(-1)
    return flat / torch.sqrt((flat * flat).mean())


def test_sizes_and_timescales():
    student = amalg.create("student", "mlp_lopt")
    assert sum(p.numel() for p in student.parameters()) == 31 * 32 + 32 + 32 * 2 + 2
    assert len(TIMESCALES) == 9
    assert math.isclose(TIMESCALES[0], 3) and math.isclose(TIMESCALES[-1], 3e5)
    ratios = [b / a for a, b in itertools.pairwise(TIMESCALES)]
    assert max(ratios) - min(ratios) < 1e-9  # log-spaced


def test_the_features_after_one_step_from_zero():
    student = amalg.create("student", "mlp_lopt").double()
    grad = torch.tensor([[0.5, -2.0, 1.0], [3.0, -0.1, 0.7]], dtype=torch.float64)
    param = torch.arange(6, dtype=torch.float64).view(2, 3) - 2.5
    inputs, slots = student.features(grad, param, student.init({"w": param})["w"], step=30)
    assert inputs.shape == (6, 31)
    assert torch.allclose(inputs[:, 0], unit(grad)) and torch.allclose(inputs[:, 1], unit(param))
    for k, decay in enumerate(DECAYS):
        assert torch.allclose(slots["m"][k], (1 - decay) * grad)
        assert torch.allclose(inputs[:, 2 + k], unit(grad))  # m_d is proportional to g
        assert torch.allclose(inputs[:, 7 + k], unit(grad.abs()))  # rms_d to |g|
    assert torch.allclose((inputs[:, :22] ** 2).mean(dim=0), torch.ones(22, dtype=torch.float64))
    expected = torch.tanh(30 / torch.tensor(TIMESCALES, dtype=torch.float64) - 1)
    assert torch.allclose(inputs[:, 22:], expected.expand(6, -1))


def test_the_step_is_l_lin_o2_exp_l_exp_o1():
    student = amalg.create("student", "mlp_lopt").double()
    with torch.no_grad():
        student.w1.zero_()
        student.b1.copy_(torch.tensor([500.0, -0.4], dtype=torch.float64))
    params = {"w": torch.randn(3, 2, dtype=torch.float64)}
    delta, _ = student.update({"w": torch.randn(3, 2, dtype=torch.float64)},
                              student.init(params), params, 0)  # fmt: skip
    expected = 1e-3 * -0.4 * math.exp(1e-3 * 500.0)
    assert torch.allclose(delta["w"], torch.full_like(delta["w"], expected))
