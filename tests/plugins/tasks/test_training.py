"""A few hundred Adam steps train the offline tasks: the whole path from data to a model
that works, with no download."""

from __future__ import annotations

import pytest
import torch

import amalg


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


def validation(task, params) -> dict[str, float]:
    totals: dict[str, float] = {}
    count = 0
    with torch.no_grad():
        for batch in task.eval_batches("validation"):
            size = len(batch[0]) if batch else 1
            for key, value in task.metrics(params, batch).items():
                totals[key] = totals.get(key, 0.0) + float(value) * size
            count += size
    return {key: value / count for key, value in totals.items()}


@pytest.mark.parametrize(("name", "accuracy"), [("digits_cnn", 0.9), ("digits_mlp", 0.85)])
def test_300_adam_steps_train_a_digits_task(name, accuracy):
    task = amalg.create("task", name)
    before = validation(task, task.init_params(torch.Generator().manual_seed(0)))
    task, params = train_with_adam(name)
    after = validation(task, params)
    assert after["loss"] < before["loss"] / 3
    assert after["accuracy"] >= accuracy


def test_300_adam_steps_reduce_the_quadratic():
    task, params = train_with_adam("quadratic")
    start = task.loss(task.init_params(torch.Generator().manual_seed(0)), ())
    assert task.loss(params, ()) < start / 5
