"""A trained optimizer (a run's student or policy) used as a teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from pydantic import Field

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params, State
from amalg.core.interfaces import Student, Teacher


class TrainedConfig(ComponentConfig):
    path: str = Field(
        min_length=1,
        description="A finished run's folder (its student), a policy/ folder, an "
        "optimizer/ folder, an optimizer file (NAME.safetensors) or a pretrained optimizer's "
        "name.",
    )


class Trained(Teacher[TrainedConfig]):
    """A trained optimizer as a teacher: distill from a previous student or a trained policy.

    Loads the optimizer saved at ``path`` (``amalg.load``'s rules: a missing, damaged or
    foreign file is one line) and runs its update rule without a graph, at the dtype and
    device of the parameters it is given. It has no learning rate: it is used as it was
    trained, so tuning leaves it alone. With ``--scheme imitation`` it is the reference
    implementation's second chained run of optimal choice, from any trained optimizer.
    """

    name: ClassVar[str] = "trained"

    def __init__(self, config: Any = None, /, **fields: Any) -> None:
        super().__init__(config, **fields)
        from amalg.core.optimizer_file import resolve_student

        self.rule: Student = resolve_student(self.config.path)[0]
        self.rule.requires_grad_(False)
        self._copies: dict[tuple[torch.dtype, torch.device], Student] = {}

    @classmethod
    def example_config(cls, folder: Path) -> dict[str, Any]:
        """A fresh choice network over Adam and RMSProp, saved into ``folder``."""
        from amalg.core.registry import get_registry
        from amalg.core.run_folder import RunFolder

        policy = cast(Student, get_registry().create("student", "choice"))
        saved = RunFolder(folder / "trained-teacher")
        saved.save_optimizer("choice", policy.config.model_dump(mode="json"), policy.state_dict())
        return {"path": str(saved.path)}

    def _at(self, like: torch.Tensor) -> Student:
        key = (like.dtype, like.device)
        if key not in self._copies:
            copy = type(self.rule)(self.rule.config)
            copy.load_state_dict(self.rule.state_dict())
            self._copies[key] = copy.to(dtype=like.dtype, device=like.device).requires_grad_(False)
        return self._copies[key]

    def init(self, params: Params) -> State:
        return self._at(next(iter(params.values()))).init(params)

    def update(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        rule = self._at(next(iter(params.values())))
        with torch.no_grad():
            return rule.update(grads, state, params, step)
