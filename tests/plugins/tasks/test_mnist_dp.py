"""The DP-SGD gradient oracle of mnist_dp (Abadi et al. 2016)."""

from __future__ import annotations

import pytest
import torch

import amalg


def norms_of(task, params, batch) -> torch.Tensor:
    _, grads = task.per_example_gradients(params, batch)
    size = len(batch[1])
    return torch.sqrt(sum(g.reshape(size, -1).pow(2).sum(1) for g in grads.values()))


@pytest.fixture
def setting(mocked_datasets):
    probe = amalg.create("task", "mnist_dp")
    params = probe.init_params(torch.Generator().manual_seed(0))
    batch = probe.batch_at("train", seed=0, index=0)
    # A bound between the examples' gradient norms: some are clipped, some are not.
    bound = float(norms_of(probe, params, batch).median())
    return amalg.create("task", "mnist_dp", noise_multiplier=0.0, clip_norm=bound), params, batch


def example_gradients(task, params, batch):
    """Each example's gradient by an autograd loop, one example at a time."""
    inputs, labels = batch
    for i in range(len(labels)):
        _, grads = amalg.core.interfaces.Task.gradient(
            task, params, (inputs[i : i + 1], labels[i : i + 1])
        )
        yield grads


def test_without_noise_the_oracle_is_the_mean_of_clipped_example_gradients(setting):
    task, params, batch = setting
    expected = {key: torch.zeros_like(value) for key, value in params.items()}
    norms = []
    for grads in example_gradients(task, params, batch):
        norm = torch.sqrt(sum((g * g).sum() for g in grads.values()))
        norms.append(float(norm))
        for key, g in grads.items():
            expected[key] += g / max(1.0, float(norm) / task.config.clip_norm)
    count = len(batch[1])
    expected = {key: value / count for key, value in expected.items()}
    assert max(norms) > task.config.clip_norm > min(norms)

    loss, oracle = task.gradient(params, batch)
    for key in params:
        torch.testing.assert_close(oracle[key], expected[key], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(loss, task.loss(params, batch))


def test_a_noise_free_oracle_is_bounded_by_the_clipping_norm_even_for_huge_gradients(setting):
    task, params, batch = setting
    huge = {key: 50 * value for key, value in params.items()}
    assert float(norms_of(task, huge, batch).max()) > 100 * task.config.clip_norm
    _, oracle = task.gradient(huge, batch)
    norm = torch.sqrt(sum((g * g).sum() for g in oracle.values()))
    assert float(norm) <= task.config.clip_norm * (1 + 1e-5)


def test_the_noise_has_standard_deviation_sigma_c_over_the_batch(setting):
    _, params, batch = setting
    task = amalg.create("task", "mnist_dp", noise_multiplier=1.1, clip_norm=1.0)
    quiet = amalg.create("task", "mnist_dp", noise_multiplier=0.0)
    _, clean = quiet.gradient(params, batch)
    _, noisy = task.gradient(params, batch, generator=torch.Generator().manual_seed(5))
    noise = torch.cat([(noisy[key] - clean[key]).flatten() for key in params])
    expected = 1.1 * 1.0 / len(batch[1])
    assert noise.numel() == 18_122
    assert abs(float(noise.std()) / expected - 1) < 0.03
    assert abs(float(noise.mean())) < 4 * expected / noise.numel() ** 0.5
    _, again = task.gradient(params, batch, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(noisy[key], again[key]) for key in params)
