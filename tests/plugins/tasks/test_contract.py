"""Every registered task meets the same contract. Dataset tasks run on tensorflow-datasets'
mock data (random examples of the real shapes), so the whole tfds path runs offline."""

from __future__ import annotations

import pytest
import torch

from amalg.core.registry import Registry
from amalg.plugins.tasks.base import ImageTask

from ... import contracts

# Every installed task, whatever AMALG_DISABLE_PLUGINS says in the caller's shell.
TASKS = [info.name for info in Registry(disabled=()).components("task")]
assert TASKS, "no task is registered: is amalg installed (pip install -e .)?"


@pytest.fixture(params=TASKS)
def name(request: pytest.FixtureRequest, fresh_registry) -> str:
    fresh_registry(disabled=())
    return request.param


@pytest.fixture
def task(name: str, mocked_datasets):
    import amalg

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
            assert batches == [()]


def test_config_round_trips_through_json(name: str) -> None:
    contracts.config_round_trips_through_json("task", name)


def test_bad_config_values_are_rejected_naming_the_field(name: str) -> None:
    contracts.bad_config_values_are_rejected_naming_the_field("task", name)


def test_every_config_field_is_described(name: str) -> None:
    contracts.every_config_field_is_described("task", name)
