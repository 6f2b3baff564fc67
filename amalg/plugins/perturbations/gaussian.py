"""Random Gaussian weight perturbation."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params
from amalg.core.interfaces import Perturbation
from amalg.plugins.perturbations._tensors import normal_like


class GaussianConfig(ComponentConfig):
    magnitude: float = Field(
        1e-3, gt=0, le=1, description="sigma: standard deviation of the noise on every weight."
    )


class Gaussian(Perturbation[GaussianConfig]):
    """Random Gaussian perturbation of the student's weights (absolute).

    Huang et al. 2022, Section 4.2: for every meta-training truncation,

        phi~ = phi + N(0, sigma^2 I)

    one draw per truncation, the same for every tensor whatever its scale (``gaussian_rel``
    scales it per tensor). Costs no extra pass over the truncation. The reference's
    ``gaussian`` preset (``noise_stddev`` 1e-3).
    """

    name: ClassVar[str] = "gaussian"

    def perturb(
        self,
        phi: Params,
        objective: Callable[[Params], Tensor],
        generator: torch.Generator,
    ) -> Params:
        sigma = self.config.magnitude
        return {key: value + sigma * normal_like(value, generator) for key, value in phi.items()}
