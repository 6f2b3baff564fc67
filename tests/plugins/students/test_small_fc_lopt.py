"""small_fc_lopt has the architecture of Metz et al. 2022, Appendix A: 197 meta-parameters,
39 features normalised over each tensor, Adafactor statistics over the two largest
dimensions, and the step l1 d exp(l2 m)."""

from __future__ import annotations

import math

import pytest
import torch

import amalg
from amalg.plugins.students.small_fc_lopt import TIMESCALES, factored_dims

EPS = 1e-8


def unit(value: torch.Tensor) -> torch.Tensor:
    flat = value.reshape(-1)
    return flat / torch.sqrt((flat * flat).mean())


@pytest.fixture
def student():
    return amalg.create("student", "small_fc_lopt").double()


def first_step_features(student, grad, param, step=0):
    return student.features(grad, param, student.init({"w": param})["w"], step)


def test_it_has_197_meta_parameters_and_39_features(student):
    assert sum(p.numel() for p in student.parameters()) == 197
    grad = torch.randn(5, 7, dtype=torch.float64)
    inputs, _ = first_step_features(student, grad, torch.randn(5, 7, dtype=torch.float64))
    assert inputs.shape == (35, 39)


def test_every_feature_but_time_has_unit_second_moment_and_time_is_tanh(student):
    generator = torch.Generator().manual_seed(0)
    grad = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    param = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    inputs, _ = first_step_features(student, grad, param, step=42)
    second_moments = (inputs[:, :28] ** 2).mean(dim=0)
    assert torch.allclose(second_moments, torch.ones(28, dtype=torch.float64), atol=1e-6)
    expected = torch.tanh(42 / torch.tensor(TIMESCALES, dtype=torch.float64))
    assert torch.allclose(inputs[:, 28:], expected.expand(24, -1))


def test_the_moment_feature_groups_after_one_step_from_zero(student):
    grad = torch.tensor([[0.5, -2.0, 1.0], [3.0, -0.1, 0.7]], dtype=torch.float64)
    param = torch.full_like(grad, 0.25) + torch.arange(6, dtype=torch.float64).view(2, 3)
    inputs, _ = first_step_features(student, grad, param)
    assert torch.allclose(inputs[:, 0], unit(param))
    assert torch.allclose(inputs[:, 1], unit(grad))
    for k in range(3):  # each momentum is (1 - beta_k) g after one step: g normalised
        assert torch.allclose(inputs[:, 2 + k], unit(grad))
    assert torch.allclose(inputs[:, 5], unit(grad * grad))  # v = (1 - beta) g^2
    for k in range(3):  # m_k / sqrt(v) is a constant times sign(g)
        assert torch.allclose(inputs[:, 6 + k], unit(torch.sign(grad)), atol=1e-3)  # eps in v
    assert torch.allclose(inputs[:, 9], unit(1 / grad.abs()), rtol=1e-3)  # eps in v


def test_adafactor_factors_the_two_largest_dimensions(student):
    assert factored_dims(torch.Size([2, 3, 5, 4])) == (3, 2)
    assert factored_dims(torch.Size([7])) is None and factored_dims(torch.Size([])) is None
    grad = torch.tensor([[0.5, -2.0, 1.0], [3.0, -0.1, 0.7]], dtype=torch.float64)
    inputs, slots = first_step_features(student, grad, torch.zeros_like(grad))
    squared = grad * grad + EPS
    rows, cols = squared.mean(dim=1, keepdim=True), squared.mean(dim=0, keepdim=True)
    vhat = rows * cols / rows.mean()  # the (1 - beta_k) factors cancel
    for k in range(3):
        assert torch.allclose(inputs[:, 10 + k], unit(grad / torch.sqrt(vhat)), atol=1e-6)
        assert torch.allclose(inputs[:, 13 + k], unit(rows.expand_as(grad)))
        assert torch.allclose(inputs[:, 16 + k], unit(cols.expand_as(grad)))
    assert slots["rows"].shape == (3, 2, 1) and slots["cols"].shape == (3, 1, 3)
    vector = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64)
    _, slots = first_step_features(student, vector, torch.zeros_like(vector))
    assert "full" in slots and slots["full"].shape == (3, 3)


def test_the_step_is_l1_d_exp_l2_m(student):
    with torch.no_grad():
        student.w2.zero_()
        student.b2.copy_(torch.tensor([0.7, 300.0], dtype=torch.float64))
    params = {"w": torch.randn(4, 3, dtype=torch.float64), "b": torch.randn(3, dtype=torch.float64)}
    grads = {key: torch.randn_like(value) for key, value in params.items()}
    delta, _ = student.update(grads, student.init(params), params, 0)
    expected = 1e-3 * 0.7 * math.exp(1e-3 * 300.0)
    assert all(torch.allclose(value, torch.full_like(value, expected)) for value in delta.values())


def test_the_decays_are_meta_learned(student):
    params = {"w": torch.randn(4, 3, dtype=torch.float64), "b": torch.randn(3, dtype=torch.float64)}
    state = student.init(params)
    total = 0.0
    for step in range(3):
        grads = {key: torch.sin(value * (step + 1)) for key, value in params.items()}
        delta, state = student.update(grads, state, params, step)
        params = {key: value - delta[key] for key, value in params.items()}
        total = total + sum((value**2).sum() for value in params.values())
    offsets = [student.momentum_offsets, student.rms_offset, student.adafactor_offsets]
    for grad in torch.autograd.grad(total, offsets):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def _decays_now(student):
    with torch.no_grad():
        return student._decays()


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_the_graph_free_decays_follow_every_change_of_the_offsets(student):
    assert _same(student._graph_free_decays(), _decays_now(student))
    assert student._graph_free_decays() is student._graph_free_decays()  # unchanged: cached
    with torch.no_grad():
        student.momentum_offsets.add_(0.5)  # in place: the version moves
    assert _same(student._graph_free_decays(), _decays_now(student))
    student.rms_offset.data = torch.full((1,), -1.0, dtype=torch.float64)  # a new storage
    assert _same(student._graph_free_decays(), _decays_now(student))
    student.adafactor_offsets.data.add_(0.25)  # through .data: no version moves
    assert _same(student._graph_free_decays(), _decays_now(student))
    fused = torch.optim.Adam([student.momentum_offsets], lr=0.1, fused=True)
    student.momentum_offsets.grad = torch.ones(3, dtype=torch.float64)
    fused.step()  # a fused kernel writes without moving the version either
    assert _same(student._graph_free_decays(), _decays_now(student))
    student.load_state_dict({**student.state_dict(), "adafactor_offsets": torch.ones(3)})
    assert _same(student._graph_free_decays(), _decays_now(student))
    for value in (0.25, -0.25, 0.75):  # functional_call's fresh tensors, freed after it
        fresh = torch.full((3,), value, dtype=torch.float64)
        student.momentum_offsets = torch.nn.Parameter(fresh)
        assert _same(student._graph_free_decays(), _decays_now(student))


def test_a_student_that_has_stepped_compiled_still_pickles(student):
    import io
    import pickle

    student._graph_free_decays()
    student._time(3, student.w0)
    copy = pickle.loads(pickle.dumps(student))
    assert _same(copy._graph_free_decays(), _decays_now(student))
    buffer = io.BytesIO()
    torch.save(student, buffer)
