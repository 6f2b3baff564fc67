"""sgd follows torch.optim.SGD."""

import torch

import amalg
from amalg.testing.problems import mlp, torch_optim_unroll, unroll


def test_sgd_reproduces_torch_optim_sgd_over_100_steps():
    params, loss = mlp()
    ours = unroll(amalg.create("teacher", "sgd", lr=0.2), params, loss, steps=100)
    reference = torch_optim_unroll(torch.optim.SGD, params, loss, steps=100, lr=0.2)
    torch.testing.assert_close(ours, reference)
