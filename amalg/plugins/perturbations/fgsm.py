"""Fast gradient sign weight perturbation."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params
from amalg.core.interfaces import Perturbation
from amalg.plugins.perturbations._tensors import objective_gradient


class FastGradientSignConfig(ComponentConfig):
    magnitude: float = Field(
        1e-3, gt=0, le=1, description="epsilon: the step on every weight, along its sign."
    )


class FastGradientSign(Perturbation[FastGradientSignConfig]):
    """Fast gradient sign method (Goodfellow et al. 2015) on the student's weights (absolute).

    One ascent step on the truncation's meta-objective L (Huang et al. 2022, Section 4.2):

        phi~ = phi + epsilon * sign(grad_phi L(phi))

    Costs one extra pass over the truncation (a replay at phi, forward and backward). When
    the replay's objective or gradient is not finite, phi is left unperturbed. The
    reference's ``fgsm`` preset (``step_size`` 1e-3).
    """

    name: ClassVar[str] = "fgsm"

    @property
    def replays(self) -> int:
        return 1

    def perturb(
        self,
        phi: Params,
        objective: Callable[[Params], Tensor],
        generator: torch.Generator,
    ) -> Params:
        ascent = objective_gradient(objective, phi)
        if ascent is None:
            return {key: value.clone() for key, value in phi.items()}
        _, grads = ascent
        epsilon = self.config.magnitude
        return {key: value + epsilon * torch.sign(grads[key]) for key, value in phi.items()}
