"""The choice network mixes its pool's updates as Huang et al. 2022 Section 3.3 says: forced
one-hot it is teacher j exactly, uniform it is their average, and its choices are observable."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.core.errors import AmalgError
from amalg.testing.problems import mlp, unroll

POOL = [
    {"name": "adam", "config": {"lr": 0.01}},
    {"name": "rmsprop", "config": {"lr": 0.003}},
    {"name": "sgd", "config": {"lr": 0.1}},
]


def forced(logits: list[float]):
    """A choice network whose softmax is ``softmax(logits)`` at every coordinate and step."""
    student = amalg.create("student", "choice", pool=POOL).double()
    with torch.no_grad():
        student.dense_kernel.zero_()
        student.dense_bias.copy_(torch.tensor(logits, dtype=torch.float64))
    return student


@pytest.mark.parametrize("j", [0, 1, 2])
def test_forced_one_hot_on_teacher_j_walks_teacher_js_trajectory_exactly(j):
    params, loss = mlp(torch.float64)
    logits = [-1e4] * len(POOL)
    logits[j] = 0.0  # softmax of (0, -1e4, -1e4) is exactly (1, 0, 0) in float64
    student = forced(logits)
    teacher = amalg.create("teacher", POOL[j]["name"], **POOL[j]["config"])
    ours, theirs = unroll(student, params, loss, 25), unroll(teacher, params, loss, 25)
    assert all(torch.equal(ours[key], theirs[key]) for key in params)
    assert not torch.equal(ours["w1"], params["w1"])


def test_uniform_weights_give_the_average_update():
    params, _ = mlp(torch.float64)
    student = forced([0.0, 0.0, 0.0])
    teachers = [amalg.create("teacher", m["name"], **m["config"]) for m in POOL]
    generator = torch.Generator().manual_seed(3)
    states = [teacher.init(params) for teacher in teachers]
    state = student.init(params)
    for step in range(4):
        grads = {
            k: torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in params.items()
        }
        delta, state = student.update(grads, state, params, step)
        updates = []
        for k, teacher in enumerate(teachers):
            update, states[k] = teacher.update(grads, states[k], params, step)
            updates.append(update)
        for key in params:
            average = sum(update[key] for update in updates) / len(updates)
            assert torch.allclose(delta[key], average, rtol=1e-12, atol=1e-15)


def test_the_choice_is_observable_per_teacher_and_tensor_rank():
    params, _ = mlp(torch.float64)
    student = forced([0.0, -1e4, -1e4])
    state = student.init(params)
    grads = {key: torch.ones_like(value) for key, value in params.items()}
    _, state = student.update(grads, state, params, 0)
    seen = student.observe(state, params)
    assert seen["choice/adam"] == 1.0 and seen["choice/rmsprop"] == 0.0
    assert seen["choice/adam/rank2"] == 1.0 and seen["choice/sgd/rank1"] == 0.0
    assert set(seen) == {
        f"choice/{name}{suffix}"
        for name in ("adam", "rmsprop", "sgd")
        for suffix in ("", "/rank1", "/rank2")
    }
    fresh = amalg.create("student", "choice", pool=POOL)
    shares = fresh.observe(fresh.init(params), params)
    assert shares["choice/sgd"] == pytest.approx(1 / 3)


def test_the_meta_gradient_reaches_every_weight_of_the_choice_network():
    params, loss = mlp(torch.float64)
    student = amalg.create("student", "choice", pool=POOL).double()
    final = unroll(student, params, loss, 5, differentiable=True)
    grads = torch.autograd.grad(loss(final), list(student.parameters()))
    assert all(torch.isfinite(grad).all() and grad.abs().sum() > 0 for grad in grads)


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ([{"name": "adam"}], "at least 2"),
        ([{"name": "adam"}, {"name": "adam"}], "adam twice"),
        ([{"name": "adam"}, {"name": "adamm"}], "adamm"),
        ([{"name": "adam"}, {"name": "sgd", "config": {"lr": -1}}], "lr"),
    ],
)
def test_a_bad_pool_is_refused_with_the_reason(pool, message):
    with pytest.raises(AmalgError, match=message):
        amalg.create("student", "choice", pool=pool)
