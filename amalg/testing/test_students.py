"""Every registered student (learned optimizer) meets the same contract: a functional update
rule, seeded meta-parameters, an update that depends on them and passes their gradient."""

from __future__ import annotations

import copy

import pytest
import torch

import amalg
from amalg.core.functional import tree_leaves, tree_map
from amalg.core.interfaces import Student
from amalg.testing import checks
from amalg.testing.problems import TARGET, gradients, quadratic, random_params


@pytest.fixture
def name(student_name: str, amalg_registry: object) -> str:
    return student_name


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_update_keeps_keys_shapes_and_dtypes(name: str, dtype: torch.dtype) -> None:
    student = amalg.create("student", name).to(dtype)
    params = random_params(dtype)
    state = student.init(params)
    for step in range(3):
        with torch.no_grad():
            delta, state = student.update(random_params(dtype, seed=step + 1), state, params, step)
        assert delta.keys() == params.keys()
        for key, value in params.items():
            assert delta[key].shape == value.shape and delta[key].dtype == dtype
            assert torch.isfinite(delta[key]).all()
        params = student.apply(params, delta)


def test_update_mutates_nothing(name: str) -> None:
    checks.update_mutates_nothing(
        amalg.create("student", name), random_params(), random_params(seed=2)
    )


def test_reset_parameters_is_seeded(name: str) -> None:
    one, two = amalg.create("student", name), amalg.create("student", name)
    one.reset_parameters(_seeded(5))
    two.reset_parameters(_seeded(5))
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), two.parameters(), strict=True))
    two.reset_parameters(_seeded(6))
    assert any(
        not torch.equal(a, b) for a, b in zip(one.parameters(), two.parameters(), strict=True)
    )


def test_the_update_depends_on_the_meta_parameters(name: str) -> None:
    student = amalg.create("student", name)
    params, grads = random_params(), random_params(seed=1)
    phi: dict[str, torch.Tensor] = dict(student.named_parameters())
    generator = _seeded(0)
    moved = {k: v + 0.5 * torch.randn(v.shape, generator=generator) for k, v in phi.items()}
    state = student.init(params)
    with torch.no_grad():
        here, _ = torch.func.functional_call(student, phi, (grads, state, params, 0))
        there, _ = torch.func.functional_call(student, moved, (grads, state, params, 0))
    assert any(not torch.equal(here[key], there[key]) for key in here)


def test_the_meta_gradient_flows_through_an_unroll(name: str) -> None:
    student = amalg.create("student", name).double()
    params, loss = quadratic(torch.float64)
    phi = {key: value.detach().requires_grad_() for key, value in student.named_parameters()}
    state = student.init(params)
    for step in range(3):
        grads = gradients(loss, params)
        delta, state = torch.func.functional_call(student, phi, (grads, state, params, step))
        params = student.apply(params, delta)
    meta = torch.autograd.grad(loss(params), list(phi.values()), allow_unused=True)
    flowing = [grad for grad in meta if grad is not None]
    assert flowing and all(torch.isfinite(grad).all() for grad in flowing)
    assert any(grad.abs().sum() > 0 for grad in flowing)


def test_the_training_scale_is_positive_and_seeded(name: str) -> None:
    student = amalg.create("student", name)
    params = random_params()
    scale = student.training_scale(params, _seeded(3))
    if scale is None:
        return
    again = student.training_scale(params, _seeded(3))
    assert again is not None and scale.keys() == params.keys()
    for key, value in params.items():
        assert scale[key].shape == value.shape and (scale[key] > 0).all()
        assert torch.equal(scale[key], again[key])


def test_the_state_can_be_sized_without_memory(name: str) -> None:
    student = amalg.create("student", name)
    abstract = {
        key: torch.empty_like(value, device="meta") for key, value in random_params().items()
    }
    leaves = [
        leaf for leaf in tree_leaves(student.init(abstract)) if isinstance(leaf, torch.Tensor)
    ]
    assert all(leaf.device.type == "meta" for leaf in leaves)
    assert student.graph_ratio > 0


