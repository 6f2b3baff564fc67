"""The merged estimator (Metz et al. 2019, eq. 1) weighs its two estimates by inverse
variance: on a smooth objective the reparameterization gradient wins, on one whose gradient
is made noisy ES does, and both are unbiased for the smoothed objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import amalg
from amalg.core.interfaces import TruncationLog, TruncationResult


def truncation_of(objective):
    def truncation(phi, start):
        value = objective(phi["theta"])
        log = TruncationLog(meta_loss=float(value.detach()), imitation=(), loss=0.0, finite=True)
        return TruncationResult(objective=value, end=start, log=log)

    return truncation


def smooth(theta):
    return ((theta - 1.0) ** 2).sum()


def rough(theta):
    # A ripple of tiny value and huge slope: backpropagation sees the slope, ES barely
    # sees the value.
    return smooth(theta) + 1e-4 * torch.sin(1e7 * theta).sum()


def estimate(objective, seed, std=0.01, pairs=4):
    merged = amalg.create("estimator", "merged", std=std, pairs=pairs)
    phi = {"theta": torch.tensor([0.3, -0.2], dtype=torch.float64)}
    generator = torch.Generator().manual_seed(seed)
    result = merged.estimate(phi, truncation_of(objective), merged.init(phi, 0, generator),
                             generator)  # fmt: skip
    return result.grads["theta"], result.log.observed["estimator/rp_share"]


def test_a_smooth_objective_puts_the_weight_on_the_reparameterization_gradient():
    grads, share = estimate(smooth, 0)
    assert share > 0.999
    exact = 2 * (torch.tensor([0.3, -0.2], dtype=torch.float64) - 1.0)
    assert torch.allclose(grads, exact, atol=1e-3)


def test_a_noisy_gradient_puts_the_weight_on_es():
    shares = [estimate(rough, seed)[1] for seed in range(5)]
    assert max(shares) < 0.01


@pytest.mark.parametrize("objective", [smooth, rough], ids=["smooth", "rough"])
def test_on_average_it_follows_the_smoothed_gradient(objective):
    draws = torch.stack([estimate(objective, seed, std=0.05)[0] for seed in range(200)])
    mean, error = draws.mean(dim=0), draws.std(dim=0) / np.sqrt(len(draws))
    # The ripple averages out under smoothing with std 0.05 (its period is 6e-7).
    exact = 2 * (torch.tensor([0.3, -0.2], dtype=torch.float64) - 1.0)
    assert torch.all((mean - exact).abs() < 4 * error + 1e-3), (mean, exact, error)


def test_pairs_below_two_are_refused():
    from amalg.core.errors import ConfigError

    with pytest.raises(ConfigError, match="pairs"):
        amalg.create("estimator", "merged", pairs=1)
