"""rmsprop follows torch.optim.RMSprop (eps placement aside) and its bias-corrected formula."""

import numpy as np
import torch

import amalg
from amalg.testing.problems import (
    mlp,
    numpy_quadratic,
    teacher_trajectory,
    torch_optim_unroll,
    unroll,
)


def test_rmsprop_without_bias_correction_reproduces_torch_optim_rmsprop_over_100_steps():
    # torch adds eps outside the root (g / (sqrt(v) + eps)), amalg inside (g / sqrt(v + eps)):
    # torch runs with eps = 0 and amalg with a tiny eps, so both are g / sqrt(v) to float32
    # precision. Every gradient of this problem is non-zero.
    params, loss = mlp()
    rmsprop = amalg.create(
        "teacher", "rmsprop", lr=0.005, beta2=0.99, eps=1e-30, bias_correction=False
    )
    ours = unroll(rmsprop, params, loss, steps=100)
    reference = torch_optim_unroll(
        torch.optim.RMSprop, params, loss, steps=100, lr=0.005, alpha=0.99, eps=0.0
    )
    torch.testing.assert_close(ours, reference)


def test_rmsprop_matches_its_bias_corrected_formula_in_numpy():
    x0, grad, loss = numpy_quadratic()
    lr, beta2, eps = 0.05, 0.999, 1e-10
    path = teacher_trajectory(amalg.create("teacher", "rmsprop", lr=lr), x0, loss, steps=50)
    x, v = x0.copy(), np.zeros_like(x0)
    for t in range(50):
        g = grad(x)
        v = beta2 * v + (1 - beta2) * g**2
        x = x - lr * g / np.sqrt(v / (1 - beta2 ** (t + 1)) + eps)
        np.testing.assert_allclose(path[t], x, rtol=1e-12, atol=1e-12)
