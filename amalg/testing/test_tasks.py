"""Every registered task meets the same contract. Dataset tasks run on tensorflow-datasets'
mock data (random examples of the real shapes), so the whole tfds path runs offline."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.plugins.tasks.base import ImageTask

pytestmark = pytest.mark.usefixtures("amalg_data_dir")


@pytest.fixture
def name(task_name: str, amalg_registry: object) -> str:
    return task_name


@pytest.fixture
def task(name: str, amalg_mocked_datasets: object):
    return amalg.create("task", name)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_same_seed_gives_the_same_initial_parameters(task) -> None:
    first, again = task.init_params(_seeded(3)), task.init_params(_seeded(3))
    other = task.init_params(_seeded(4))
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert any(not torch.equal(first[key], other[key]) for key in first)
    assert task.parameter_count == sum(value.numel() for value in first.values())
    assert task.details()["parameters"] == task.parameter_count


def test_abstract_parameters_describe_the_real_ones_without_memory(task) -> None:
    real, abstract = task.init_params(_seeded(0)), task.abstract_params()
    assert abstract.keys() == real.keys()
    for key, value in real.items():
        assert abstract[key].device.type == "meta"
        assert (abstract[key].shape, abstract[key].dtype) == (value.shape, value.dtype)


def test_loss_and_gradient_fit_the_parameters(task) -> None:
    params = task.init_params(_seeded(0))
    batch = task.batch_at("train", seed=0, index=0)
    loss, grads = task.gradient(params, batch, generator=_seeded(1))
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert grads.keys() == params.keys()
    for key, value in params.items():
        assert grads[key].shape == value.shape and grads[key].dtype == value.dtype
        assert torch.isfinite(grads[key]).all()
    assert torch.isfinite(task.metrics(params, batch)["loss"])


def test_the_gradient_oracle_works_without_a_graph(task) -> None:
    params = task.init_params(_seeded(0))
    batch = task.batch_at("train", seed=0, index=0)
    _, expected = task.gradient(params, batch, generator=_seeded(1))
    with torch.no_grad():  # how an evolution-strategies estimator calls it
        _, grads = task.gradient(params, batch, generator=_seeded(1))
    assert all(torch.equal(grads[key], expected[key]) for key in expected)


def test_batches_are_addressed_deterministically_and_reshuffled_each_epoch(task) -> None:
    def same(a, b) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    assert same(task.batch_at("train", 7, 2), task.batch_at("train", 7, 2))
    fresh = type(task)(task.config)  # no shared caches: the batch comes from the arguments alone
    assert same(fresh.batch_at("train", 7, 2), task.batch_at("train", 7, 2))
    if not isinstance(task, ImageTask):
        return
    per_epoch = task.batches_per_epoch("train")
    first, next_epoch = task.batch_at("train", 7, 0), task.batch_at("train", 7, per_epoch)
    assert not same(first, next_epoch)
    assert not same(first, task.batch_at("train", 8, 0))
    stream = task.batches("train", seed=7, start=per_epoch)
    assert same(next(stream), next_epoch)


def test_eval_batches_cover_each_split_once(task) -> None:
    for split in ("train", "validation", "test"):
        batches = list(task.eval_batches(split))
        if isinstance(task, ImageTask):
            assert sum(len(batch[0]) for batch in batches) == len(task.split(split))
        else:
            assert batches
