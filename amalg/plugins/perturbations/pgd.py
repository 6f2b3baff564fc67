"""Adversarial (projected gradient) weight perturbation."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params
from amalg.core.interfaces import Perturbation
from amalg.plugins.perturbations._tensors import ascend, norm


class ProjectedGradientConfig(ComponentConfig):
    magnitude: float = Field(
        1e-4, gt=0, le=1, description="epsilon: each step's length relative to ||w||."
    )
    steps: int = Field(1, ge=1, le=100, description="A: adversarial ascent steps.")


class ProjectedGradient(Perturbation[ProjectedGradientConfig]):
    """Adversarial weight perturbation by normalised gradient ascent.

    Huang et al. 2022, Section 4.2, eq. 6 and Appendix A (Algorithm 2): from psi_0 = 0, A
    ascent steps on the truncation's meta-objective L, each replaying the same truncation
    (same start, same batches) at phi + psi; per weight tensor w,

        psi_{i+1}(w) = psi_i(w) + epsilon ||phi(w)||_2 * g(w) / ||g(w)||_2,
        g(w) = grad_{psi(w)} L(phi + psi_i)

    and phi~ = phi + psi_A, so ||psi_A(w)|| <= A epsilon ||phi(w)||. A tensor whose gradient
    is zero does not move; a replay that is not finite ends the ascent (the reference's PGD
    crashed; this one does not). Costs A extra passes over the truncation, each a forward
    and a backward. The reference's ``pgd`` preset: one step, magnitude 1e-4.
    """

    name: ClassVar[str] = "pgd"

    @property
    def replays(self) -> int:
        return self.config.steps

    def perturb(
        self,
        phi: Params,
        objective: Callable[[Params], Tensor],
        generator: torch.Generator,
    ) -> Params:
        epsilon = self.config.magnitude

        def move(grad: Tensor, weight: Tensor) -> Tensor:
            length = norm(grad)
            if not bool(length > 0):
                return torch.zeros_like(grad)
            return epsilon * norm(weight) * grad / length

        return ascend(phi, objective, self.config.steps, move)
