"""Adversarial weight perturbation by clipped gradient steps."""

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


class ClippedGradientConfig(ComponentConfig):
    magnitude: float = Field(
        1e-3, gt=0, le=1, description="epsilon: each step's norm bound relative to ||w||."
    )
    steps: int = Field(1, ge=1, le=100, description="A: adversarial ascent steps.")


class ClippedGradient(Perturbation[ClippedGradientConfig]):
    """Adversarial weight perturbation by clipped gradient ascent ("adaptive PGD").

    The reference's ``cgd`` preset (Huang et al. 2022, Section 4.2): like ``pgd``, A ascent
    steps on the truncation's meta-objective L, replaying the same truncation, but each step
    is the raw gradient clipped by norm instead of normalised; per weight tensor w,

        psi_{i+1}(w) = psi_i(w) + clip_by_norm(g(w), epsilon ||phi(w)||_2),
        clip_by_norm(g, c) = g * min(1, c / ||g||_2)

    so a small gradient gives a small step and no step exceeds epsilon ||phi(w)||. A replay
    that is not finite ends the ascent. Costs A extra passes over the truncation, each a
    forward and a backward. Reference defaults: one step, magnitude 1e-3.
    """

    name: ClassVar[str] = "cgd"

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
            bound, length = epsilon * norm(weight), norm(grad)
            if not bool(length > bound):
                return grad
            return grad * (bound / length)

        return ascend(phi, objective, self.config.steps, move)
