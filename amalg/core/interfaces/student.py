"""Student: a learned update rule whose meta-parameters phi are trained.

A student has the teacher's functional shape (``init`` / ``update``) and is also a
``torch.nn.Module`` holding phi. ``update`` calls the module, so the same rule runs with
other meta-parameters (a perturbed phi, an ES particle) through
``torch.func.functional_call(student, phi, (grads, state, params, step))``.
Per-coordinate recurrent state (an LSTM's hidden state, say) lives in the optimizer state.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch

from amalg.core.component import Component, ConfigT
from amalg.core.functional import Params, State
from amalg.core.interfaces.teacher import UpdateRule

__all__ = ["Student"]


# ``apply`` is the update rule's (params - delta): nn.Module's apply(fn) is not used here.
class Student(UpdateRule[ConfigT], torch.nn.Module):  # type: ignore[misc]
    """A learned optimizer: an update rule and an ``nn.Module`` of meta-parameters."""

    kind: ClassVar[str] = "student"

    graph_ratio: ClassVar[float] = 4.0
    """Bytes of autograd graph one unrolled meta-training step keeps, at least, per byte of
    this student's optimizer state: used to refuse before any work a run whose truncations
    cannot fit in memory, so it must not overstate. RNNProp's LSTM keeps its gates, cells and
    activations: 4.1 to 4.6 times its state, measured over widths 20 to 1024."""

    def __init__(self, config: Any = None, /, **fields: Any) -> None:
        torch.nn.Module.__init__(self)
        Component.__init__(self, config, **fields)

    @abstractmethod
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw fresh meta-parameters phi from ``generator`` (same seed, same phi)."""

    @abstractmethod
    def init(self, params: Params) -> State:
        """The initial optimizer state (moments, hidden state) for ``params``."""

    @abstractmethod
    def forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """The update ``delta`` (new parameters are ``params - delta``) and the new state."""

    def update(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        return self(grads, state, params, step)

    def simple_forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """The rule written plainly, as its docstring states it: the reference a fast
        :meth:`forward` must equal to float rounding, values and meta-gradients alike (the
        student contract checks it). A student without a fast path need not override it."""
        return self.forward(grads, state, params, step)

    def observe(self, state: State, params: Params) -> dict[str, float]:
        """Scalars worth logging about the student's last step, by name (none by default):
        the unroll engine records them at the end of every meta-training truncation and the
        run writes their per-period values to ``log/``. ``state`` is detached."""
        return {}

    def training_scale(self, params: Params, generator: torch.Generator) -> Params | None:
        """A per-coordinate scale ``s`` for one meta-training trajectory, or None (default).

        With a scale, the unroll engine lets the student optimise ``f(s * x)``: it sees
        gradients ``s * g`` and its update is applied as ``theta -= s * delta`` (random
        scaling, Lv et al. 2017, a training trick of RNNProp). Never used in validation or
        evaluation. Draw from ``generator`` only: it is addressed by the trajectory.
        """
        return None