def test_saved_meta_parameters_load_into_a_fresh_student(name: str) -> None:
    trained = amalg.create("student", name)
    trained.reset_parameters(_seeded(9))
    fresh = amalg.create("student", name, **trained.config.model_dump())
    fresh.load_state_dict(trained.state_dict())
    params, grads = random_params(), random_params(seed=1)
    with torch.no_grad():
        one, _ = trained.update(grads, trained.init(params), params, 0)
        two, _ = fresh.update(grads, fresh.init(params), params, 0)
    assert all(torch.equal(one[key], two[key]) for key in one)


def test_the_fast_path_matches_the_simple_one(name: str) -> None:
    student = amalg.create("student", name).double()
    if type(student).simple_forward is Student.simple_forward:
        pytest.skip("no fast path")
    student.reset_parameters(_seeded(3))
    params = random_params(torch.float64)
    phi = dict(student.named_parameters())
    fast_state = simple_state = student.init(params)
    for step in range(4):
        grads = random_params(torch.float64, seed=step + 1)
        fast, fast_state = student(grads, fast_state, params, step)
        simple, simple_state = student.simple_forward(grads, simple_state, params, step)
        for key in params:
            torch.testing.assert_close(fast[key], simple[key], rtol=1e-9, atol=1e-12)
        for a, b in zip(tree_leaves(fast_state), tree_leaves(simple_state), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        weights = random_params(torch.float64, seed=50 + step)
        fast_grads, simple_grads = (
            torch.autograd.grad(
                torch.stack([(delta[k] * weights[k]).sum() for k in delta]).sum(),
                list(phi.values()),
                allow_unused=True,
            )
            for delta in (fast, simple)
        )
        for a, b in zip(fast_grads, simple_grads, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-12)
        fast_state = tree_map(lambda t: t.detach(), fast_state)
        simple_state = tree_map(lambda t: t.detach(), simple_state)
        params = student.apply(params, {k: v.detach() for k, v in fast.items()})


def test_the_compiled_path_matches_the_eager_one(name: str) -> None:
    """With :meth:`~amalg.core.interfaces.UpdateRule.use_compiler`, four graph-free float64
    steps (on the GPU where there is one) agree with the eager path's on the CPU to float
    rounding (a compiler may reorder sums); an update that keeps a graph is still the eager
    one (meta-gradients flow)."""
    student = amalg.create("student", name).double()
    if not student.compiled_path:
        pytest.skip("no compiled path")
    student.reset_parameters(_seeded(5))
    compiled = copy.deepcopy(student).to(TARGET).use_compiler()
    checks.compiled_path_matches_eager(student, compiled, TARGET)
    params = {key: value.to(TARGET) for key, value in random_params(torch.float64).items()}
    grads = {key: value.to(TARGET) for key, value in random_params(torch.float64, 1).items()}
    delta, _ = compiled(grads, compiled.init(params), params, 0)
    assert all(value.requires_grad for value in delta.values())


@pytest.mark.parametrize("graph", [True, False], ids=["graph", "graph-free"])
def test_the_update_on_a_device_is_the_cpu_update(name: str, graph: bool) -> None:
    """The learned rule does not depend on where it computes: the same phi, four float64
    steps on the GPU against the same steps on the CPU, their updates and state, with a graph
    (the path meta-training takes; the steps' meta-gradient too) and without one (the fast
    path evaluation and ``amalg.optim`` take, chunked where it chunks); without a GPU, the
    CPU against itself, bit for bit."""
    student = amalg.create("student", name).double()
    student.reset_parameters(_seeded(4))
    runs = []
    for where in ("cpu", TARGET):
        moved = copy.deepcopy(student).to(where)
        with torch.set_grad_enabled(graph):
            seen, total = checks.steps_on(moved, where, 4)
        if graph:
            meta = torch.autograd.grad(total, list(moved.parameters()), allow_unused=True)
            seen.append([None if grad is None else grad.cpu() for grad in meta])
        runs.append(seen)
    checks.agree(runs[1], runs[0], TARGET, rtol=1e-9, atol=1e-12)
