"""RNNProp: size, state per coordinate, bounded steps, Keras initialisation, random scaling.

The contract every student meets (functional, seeded, meta-gradients) is amalg.testing's."""

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


def test_reset_parameters_gives_keras_unit_forget_biases():
    student = amalg.create("student", "rnnprop")
    student.reset_parameters(torch.Generator().manual_seed(5))
    assert torch.equal(student.bias0[20:40], torch.ones(20))
    assert torch.equal(student.bias0[:20], torch.zeros(20))


def test_the_update_runs_at_other_meta_parameters_through_functional_call():
    student = amalg.create("student", "rnnprop")
    params = random_params()
    state = student.init(params)
    grads = random_params(seed=1)
    zeroed = {name: torch.zeros_like(value) for name, value in student.named_parameters()}
    delta, _ = torch.func.functional_call(student, zeroed, (grads, state, params, 0))
    # All-zero meta-parameters: h = 0, so the output is tanh(0) = 0.
    assert all(torch.equal(d, torch.zeros_like(d)) for d in delta.values())


def test_random_scaling_draws_exp_uniform_scales_and_zero_turns_it_off():
    params = random_params()
    generator = torch.Generator().manual_seed(0)
    scale = amalg.create("student", "rnnprop", random_scaling=3.0).training_scale(params, generator)
    logs = torch.cat([value.log().reshape(-1) for value in scale.values()])
    assert logs.min() >= -3 and logs.max() <= 3 and logs.std() > 1
    off = amalg.create("student", "rnnprop", random_scaling=0.0)
    assert off.training_scale(params, generator) is None
