"""The meta-learner: the student's meta-parameters phi and the optimizer that trains them."""

from __future__ import annotations

import copy

import torch

from amalg.core.engine import is_finite
from amalg.core.errors import AmalgError
from amalg.core.functional import Params
from amalg.core.interfaces import Student
from amalg.core.runconfig import MetaOptimizerConfig
from amalg.core.training.checkpoint import LearnerState, describe_mismatch

__all__ = ["IncompatibleStateError", "MetaLearner"]


class IncompatibleStateError(AmalgError):
    """A saved learner state does not fit this run's student."""


class MetaLearner:
    """phi (the student's parameters) and Adam over it with global-norm clipping (and, when
    set, clipping of each value first, as Metz et al. 2022 do at 3.0).

    Huang et al. 2022, Appendix C.3: Adam at lr 1e-3. A step that would leave phi non-finite
    is undone, moments included, so no NaN ever reaches the student.
    """

    def __init__(self, student: Student, config: MetaOptimizerConfig) -> None:
        self.student = student
        self.config = config
        self.optimizer = torch.optim.Adam(student.parameters(), lr=config.lr)

    @property
    def phi(self) -> Params:
        """phi as leaves of the student module (what an estimator differentiates)."""
        return dict(self.student.named_parameters())

    def reset(self, generator: torch.Generator) -> None:
        """Fresh phi drawn from ``generator`` (the optimizer's moments start empty). A
        student on a GPU draws on the CPU, as every draw of a run is made, then moves."""
        device = next(self.student.parameters()).device
        if device.type == "cpu":
            self.student.reset_parameters(generator)
            return
        # Module.to swaps each parameter's data, not the parameter: the optimizer keeps it.
        self.student.to("cpu")
        self.student.reset_parameters(generator)
        self.student.to(device)

    def step(self, grads: Params) -> bool:
        """Apply one meta-gradient; False (and phi and the moments restored) if phi would
        become non-finite."""
        before = self.state()
        for name, parameter in self.student.named_parameters():
            parameter.grad = grads[name].detach().clone()
        if self.config.clip_value is not None:
            torch.nn.utils.clip_grad_value_(self.student.parameters(), self.config.clip_value)
        torch.nn.utils.clip_grad_norm_(self.student.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if is_finite(self.phi):
            return True
        self.load(before)
        return False

    def state(self) -> LearnerState:
        """A copy of phi and of the optimizer's state."""
        return LearnerState(
            {key: value.detach().clone() for key, value in self.student.state_dict().items()},
            copy.deepcopy(self.optimizer.state_dict()),
        )

    def load(self, state: LearnerState, source: str = "the saved state") -> None:
        """Continue from ``state``; :class:`IncompatibleStateError` if it belongs to another
        student (other tensors or shapes)."""
        details = describe_mismatch(self.student.state_dict(), state.phi)
        if details:
            raise IncompatibleStateError(
                f"{source} holds another student's meta-parameters ({details}); "
                "it does not fit this run's student"
            )
        try:
            self.student.load_state_dict(state.phi)
            self.optimizer.load_state_dict(state.optimizer)
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise IncompatibleStateError(
                f"{source} does not fit this run's student or meta-optimizer: {first}"
            ) from None
