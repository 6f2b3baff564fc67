"""RNNProp: size, shapes, state per coordinate, bounded steps, a functional update."""

from __future__ import annotations

import torch

import amalg
from amalg.core.functional import tree_leaves
from amalg.testing.problems import random_params


def test_rnnprop_has_5141_meta_parameters():
    student = amalg.create("student", "rnnprop")
    assert sum(p.numel() for p in student.parameters()) == 5141


def test_the_update_keeps_shapes_and_dtypes_and_holds_state_per_coordinate():
    student = amalg.create("student", "rnnprop")
    for dtype in (torch.float32, torch.float64):
        student = student.to(dtype)
        params = random_params(dtype)
        size = sum(value.numel() for value in params.values())
        state = student.init(params)
        assert state["h"].shape == state["c"].shape == (2, size, 20)
        assert state["m"].shape == state["v"].shape == (size,)
        for step in range(3):
            delta, state = student.update(random_params(dtype, seed=step + 1), state, params, step)
            assert delta.keys() == params.keys()
            for key, value in params.items():
                assert delta[key].shape == value.shape and delta[key].dtype == dtype
            # tanh output scaled by 0.1: no coordinate moves further than 0.1 a step.
            assert max(float(d.detach().abs().max()) for d in delta.values()) <= 0.1
        assert all(leaf.dtype == dtype for leaf in tree_leaves(state))


def test_the_update_mutates_nothing():
    student = amalg.create("student", "rnnprop")
    params = random_params()
    state = student.init(params)
    _, state = student.update(random_params(seed=1), state, params, 0)
    grads = random_params(seed=2)
    inputs = [*params.values(), *grads.values(), *tree_leaves(state)]
    versions = [tensor._version for tensor in inputs]
    student.update(grads, state, params, 1)
    assert [tensor._version for tensor in inputs] == versions


def test_reset_parameters_is_seeded():
    one, two = amalg.create("student", "rnnprop"), amalg.create("student", "rnnprop")
    one.reset_parameters(torch.Generator().manual_seed(5))
    two.reset_parameters(torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), two.parameters(), strict=True))
    forget = one.bias0[20:40]
    assert torch.equal(forget, torch.ones(20))  # Keras' unit forget bias


def test_the_update_runs_at_other_meta_parameters_through_functional_call():
    student = amalg.create("student", "rnnprop")
    params = random_params()
    state = student.init(params)
    grads = random_params(seed=1)
    zeroed = {name: torch.zeros_like(value) for name, value in student.named_parameters()}
    delta, _ = torch.func.functional_call(student, zeroed, (grads, state, params, 0))
    # All-zero meta-parameters: h = 0, so the output is tanh(0) = 0.
    assert all(torch.equal(d, torch.zeros_like(d)) for d in delta.values())
