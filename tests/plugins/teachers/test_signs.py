"""addsign and powersign match a direct NumPy evaluation of the eq. 8 rules of Huang et al. 2022."""

import numpy as np
import pytest

import amalg
from amalg.testing.problems import numpy_quadratic, teacher_trajectory


@pytest.mark.parametrize(("name", "scale"), [("addsign", lambda a: 1 + a), ("powersign", np.exp)])
def test_sign_teachers_match_their_formula_in_numpy(name, scale):
    x0, grad, loss = numpy_quadratic()
    lr, beta1, beta2, eps = 0.05, 0.9, 0.999, 1e-10
    path = teacher_trajectory(amalg.create("teacher", name, lr=lr), x0, loss, steps=50)
    x, m, v = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    for t in range(50):
        g = grad(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1))
        root = np.sqrt(v_hat) + eps
        x = x - lr * scale(np.tanh(m_hat / root) * np.tanh(g / root)) * g
        np.testing.assert_allclose(path[t], x, rtol=1e-12, atol=1e-12)


def test_addsign_steps_further_when_momentum_and_gradient_agree():
    import torch

    teacher = amalg.create("teacher", "addsign", lr=1.0)
    params = {"x": torch.zeros(2)}
    state = {"m": {"x": torch.tensor([1.0, -1.0])}, "v": {"x": torch.ones(2)}}
    delta, _ = teacher.update({"x": torch.tensor([1.0, 1.0])}, state, params, step=10)
    agree, disagree = delta["x"]
    assert agree > 1.0 > disagree > 0
