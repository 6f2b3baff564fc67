"""Small deterministic optimisation problems for checking update rules (teachers and
students alike), shared by the contract suites and usable in a plugin's own tests."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from amalg.core.functional import Params
from amalg.core.interfaces import UpdateRule

LossFn = Callable[[Params], Tensor]

SHAPES = {"scalar": (), "bias": (3,), "weight": (4, 5), "kernel": (2, 3, 3, 3)}

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
"""The devices a rule is run on by the contract suites."""

TARGET = "cuda" if torch.cuda.is_available() else "cpu"
"""The device a rule's results are compared with the CPU's on: the GPU where there is one,
else the CPU itself, where the check becomes one of determinism (see :func:`agree`)."""


def random_params(dtype: torch.dtype = torch.float32, seed: int = 0) -> Params:
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(shape, generator=generator, dtype=dtype) for key, shape in SHAPES.items()
    }


def quadratic(dtype: torch.dtype = torch.float64, seed: int = 0) -> tuple[Params, LossFn]:
    """``0.5 (x - c)^T A (x - c)`` over all parameters flattened, A with eigenvalues in
    [0.1, 1]; the minimum is 0 at c."""
    generator = torch.Generator().manual_seed(seed)
    params = random_params(dtype, seed)
    size = sum(value.numel() for value in params.values())
    basis, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=dtype))
    eigenvalues = torch.linspace(0.1, 1.0, size, dtype=dtype)
    matrix = basis @ torch.diag(eigenvalues) @ basis.T
    center = 0.5 * torch.randn(size, generator=generator, dtype=dtype)

    def loss(values: Params) -> Tensor:
        diff = torch.cat([value.reshape(-1) for value in values.values()]) - center
        return 0.5 * diff @ matrix @ diff

    return params, loss


def mlp(dtype: torch.dtype = torch.float32, seed: int = 0) -> tuple[Params, LossFn]:
    """A 5-8-3 tanh MLP with cross-entropy on 64 fixed random samples."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(64, 5, generator=generator, dtype=dtype)
    labels = torch.randint(0, 3, (64,), generator=generator)
    params = {
        "w1": 0.5 * torch.randn(8, 5, generator=generator, dtype=dtype),
        "b1": torch.zeros(8, dtype=dtype),
        "w2": 0.5 * torch.randn(3, 8, generator=generator, dtype=dtype),
        "b2": torch.zeros(3, dtype=dtype),
    }

    def loss(values: Params) -> Tensor:
        hidden = torch.tanh(inputs @ values["w1"].T + values["b1"])
        return torch.nn.functional.cross_entropy(hidden @ values["w2"].T + values["b2"], labels)

    return params, loss


def gradients(loss: LossFn, params: Params, create_graph: bool = False) -> Params:
    leaves = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}
    grads = torch.autograd.grad(loss(leaves), list(leaves.values()), create_graph=create_graph)
    return dict(zip(leaves, grads, strict=True))


def unroll(
    rule: UpdateRule, params: Params, loss: LossFn, steps: int, differentiable: bool = False
) -> Params:
    """``steps`` updates of ``rule`` on ``loss`` from ``params``; keeps the graph through every
    step when ``differentiable``."""
    state = rule.init(params)
    for step in range(steps):
        grads = gradients(loss, params, create_graph=differentiable)
        delta, state = rule.update(grads, state, params, step)
        params = rule.apply(params, delta)
        if not differentiable:
            params = {key: value.detach() for key, value in params.items()}
    return params


def torch_optim_unroll(
    optimizer: type[torch.optim.Optimizer], params: Params, loss: LossFn, steps: int, **options
) -> Params:
    """The same walk with a ``torch.optim`` optimizer."""
    tensors: Params = {key: torch.nn.Parameter(value.clone()) for key, value in params.items()}
    opt = optimizer(list(tensors.values()), **options)
    for _ in range(steps):
        opt.zero_grad()
        loss(tensors).backward()
        opt.step()
    return {key: value.detach() for key, value in tensors.items()}


def numpy_quadratic(size: int = 12, seed: int = 0):
    """``(x0, grad, loss)`` of ``0.5 (x - c)^T A (x - c)`` in NumPy float64, with ``loss`` the
    same function over ``{"x": tensor}`` for a teacher, so both walk the same problem."""
    import numpy as np

    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((size, size)))
    matrix = basis @ np.diag(np.linspace(0.1, 1.0, size)) @ basis.T
    center = rng.standard_normal(size)
    x0 = rng.standard_normal(size)

    def grad(x):
        return matrix @ (x - center)

    a, c = torch.from_numpy(matrix), torch.from_numpy(center)

    def loss(values: Params) -> Tensor:
        diff = values["x"] - c
        return 0.5 * diff @ a @ diff

    return x0, grad, loss


def teacher_trajectory(rule: UpdateRule, x0, loss: LossFn, steps: int):
    """The iterates x_1..x_steps of ``rule`` on ``loss`` from NumPy ``x0``, as NumPy arrays."""
    params = {"x": torch.from_numpy(x0.copy())}
    state = rule.init(params)
    path = []
    for step in range(steps):
        delta, state = rule.update(gradients(loss, params), state, params, step)
        params = {"x": (params["x"] - delta["x"]).detach()}
        path.append(params["x"].numpy())
    return path
