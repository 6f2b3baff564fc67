"""momentum matches a direct NumPy evaluation of its formula."""

import numpy as np
import pytest

import amalg
from amalg.testing.problems import numpy_quadratic, teacher_trajectory


@pytest.mark.parametrize("bias_correction", [True, False])
def test_momentum_matches_its_formula_in_numpy(bias_correction):
    x0, grad, loss = numpy_quadratic()
    lr, beta = 0.3, 0.9
    teacher = amalg.create("teacher", "momentum", lr=lr, beta=beta, bias_correction=bias_correction)
    path = teacher_trajectory(teacher, x0, loss, steps=50)
    x, m = x0.copy(), np.zeros_like(x0)
    for t in range(50):
        m = beta * m + (1 - beta) * grad(x)
        m_hat = m / (1 - beta ** (t + 1)) if bias_correction else m
        x = x - lr * m_hat
        np.testing.assert_allclose(path[t], x, rtol=1e-12, atol=1e-12)
