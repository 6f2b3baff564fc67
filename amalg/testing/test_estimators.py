"""Every registered meta-gradient estimator meets the same contract on a small truncation:
a finite estimate for every meta-parameter, phi untouched, the same noise giving the same
estimate, a state that carries the trajectory on, and a direction that agrees on average
with the exact meta-gradient."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.core.engine import EngineConfig, UnrollEngine

LENGTH = 4
DRAWS = 32


@pytest.fixture
def name(estimator_name: str, amalg_registry: object) -> str:
    return estimator_name


@pytest.fixture
def engine(amalg_registry: object) -> UnrollEngine:
    task = amalg.create("task", "quadratic", dimension=6, dtype="float64")
    student = amalg.create("student", "rnnprop", hidden=2, layers=1, random_scaling=0).double()
    student.reset_parameters(torch.Generator().manual_seed(1))
    teacher = amalg.create("teacher", "adam", lr=0.05)
    scheme = amalg.create("scheme", "imitation")
    config = EngineConfig(warmup_steps=2, second_order=True)
    return UnrollEngine(task, student, [teacher], ["adam"], scheme, config)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _phi(engine: UnrollEngine) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in engine.student.named_parameters()}


def test_the_estimate_covers_phi_and_is_finite(name: str, engine: UnrollEngine) -> None:
    estimator = amalg.create("estimator", name)
    phi, start = _phi(engine), engine.start(3)
    estimate = estimator.estimate(
        phi, engine.truncation(LENGTH, 0.1), estimator.init(phi, start, _generator(0)),
        _generator(1),
    )  # fmt: skip
    assert estimate.grads.keys() == phi.keys()
    for key, value in phi.items():
        assert estimate.grads[key].shape == value.shape
        assert torch.isfinite(estimate.grads[key]).all()
    assert estimate.objective.dim() == 0 and torch.isfinite(estimate.objective)
    assert estimate.log.finite and len(estimate.log.imitation) == 1


def test_phi_is_left_untouched(name: str, engine: UnrollEngine) -> None:
    estimator = amalg.create("estimator", name)
    phi, start = _phi(engine), engine.start(3)
    versions = {key: value._version for key, value in phi.items()}
    copies = {key: value.clone() for key, value in phi.items()}
    state = estimator.init(phi, start, _generator(0))
    estimator.estimate(phi, engine.truncation(LENGTH, 0.1), state, _generator(1))
    assert {key: value._version for key, value in phi.items()} == versions
    assert all(torch.equal(phi[key], copies[key]) for key in phi)


def test_the_same_noise_gives_the_same_estimate(name: str, engine: UnrollEngine) -> None:
    estimator = amalg.create("estimator", name)
    phi, start = _phi(engine), engine.start(3)
    truncation = engine.truncation(LENGTH, 0.1)
    one, two = (
        estimator.estimate(
            phi, truncation, estimator.init(phi, start, _generator(0)), _generator(1)
        )
        for _ in range(2)
    )
    assert all(torch.equal(one.grads[key], two.grads[key]) for key in phi)


def test_the_state_carries_a_trajectory_through_its_truncations(
    name: str, engine: UnrollEngine
) -> None:
    estimator = amalg.create("estimator", name)
    phi, start = _phi(engine), engine.start(3)
    truncation = engine.truncation(LENGTH, 0.1)
    state = estimator.init(phi, start, _generator(0))
    for index in range(3):
        estimate = estimator.estimate(phi, truncation, state, _generator(10 + index))
        assert all(torch.isfinite(grad).all() for grad in estimate.grads.values())
        state = estimate.state


def test_on_average_the_estimate_points_along_the_exact_meta_gradient(
    name: str, engine: UnrollEngine
) -> None:
    estimator = amalg.create("estimator", name)
    phi, start = _phi(engine), engine.start(3)
    truncation = engine.truncation(LENGTH, 0.1)
    leaves = {key: value.clone().requires_grad_() for key, value in phi.items()}
    exact = torch.autograd.grad(truncation(leaves, start).objective, list(leaves.values()))
    total = {key: torch.zeros_like(value) for key, value in phi.items()}
    for draw in range(DRAWS):
        state = estimator.init(phi, start, _generator(2 * draw))
        estimate = estimator.estimate(phi, truncation, state, _generator(2 * draw + 1))
        for key in total:
            total[key] += estimate.grads[key]
    agreement = sum(float((total[key] * grad).sum()) for key, grad in zip(phi, exact, strict=True))
    assert agreement > 0
