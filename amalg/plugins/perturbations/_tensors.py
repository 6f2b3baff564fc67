"""What the weight perturbations share: seeded draws, per-tensor norms and one replay of the
truncation's meta-objective with its gradient."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from amalg.core.functional import Params


def normal_like(value: Tensor, generator: torch.Generator) -> Tensor:
    """Standard normal draws of ``value``'s shape and dtype, from ``generator`` (a CPU
    generator: drawn there, then moved, so a run draws the same numbers on any device)."""
    draw = torch.randn(value.shape, generator=generator, dtype=value.dtype)
    return draw.to(value.device)


def norm(value: Tensor) -> Tensor:
    """The l2 norm of a whole tensor, ``||w||_2``."""
    return torch.linalg.vector_norm(value.detach())


def objective_gradient(
    objective: Callable[[Params], Tensor], at: Params
) -> tuple[float, dict[str, Tensor]] | None:
    """The meta-objective of one replay of the truncation at ``at`` and its gradient per
    tensor (zeros for a tensor it does not depend on); ``None`` when the objective or a
    gradient is not finite, so the caller stops ascending instead of stepping into NaN."""
    leaves = {key: value.detach().clone().requires_grad_() for key, value in at.items()}
    with torch.enable_grad():
        value = objective(leaves)
        grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True)
    loss = float(value.detach())
    result = {
        key: torch.zeros_like(leaves[key]) if grad is None else grad.detach()
        for key, grad in zip(leaves, grads, strict=True)
    }
    if not torch.isfinite(torch.tensor(loss)) or not all(
        bool(torch.isfinite(grad).all()) for grad in result.values()
    ):
        return None
    return loss, result


def ascend(
    phi: Params,
    objective: Callable[[Params], Tensor],
    steps: int,
    move: Callable[[Tensor, Tensor], Tensor],
) -> Params:
    """``phi + psi_A`` after ``steps`` adversarial steps from ``psi_0 = 0`` (Huang et al. 2022,
    Appendix A, Algorithm 2): each step replays the truncation at ``phi + psi``, takes the
    meta-objective's gradient g per tensor w and adds ``move(g, phi(w))`` to psi(w). A step
    whose replay is not finite ends the ascent where it is."""
    psi = {key: torch.zeros_like(value) for key, value in phi.items()}
    for _ in range(steps):
        ascent = objective_gradient(objective, {key: phi[key] + psi[key] for key in phi})
        if ascent is None:
            break
        _, grads = ascent
        psi = {key: psi[key] + move(grads[key], phi[key]) for key in phi}
    return {key: phi[key] + psi[key] for key in phi}
