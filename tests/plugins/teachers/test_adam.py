"""adam follows torch.optim.Adam."""

import pytest
import torch

import amalg
from amalg.testing.problems import mlp, torch_optim_unroll, unroll


@pytest.mark.parametrize(
    ("lr", "betas", "eps"), [(0.005, (0.9, 0.999), 1e-10), (0.02, (0.8, 0.99), 1e-6)]
)
def test_adam_reproduces_torch_optim_adam_over_100_steps(lr, betas, eps):
    params, loss = mlp()
    adam = amalg.create("teacher", "adam", lr=lr, beta1=betas[0], beta2=betas[1], eps=eps)
    ours = unroll(adam, params, loss, steps=100)
    reference = torch_optim_unroll(
        torch.optim.Adam, params, loss, steps=100, lr=lr, betas=betas, eps=eps
    )
    torch.testing.assert_close(ours, reference)
