"""Parameter counts: Table 1 of Huang et al. 2022, and the other tasks' own counts."""

from __future__ import annotations

import pytest

import amalg

TABLE_1 = {
    "train": 18122,
    "mlp": 15910,
    "wider": 61834,
    "deeper": 72042,
    "fmnist": 18122,
    "svhn": 21290,
    "cifar": 68170,
    "small_batch": 18122,
    "mnist_dp": 18122,
}


@pytest.mark.parametrize(("name", "count"), TABLE_1.items())
def test_paper_tasks_have_the_parameter_counts_of_table_1(name, count):
    assert amalg.create("task", name).parameter_count == count


def test_resnet_is_table_1s_count_less_the_batch_norm_moving_statistics():
    task = amalg.create("task", "resnet")
    normalised_channels = sum(
        module.num_features for module in task.model.modules() if hasattr(module, "num_features")
    )
    assert normalised_channels == 912
    assert task.parameter_count == 370_506
    # Keras counts a moving mean and a moving variance per normalised channel.
    assert task.parameter_count + 2 * normalised_channels == 372_330


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("fmnist_mlp", 118_282),
        ("cifar_conv", 56_970),
        ("cifar_ae", 797_984),
        ("digits_cnn", 1_898),
        ("digits_mlp", 1_510),
        ("quadratic", 20),
        ("rastrigin", 10),
    ],
)
def test_other_tasks_have_their_stated_counts(name, count):
    assert amalg.create("task", name).parameter_count == count


def test_small_batch_trains_at_batch_size_32():
    assert amalg.create("task", "small_batch").config.batch_size == 32
    assert amalg.create("task", "train").config.batch_size == 128


def test_weights_are_glorot_uniform_biases_zero_and_norm_scales_one():
    import math

    import torch

    task = amalg.create("task", "resnet")
    params = task.init_params(torch.Generator().manual_seed(0))
    for name, value in params.items():
        if value.dim() >= 2:
            receptive = value[0, 0].numel() if value.dim() > 2 else 1
            fan_in, fan_out = value.shape[1] * receptive, value.shape[0] * receptive
            limit = math.sqrt(6 / (fan_in + fan_out))
            assert value.abs().max() <= limit
            assert value.abs().max() > 0.9 * limit  # spread over the whole range
        elif "norm" in name and name.endswith("weight"):
            assert torch.equal(value, torch.ones_like(value))
        else:
            assert torch.equal(value, torch.zeros_like(value))
