"""The synthetic tasks have the minima they state."""

from __future__ import annotations

import pytest
import torch

import amalg


def test_the_quadratic_minimum_is_known_and_its_condition_number_is_the_config():
    task = amalg.create("task", "quadratic", dimension=12, condition_number=100.0)
    minimiser, value = task.minimum
    assert float(task.loss(minimiser, ())) == pytest.approx(value, abs=1e-6)
    _, grads = task.gradient(minimiser, ())
    assert grads["x"].abs().max() < 1e-5
    matrix, _ = task._problem
    eigenvalues = torch.linalg.eigvalsh(matrix.double())
    assert float(eigenvalues.max() / eigenvalues.min()) == pytest.approx(100.0, rel=1e-3)
    away = {"x": minimiser["x"] + 1.0}
    assert float(task.loss(away, ())) > value


def test_the_problem_seed_picks_the_problem_and_the_generator_the_start():
    one, other = (amalg.create("task", "quadratic", problem_seed=s) for s in (1, 2))
    assert not torch.equal(one.minimum[0]["x"], other.minimum[0]["x"])
    start = one.init_params(torch.Generator().manual_seed(0))["x"]
    assert torch.equal(start, other.init_params(torch.Generator().manual_seed(0))["x"])


def test_rastrigin_has_its_minimum_at_the_origin():
    task = amalg.create("task", "rastrigin", dimension=5)
    minimiser, value = task.minimum
    assert float(task.loss(minimiser, ())) == pytest.approx(value, abs=1e-5)
    start = task.init_params(torch.Generator().manual_seed(0))["x"]
    assert start.abs().max() <= 5.12 and float(task.loss({"x": start}, ())) > 1.0
