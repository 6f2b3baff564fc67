"""A few hundred Adam steps train the offline tasks: the whole path from data to a model
that works, with no download."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.core.analysis.evaluation import validation_metrics


def train_with_adam(task_name: str, steps: int = 300):
    task = amalg.create("task", task_name)
    adam = amalg.create("teacher", "adam")
    params = task.init_params(torch.Generator().manual_seed(0))
    state = adam.init(params)
    for step in range(steps):
        _, grads = task.gradient(params, task.batch_at("train", seed=0, index=step))
        delta, state = adam.update(grads, state, params, step)
        params = adam.apply(params, delta)
    return task, params


@pytest.mark.parametrize(("name", "accuracy"), [("digits_cnn", 0.9), ("digits_mlp", 0.85)])
def test_300_adam_steps_train_a_digits_task(name, accuracy):
    task = amalg.create("task", name)
    before = validation_metrics(task, task.init_params(torch.Generator().manual_seed(0)))
    task, params = train_with_adam(name)
    after = validation_metrics(task, params)
    assert after["loss"] < before["loss"] / 3
    assert after["accuracy"] >= accuracy


def test_300_adam_steps_reduce_the_quadratic():
    task, params = train_with_adam("quadratic")
    start = task.loss(task.init_params(torch.Generator().manual_seed(0)), ())
    assert task.loss(params, ()) < start / 5
