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

from amalg.core.component import Component
from amalg.core.functional import Params, State
from amalg.core.interfaces.teacher import UpdateRule

__all__ = ["Student"]


class Student(UpdateRule, torch.nn.Module):
    """A learned optimizer: an update rule and an ``nn.Module`` of meta-parameters."""

    kind: ClassVar[str] = "student"

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

    def meta_parameters(self) -> Params:
        """phi as a flat ``name -> tensor`` mapping (the module's parameters)."""
        return dict(self.named_parameters())
