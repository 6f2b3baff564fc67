"""Every registered perturbation meets the same contract: it perturbs something (weights or
the student's inputs), keeps keys, shapes and dtypes, leaves its inputs alone and draws only
from the generator it is given."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.testing.problems import random_params


@pytest.fixture
def name(perturbation_name: str, amalg_registry: object) -> str:
    return perturbation_name


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def objective(phi: dict[str, torch.Tensor]) -> torch.Tensor:
    """A smooth stand-in for a truncation's meta-objective."""
    return torch.stack([((value - 0.3) ** 2).sum() for value in phi.values()]).sum()


def test_perturbed_weights_keep_their_layout_and_leave_phi_alone(name: str) -> None:
    perturbation = amalg.create("perturbation", name)
    phi = random_params()
    copies = {key: value.clone() for key, value in phi.items()}
    versions = {key: value._version for key, value in phi.items()}
    tilde = perturbation.perturb(phi, objective, _generator(0))
    assert tilde.keys() == phi.keys()
    for key, value in phi.items():
        assert tilde[key].shape == value.shape and tilde[key].dtype == value.dtype
        assert torch.isfinite(tilde[key]).all()
        assert torch.equal(value, copies[key]) and value._version == versions[key]


def test_perturbed_inputs_keep_their_layout_and_leave_the_gradients_alone(name: str) -> None:
    perturbation = amalg.create("perturbation", name)
    grads = random_params(seed=4)
    copies = {key: value.clone() for key, value in grads.items()}
    versions = {key: value._version for key, value in grads.items()}
    seen = perturbation.perturb_inputs(grads, _generator(0))
    assert seen.keys() == grads.keys()
    for key, value in grads.items():
        assert seen[key].shape == value.shape and seen[key].dtype == value.dtype
        assert torch.isfinite(seen[key]).all()
        assert torch.equal(value, copies[key]) and value._version == versions[key]


def test_it_perturbs_something_and_only_from_its_generator(name: str) -> None:
    perturbation = amalg.create("perturbation", name)
    phi, grads = random_params(), random_params(seed=4)
    weights = [perturbation.perturb(phi, objective, _generator(7)) for _ in range(2)]
    inputs = [perturbation.perturb_inputs(grads, _generator(7)) for _ in range(2)]
    for first, second in (weights, inputs):
        assert all(torch.equal(first[key], second[key]) for key in first)
    moved = any(not torch.equal(weights[0][k], phi[k]) for k in phi) or any(
        not torch.equal(inputs[0][k], grads[k]) for k in grads
    )
    assert moved, "neither the weights nor the inputs are perturbed"
    assert isinstance(perturbation.replays, int) and perturbation.replays >= 0
