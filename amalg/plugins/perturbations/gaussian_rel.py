"""Random Gaussian weight perturbation relative to each tensor's norm."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params
from amalg.core.interfaces import Perturbation
from amalg.plugins.perturbations._tensors import norm, normal_like


class RelativeGaussianConfig(ComponentConfig):
    magnitude: float = Field(
        5e-4,
        gt=0,
        le=1,
        description="sigma: noise std relative to each tensor's root mean square.",
    )


class RelativeGaussian(Perturbation[RelativeGaussianConfig]):
    """Random Gaussian perturbation adapted to each weight tensor's magnitude.

    Huang et al. 2022, Section 4.2, eq. 5: for every weight tensor w of phi, once per
    meta-training truncation,

        phi~(w) = phi(w) + N(0, sigma^2 ||phi(w)||_2^2 / |phi(w)| I)

    so each tensor's noise std is sigma times its root mean square: biases and kernels of
    very different scales are shaken alike. A tensor of zeros is left as it is. Costs no
    extra pass over the truncation. The reference's ``gaussian_rel`` preset (5e-4).
    """

    name: ClassVar[str] = "gaussian_rel"

    def perturb(
        self,
        phi: Params,
        objective: Callable[[Params], Tensor],
        generator: torch.Generator,
    ) -> Params:
        sigma = self.config.magnitude
        perturbed = {}
        for key, value in phi.items():
            std = sigma * norm(value) / math.sqrt(max(value.numel(), 1))
            perturbed[key] = value + std * normal_like(value, generator)
        return perturbed
