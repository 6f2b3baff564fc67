"""Perturbation: noise on the student's meta-parameters (or inputs) during meta-training.

Huang et al., "Optimizer Amalgamation", ICLR 2022, Section 4.2 and Appendix E.4: the
meta-objective of a truncation is taken at a perturbed ``phi~ = phi + psi`` instead of
``phi``. Random perturbations draw psi once (eq. 5); adversarial ones take ascent steps on
the truncation's meta-objective (eq. 6, Algorithm 2), each a replay of the same truncation
from the same start on the same batches. Magnitudes are absolute or relative to each weight
tensor's norm, as each perturbation documents. An input perturbation adds noise to the
gradients the student sees instead (Appendix E.4).

The unroll engine calls a run's perturbation for every meta-training truncation and never in
validation or evaluation; the saved student is the clean phi. The meta-gradient is taken at
``phi~`` and applied to ``phi`` (psi is a constant of the truncation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from amalg.core.component import Component, ConfigT
from amalg.core.functional import Params

__all__ = ["Perturbation"]


class Perturbation(Component[ConfigT]):
    """Yields the perturbed meta-parameters (or student inputs) used for one truncation.

    Override :meth:`perturb` (weight space), :meth:`perturb_inputs` (gradient inputs), or
    both; the defaults leave things as they are.
    """

    kind: ClassVar[str] = "perturbation"

    @property
    def replays(self) -> int:
        """Extra passes over the truncation (forward and backward) each meta-gradient costs:
        A for A adversarial ascent steps, 0 for a random draw."""
        return 0

    def perturb(
        self,
        phi: Params,
        objective: Callable[[Params], Tensor],
        generator: torch.Generator,
    ) -> Params:
        """``phi~`` for this truncation: new tensors of phi's keys, shapes and dtypes.

        ``phi`` is detached. ``objective(phi')`` replays the truncation at other
        meta-parameters and returns its differentiable meta-objective (adversarial
        perturbations ascend it). Random draws come from ``generator`` only: it is seeded
        by the truncation's start, so a replay draws the same psi.
        """
        return phi

    def perturb_inputs(self, grads: Params, generator: torch.Generator) -> Params:
        """The gradients the student sees at one meta-training step, perturbed
        (Huang et al. 2022, Appendix E.4). ``generator`` is seeded by the step's address."""
        return grads
