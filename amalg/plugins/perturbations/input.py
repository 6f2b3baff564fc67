"""Gaussian noise on the gradients the student sees."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params
from amalg.core.interfaces import Perturbation
from amalg.plugins.perturbations._tensors import normal_like


class InputNoiseConfig(ComponentConfig):
    magnitude: float = Field(
        1e-2, gt=0, le=10, description="sigma: std of the noise added to every gradient."
    )


class InputNoise(Perturbation[InputNoiseConfig]):
    """Input perturbation: noise on the optimizee gradients the student sees.

    Huang et al. 2022, Appendix E.4, eq. 11: during meta-training,

        theta_{i+1} = theta_i - P(grad M(x_i, theta_i) + N(0, sigma^2 I))

    with a fresh draw at every step (seeded by the step's address, so a replay sees the same
    noise). The weights are not perturbed and the teachers see clean gradients. Costs no
    extra pass. The paper tried sigma 1e-2 and 1e-1 and found both hurt meta-stability
    (Table 6); it is offered to reproduce that.
    """

    name: ClassVar[str] = "input"

    def perturb_inputs(self, grads: Params, generator: torch.Generator) -> Params:
        sigma = self.config.magnitude
        return {key: grad + sigma * normal_like(grad, generator) for key, grad in grads.items()}
