"""PES is unbiased over a whole unroll cut into truncations where truncated backpropagation
is not (Metz et al. 2019, Figure 4; Vicol et al. 2021), in miniature: a scalar SGD unroll
whose one meta-parameter is the log learning rate."""

from __future__ import annotations

import numpy as np
import torch

import amalg
from amalg.core.interfaces import TruncationLog, TruncationResult

CURVATURE, STEPS, TRUNCATIONS = 1.5, 3, 4


def truncation(phi, start):
    """STEPS SGD steps on 0.5 a x^2 from ``start`` (x), the mean log loss as the objective."""
    x, lr = start, torch.exp(phi["log_lr"])
    losses = []
    for _ in range(STEPS):
        x = x * (1 - lr * CURVATURE)
        losses.append(torch.log(0.5 * CURVATURE * x**2))
    value = torch.stack(losses).mean()
    log = TruncationLog(meta_loss=float(value.detach()), imitation=(), loss=0.0, finite=True)
    return TruncationResult(objective=value, end=x.detach(), log=log)


def whole_unroll_gradient(theta: float, start: torch.Tensor) -> tuple[float, float]:
    """The exact gradient of the summed objectives of every truncation, and what truncated
    backpropagation sums instead (each truncation's start held constant)."""
    phi = {"log_lr": torch.tensor(theta, dtype=torch.float64, requires_grad=True)}
    x, total, truncated = start, 0.0, 0.0
    for _ in range(TRUNCATIONS):
        x_in = x
        result = truncation(phi, x_in)
        (own,) = torch.autograd.grad(truncation(phi, x_in.detach()).objective, phi["log_lr"])
        truncated += float(own)
        total = total + result.objective
        # Keep the graph through the unroll: recompute the end with one.
        lr = torch.exp(phi["log_lr"])
        x = x_in * (1 - lr * CURVATURE) ** STEPS
    (exact,) = torch.autograd.grad(total, phi["log_lr"])
    return float(exact), truncated


def summed_estimates(estimator, theta, start, draws):
    """Per draw, the estimator's meta-gradients summed over the unroll's truncations."""
    phi = {"log_lr": torch.tensor(theta, dtype=torch.float64)}
    sums = []
    for seed in range(draws):
        generator = torch.Generator().manual_seed(seed)
        state, total = estimator.init(phi, start, generator), 0.0
        for _ in range(TRUNCATIONS):
            estimate = estimator.estimate(phi, truncation, state, generator)
            total += float(estimate.grads["log_lr"])
            state = estimate.state
        sums.append(total)
    return np.mean(sums), np.std(sums) / np.sqrt(len(sums))


def test_pes_is_unbiased_over_the_unroll_where_truncated_backprop_is_not():
    theta, start = float(np.log(0.3)), torch.tensor(2.0, dtype=torch.float64)
    exact, truncated = whole_unroll_gradient(theta, start)
    pes = amalg.create("estimator", "pes", std=0.01, pairs=4)
    mean, error = summed_estimates(pes, theta, start, 300)
    assert abs(mean - exact) < 4 * error + 0.01 * abs(exact), (mean, exact, error)
    assert abs(truncated - exact) > 10 * error + 0.05 * abs(exact), (truncated, exact)


def test_es_over_the_same_truncations_has_truncated_backprops_bias():
    theta, start = float(np.log(0.3)), torch.tensor(2.0, dtype=torch.float64)
    exact, truncated = whole_unroll_gradient(theta, start)
    es = amalg.create("estimator", "es", std=0.01, pairs=4)
    mean, error = summed_estimates(es, theta, start, 100)
    assert abs(mean - truncated) < 4 * error + 0.01 * abs(truncated)
    assert abs(mean - exact) > 10 * error
