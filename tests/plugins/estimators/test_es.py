"""ES estimates the gradient of the Gaussian-smoothed objective without a graph of phi
(Metz et al. 2019, Section 3): checked on a truncation whose one meta-parameter is a log
learning rate, against the exact smoothed gradient by Gauss-Hermite quadrature."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import amalg
from amalg.core.interfaces import TruncationLog, TruncationResult

CURVATURE, START, STEPS = 1.5, 2.0, 5


def objective(log_lr: torch.Tensor) -> torch.Tensor:
    """log of the loss after STEPS SGD steps at lr exp(log_lr) on 0.5 a x^2 from START."""
    x = START * (1 - torch.exp(log_lr) * CURVATURE) ** STEPS
    return torch.log(0.5 * CURVATURE * x**2)


def truncation(phi, start):

    value = objective(phi["log_lr"])
    log = TruncationLog(meta_loss=float(value.detach()), imitation=(), loss=0.0, finite=True)
    return TruncationResult(objective=value, end=start + 1, log=log)


def smoothed_gradient(theta: float, sigma: float) -> float:
    """d/dtheta E[objective(theta + eps)], eps ~ N(0, sigma^2), by Gauss-Hermite quadrature
    of the gradient (smoothing and differentiation commute)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    total = 0.0
    for node, weight in zip(nodes, weights, strict=True):
        point = torch.tensor(theta + sigma * node, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(objective(point), point)
        total += weight * float(grad)
    return total / float(np.sqrt(2 * np.pi))


@pytest.mark.parametrize(("sigma", "count"), [(0.01, 400), (0.2, 4000)])
def test_es_agrees_with_the_gradient_of_the_smoothed_objective(sigma, count):
    es = amalg.create("estimator", "es", std=sigma, pairs=4)
    theta = float(np.log(0.2))
    phi = {"log_lr": torch.tensor(theta, dtype=torch.float64)}
    draws = []
    for seed in range(count):
        generator = torch.Generator().manual_seed(seed)
        estimate = es.estimate(phi, truncation, es.init(phi, 0, generator), generator)
        assert not estimate.grads["log_lr"].requires_grad
        draws.append(float(estimate.grads["log_lr"]))
    mean, error = np.mean(draws), np.std(draws) / np.sqrt(len(draws))
    exact = smoothed_gradient(theta, sigma)
    assert abs(mean - exact) < 4 * error + 1e-9, (mean, exact, error)
    # At sigma 0.2 smoothing moves the gradient measurably: ES follows the smoothed one.
    if sigma == 0.2:
        point = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        (plain,) = torch.autograd.grad(objective(point), point)
        assert abs(exact - float(plain)) > 4 * error


def test_es_runs_without_a_graph_and_goes_on_from_the_unperturbed_truncation():
    seen = []

    def recording(phi, start):
        seen.append(torch.is_grad_enabled())
        return truncation(phi, start)

    es = amalg.create("estimator", "es", pairs=3)
    phi = {"log_lr": torch.tensor(-1.0, dtype=torch.float64, requires_grad=True)}
    generator = torch.Generator().manual_seed(0)
    estimate = es.estimate(phi, recording, es.init(phi, 7, generator), generator)
    assert seen == [False] * 7  # 3 pairs and the unperturbed run, all without a graph
    assert estimate.state == {"unroll": 8}
    assert float(estimate.objective) == pytest.approx(float(objective(phi["log_lr"].detach())))
