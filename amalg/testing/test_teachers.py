"""Every registered teacher, built-in or installed by a plugin, meets the same contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from amalg.core.functional import tree_leaves
from amalg.core.interfaces import ElementwiseTeacher
from amalg.testing import checks
from amalg.testing.problems import DEVICES, TARGET, gradients, quadratic, random_params, unroll


@pytest.fixture
def name(teacher_name: str, amalg_registry: object) -> str:
    return teacher_name


@pytest.fixture
def make(name: str, tmp_path: Path) -> Callable[[], Any]:
    """Builds the teacher under test (from its example config, see ``checks.make``)."""
    return lambda: checks.make("teacher", name, tmp_path)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_update_keeps_keys_shapes_dtypes_and_device(
    name: str, make: Callable[[], Any], dtype: torch.dtype, device: str
) -> None:
    teacher = make()
    params = {key: value.to(device) for key, value in random_params(dtype).items()}
    state = teacher.init(params)
    for step in range(3):
        grads = {k: v.to(device) for k, v in random_params(dtype, seed=step + 1).items()}
        delta, new_state = teacher.update(grads, state, params, step)
        assert delta.keys() == params.keys()
        for key, value in params.items():
            assert delta[key].shape == value.shape and delta[key].dtype == dtype
            assert delta[key].device == value.device
            assert torch.isfinite(delta[key]).all()
        layout = [(t.shape, t.dtype, t.device) for t in tree_leaves(state)]
        assert layout == [(t.shape, t.dtype, t.device) for t in tree_leaves(new_state)]
        params, state = teacher.apply(params, delta), new_state


def test_the_update_on_a_device_is_the_cpu_update(name: str, make: Callable[[], Any]) -> None:
    """The rule does not depend on where it computes: three float64 steps without a graph
    (the fast path, where there is one) on the GPU against the same steps on the CPU, updates
    and state; without a GPU, the CPU against itself, bit for bit."""
    with torch.no_grad():
        runs = [checks.steps_on(make(), where, 3)[0] for where in ("cpu", TARGET)]
    checks.agree(runs[1], runs[0], TARGET, rtol=1e-10, atol=1e-13)


def test_update_mutates_nothing(name: str, make: Callable[[], Any]) -> None:
    checks.update_mutates_nothing(make(), random_params(), random_params(seed=2))


def test_a_zero_gradient_gives_a_finite_update(name: str, make: Callable[[], Any]) -> None:
    teacher = make()
    params = random_params()
    zeros = {key: torch.zeros_like(value) for key, value in params.items()}
    delta, _ = teacher.update(zeros, teacher.init(params), params, 0)
    assert all(torch.isfinite(value).all() for value in delta.values())


def test_a_few_hundred_steps_reduce_a_random_quadratic(name: str, make: Callable[[], Any]) -> None:
    teacher = make()
    params, loss = quadratic(torch.float32)
    final = unroll(teacher, params, loss, steps=300)
    assert loss(final) < 0.5 * loss(params)


def test_loss_gradient_with_respect_to_lr_matches_finite_differences(
    name: str, make: Callable[[], Any]
) -> None:
    teacher = make()
    if "lr" not in teacher.hyperparameters:
        pytest.skip("no differentiable learning rate")
    params, quadratic_loss = quadratic(torch.float64)
    params["dead"] = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)

    def loss(values):
        # Weights of an always-zero input (an MNIST border pixel): "dead" gets an exactly-zero
        # gradient that still depends on the other parameters; the meta-gradient through it
        # must not become NaN.
        live = quadratic_loss({key: value for key, value in values.items() if key != "dead"})
        return live + (1 + live) * (values["dead"] * torch.zeros(3, dtype=torch.float64)).sum()

    def loss_after_five_steps(lr: torch.Tensor) -> torch.Tensor:
        rule = teacher.with_hyperparameters(lr=lr)
        return loss(unroll(rule, params, loss, steps=5, differentiable=True))

    assert gradients(loss, params)["dead"].abs().max() == 0
    lr = torch.tensor(teacher.config.lr, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss_after_five_steps, (lr,), eps=1e-6, atol=1e-5)
    (grad,) = torch.autograd.grad(loss_after_five_steps(lr), lr)
    assert torch.isfinite(grad) and grad != 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_fast_path_equals_the_rule_bitwise(
    name: str, make: Callable[[], Any], dtype: torch.dtype
) -> None:
    teacher = make()
    if not isinstance(teacher, ElementwiseTeacher) or not teacher._fast(
        {"x": torch.zeros(1)}, {slot: {"x": torch.zeros(1)} for slot in teacher.slots},
        {"x": torch.zeros(1)}, teacher.hyperparameters,
    ):  # fmt: skip
        pytest.skip("no fast path")
    params = random_params(dtype)
    simple, fast, donated = (teacher.init(params) for _ in range(3))
    for step in range(6):
        grads = random_params(dtype, seed=step + 1)
        if step == 2:  # an exactly-zero gradient: the second moment's square root at 0
            grads = {key: torch.zeros_like(value) for key, value in grads.items()}
        expected, simple = teacher.simple_update(grads, simple, params, step)
        with torch.no_grad():
            got, fast = teacher.update(grads, fast, params, step)
            again, donated = teacher.update_donated(grads, donated, params, step)
        for values, state in ((got, fast), (again, donated)):
            assert all(torch.equal(values[key], expected[key]) for key in expected)
            for slot, tensors in simple.items():
                assert all(torch.equal(state[slot][key], tensors[key]) for key in tensors)
        params = teacher.apply(params, expected)


def test_the_compiled_path_matches_the_eager_one(name: str, make: Callable[[], Any]) -> None:
    """With :meth:`~amalg.core.interfaces.UpdateRule.use_compiler`, four graph-free float64
    steps (on the GPU where there is one) agree with the eager path's on the CPU to float
    rounding (a compiler may reorder arithmetic; the step and the hyperparameters enter as
    tensors); an update that keeps a graph is still the eager one (gradients flow to a
    hyperparameter)."""
    teacher = make()
    if not teacher.compiled_path:
        pytest.skip("no compiled path")
    compiled = make().use_compiler()
    checks.compiled_path_matches_eager(teacher, compiled, TARGET)
    params = random_params(torch.float64)
    lr = torch.tensor(0.01, dtype=torch.float64, requires_grad=True)
    hyper = {"lr": lr} if "lr" in compiled._differentiable() else {}
    if hyper:
        rule = compiled.with_hyperparameters(**hyper)
        delta, _ = rule.update(random_params(torch.float64, 1), rule.init(params), params, 0)
        assert all(value.requires_grad for value in delta.values())


def test_donating_the_state_writes_into_it(name: str, make: Callable[[], Any]) -> None:
    # A caller that donates never reads the old state again: the fast path reuses it.
    teacher = make()
    params = random_params()
    state = teacher.init(params)
    before = [tensor.data_ptr() for tensor in tree_leaves(state)]
    with torch.no_grad():
        _, new_state = teacher.update_donated(random_params(seed=2), state, params, 0)
    after = [tensor.data_ptr() for tensor in tree_leaves(new_state)]
    if isinstance(teacher, ElementwiseTeacher) and type(teacher).foreach_rule is not (
        ElementwiseTeacher.foreach_rule
    ):
        assert after == before
