"""small_fc_lopt's element-wise formulation for the compiler is its rule: run eagerly it
equals ``simple_forward`` in float64 (compiled, it equals the eager fast path: the student
contract checks it for every student with a compiled path)."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.plugins.students._small_fc_fused import tensor_update
from amalg.plugins.students.small_fc_lopt import factored_dims

SHAPES = {
    "scalar": (),
    "bias": (5,),
    "matrix": (4, 6),
    "kernel": (3, 4, 2, 5),
    "column": (6, 1),
    "empty": (0, 3),
}


def problem(dtype: torch.dtype, shapes: dict[str, tuple[int, ...]], steps: int = 3):
    """A student and a state a few steps in (non-zero moments), with fresh gradients."""
    generator = torch.Generator().manual_seed(0)
    student = amalg.create("student", "small_fc_lopt").to(dtype)
    student.reset_parameters(generator)
    with torch.no_grad():  # decays away from their initial values
        for offsets in (student.momentum_offsets, student.adafactor_offsets):
            offsets.copy_(torch.randn(offsets.shape, generator=generator, dtype=dtype))
    params = {k: torch.randn(s, generator=generator, dtype=dtype) for k, s in shapes.items()}
    state = student.init(params)
    with torch.no_grad():
        for step in range(steps):
            grads = {k: torch.randn(s, generator=generator, dtype=dtype) for k, s in shapes.items()}
            _, state = student(grads, state, params, step)
    grads = {k: torch.randn(s, generator=generator, dtype=dtype) for k, s in shapes.items()}
    return student, grads, state, params


def eager_formulation(student, grads, state, params, step):
    config = student.config
    network = (student.w0, student.b0, student.w1, student.b1, student.w2, student.b2)
    delta, new_state = {}, {}
    for key, grad in grads.items():
        delta[key], new_state[key] = tensor_update(
            grad, params[key], state[key], student._decays(), network,
            student._time(step, student.w0), factored_dims(grad.shape),
            (config.eps, config.step_scale, config.magnitude_scale),
        )  # fmt: skip
    return delta, new_state


def assert_trees_close(actual, expected, rtol, atol):
    assert actual.keys() == expected.keys()
    for key in expected:
        if isinstance(expected[key], dict):
            assert_trees_close(actual[key], expected[key], rtol, atol)
        else:
            assert actual[key].shape == expected[key].shape, key
            # equal_nan: an empty tensor's column means are NaN on both paths
            torch.testing.assert_close(
                actual[key], expected[key], rtol=rtol, atol=atol, equal_nan=True
            )


def test_the_element_wise_formulation_is_the_rule_in_float64():
    student, grads, state, params = problem(torch.float64, SHAPES)
    with torch.no_grad():
        expected = student.simple_forward(grads, state, params, 7)
        actual = eager_formulation(student, grads, state, params, 7)
    assert_trees_close(actual[0], expected[0], rtol=1e-9, atol=1e-15)
    assert_trees_close(actual[1], expected[1], rtol=1e-12, atol=1e-15)


def test_a_zero_gradient_and_zero_state_give_finite_steps():
    student, _, _, params = problem(torch.float64, SHAPES, steps=0)
    grads = {key: torch.zeros_like(value) for key, value in params.items()}
    with torch.no_grad():
        expected = student.simple_forward(grads, student.init(params), params, 0)
        actual = eager_formulation(student, grads, student.init(params), params, 0)
    assert_trees_close(actual[0], expected[0], rtol=1e-9, atol=1e-15)


def test_a_student_without_a_compiled_path_says_so():
    with pytest.raises(amalg.AmalgError, match=r"'rnnprop' has no compiled path.*small_fc_lopt"):
        amalg.create("student", "rnnprop").use_compiler()
    assert amalg.create("student", "rnnprop").use_compiler(False).compiling is False
