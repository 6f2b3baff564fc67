"""nadamw matches a direct NumPy evaluation of the Appendix F equations of Metz et al. 2022."""

import numpy as np
import pytest
import torch

import amalg
from amalg.core.errors import ConfigError
from amalg.testing.problems import numpy_quadratic, teacher_trajectory

STEPS = 60


def reference_lrs(steps, lr, horizon, warmup, constant, min_mult):
    """alpha_t for t = 0..steps-1 from Appendix F, eqs. (4)-(9), as phases over an array."""
    t = np.arange(steps, dtype=float)
    if horizon is None:
        return np.full(steps, lr)
    t = np.minimum(t, horizon)
    lr_min = min_mult * lr
    hold_until = constant * horizon
    progress = np.clip((t - hold_until) / (horizon - hold_until), 0.0, 1.0)
    decay = lr_min + (lr - lr_min) * (0.5 * np.cos(np.pi * progress) + 0.5)
    in_warmup = t < warmup * horizon
    warm = lr * t / max(warmup * horizon, 1e-300)
    return np.where(in_warmup, warm, decay)


CONFIGS = [
    {},
    {"use_nesterov": False},
    {"l2_weight_decay": 0.01, "adamw_weight_decay": 0.05},
    {"horizon": 50, "warmup_fraction": 0.1, "constant_fraction": 0.3, "min_lr_mult": 0.1},
    {"horizon": STEPS, "use_nesterov": False, "adamw_weight_decay": 0.1},
    {"horizon": 40, "warmup_fraction": 0.3, "constant_fraction": 0.1},
]


@pytest.mark.parametrize("options", CONFIGS, ids=lambda options: ",".join(options) or "defaults")
def test_nadamw_matches_its_equations_in_numpy(options):
    x0, grad, loss = numpy_quadratic()
    teacher = amalg.create("teacher", "nadamw", lr=0.05, **options)
    c = teacher.config
    path = teacher_trajectory(teacher, x0, loss, steps=STEPS)
    alphas = reference_lrs(
        STEPS, c.lr, c.horizon, c.warmup_fraction, c.constant_fraction, c.min_lr_mult
    )
    x, m, v = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    for t in range(STEPS):
        g = grad(x) + 2 * c.l2_weight_decay * x
        m = c.beta1 * m + (1 - c.beta1) * g
        v = c.beta2 * v + (1 - c.beta2) * g**2
        m_hat, v_hat = m / (1 - c.beta1 ** (t + 1)), v / (1 - c.beta2 ** (t + 1))
        if c.use_nesterov:
            u = (c.beta1 * m_hat + (1 - c.beta1) * g) / (np.sqrt(v_hat) + c.eps)
        else:
            u = m_hat / (np.sqrt(v_hat) + c.eps)
        x = x - alphas[t] * u - alphas[t] * c.adamw_weight_decay * x
        np.testing.assert_allclose(path[t], x, rtol=1e-12, atol=1e-12)


def test_the_schedule_warms_up_holds_then_decays_to_the_floor():
    teacher = amalg.create(
        "teacher",
        "nadamw",
        horizon=100,
        warmup_fraction=0.1,
        constant_fraction=0.5,
        min_lr_mult=0.2,
    )
    assert teacher.schedule(0) == 0.0
    assert teacher.schedule(5) == pytest.approx(0.5)
    assert teacher.schedule(10) == teacher.schedule(50) == 1.0
    assert teacher.schedule(75) == pytest.approx(0.6)
    assert teacher.schedule(100) == teacher.schedule(1000) == pytest.approx(0.2)
    # The compiled path's tensor step: a tensor, of the same value.
    value = teacher.schedule(torch.tensor(75.0, dtype=torch.float64))
    assert isinstance(value, torch.Tensor) and value.item() == teacher.schedule(75)


def test_schedule_fields_without_a_horizon_are_refused():
    with pytest.raises(ConfigError, match="warmup_fraction shape a schedule over `horizon`"):
        amalg.create("teacher", "nadamw", warmup_fraction=0.1)
