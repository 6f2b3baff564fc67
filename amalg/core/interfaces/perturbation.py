"""Perturbation: noise on the student's meta-parameters (or inputs) during meta-training.

Huang et al., "Optimizer Amalgamation", ICLR 2022, Section 4.2: the meta-objective of a
truncation is taken at a perturbed ``phi~`` instead of ``phi``. Random perturbations draw
once (eq. 5); adversarial ones take ascent steps on the meta-objective (eq. 6, Algorithm 2).
Magnitudes are relative to each weight tensor's norm.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from amalg.core.component import Component
from amalg.core.functional import Params

__all__ = ["Perturbation"]


class Perturbation(Component):
    """Yields the perturbed meta-parameters used for one truncation."""

    kind: ClassVar[str] = "perturbation"

    @abstractmethod
    def perturb(
        self,
        phi: Params,
        objective: Callable[[Params], Tensor],
        generator: torch.Generator,
    ) -> Params:
        """``phi~`` for this truncation; ``objective(phi')`` evaluates the truncation's
        meta-objective at other meta-parameters (adversarial perturbations ascend it)."""

    def perturb_inputs(self, grads: Params, generator: torch.Generator) -> Params:
        """Noise on the gradients the student sees (Huang et al. 2022, Appendix E.4).

        None by default."""
        return grads
