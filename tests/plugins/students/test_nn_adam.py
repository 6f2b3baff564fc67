"""nn_adam (Metz et al. 2022, Appendix C): fresh, it is Adam at its initial hyperparameters;
whatever its head outputs, the hyperparameters stay in their documented ranges; its
per-tensor features are the stated transforms."""

from __future__ import annotations

import math

import torch

import amalg
from amalg.plugins.students.nn_adam import tensor_features, transformed
from amalg.testing.problems import mlp, unroll


def test_a_fresh_nn_adam_is_adam_at_its_initial_hyperparameters():
    params, loss = mlp(torch.float64)
    student = amalg.create("student", "nn_adam", lr=0.01).double()
    adam = amalg.create("teacher", "adam", lr=0.01, eps=1e-8)
    ours, theirs = unroll(student, params, loss, 20), unroll(adam, params, loss, 20)
    assert all(torch.allclose(ours[k], theirs[k], rtol=1e-9, atol=1e-12) for k in params)


def test_the_hyperparameters_stay_in_their_ranges_whatever_the_head_says():
    student = amalg.create("student", "nn_adam").double()
    out = torch.tensor([[1e6] * 4, [-1e6] * 4, [0.0] * 4], dtype=torch.float64)
    hyper = student.hyperparameters(out)
    assert (hyper["lr"] >= 1e-8 - 1e-20).all() and (hyper["lr"] <= 1.0).all()
    for beta in (hyper["beta1"], hyper["beta2"]):
        assert (beta >= 1 - 0.999 - 1e-12).all() and (beta <= 1 - 1e-6 + 1e-12).all()
    assert (hyper["eps"] >= 1e-12 * (1 - 1e-9)).all() and (hyper["eps"] <= 1e-2 * (1 + 1e-9)).all()
    assert math.isclose(float(hyper["lr"][2]), 1e-3) and math.isclose(
        float(hyper["beta2"][2]), 0.999
    )


def test_the_per_tensor_features_are_the_stated_transforms():
    grad = torch.tensor([1.0, -3.0, 0.5, 2.0], dtype=torch.float64)
    param = torch.tensor([0.1, 0.2, -0.3, 0.4], dtype=torch.float64)
    m, v = 0.1 * grad, 0.01 * grad**2
    features = tensor_features(grad, param, m, v)
    assert features.shape == (12,)
    assert math.isclose(float(features[0]), 0.5 * math.log(abs(float(m.mean()))))
    assert float(features[1]) == 1.0 and float(features[6]) == 1.0 and float(features[9]) == 1.0
    assert math.isclose(float(features[11]), 0.5 * math.log(float(grad.abs().mean())))
    # The transform clips: huge and tiny magnitudes both land in [-2.5, 2.5].
    assert float(transformed(torch.tensor(1e30))) == 2.5
    assert float(transformed(torch.tensor(0.0))) == -2.5


def test_the_meta_gradient_reaches_the_controller():
    params, loss = mlp(torch.float64)
    student = amalg.create("student", "nn_adam").double()
    final = unroll(student, params, loss, 5, differentiable=True)
    head = torch.autograd.grad(loss(final), [student.head_kernel, student.head_bias])
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in head)
