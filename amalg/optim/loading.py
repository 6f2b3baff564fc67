"""The optimizers for a user's loop: a trained student (``load``: a run folder, an optimizer
file or a pretrained name, see :func:`amalg.core.optimizer_file.resolve_student`) or a
teacher by name."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from torch import Tensor

from amalg.core.interfaces import Student
from amalg.core.interfaces import Teacher as TeacherRule
from amalg.core.optimizer_file import (
    OptimizerCard,
    pretrained_files,
    read_card,
    resolve_student,
)
from amalg.optim.optimizer import OptimizerUsageError, RuleOptimizer

__all__ = ["LearnedOptimizer", "Teacher", "load", "pretrained", "resolve_student"]


def pretrained() -> dict[str, OptimizerCard]:
    """The cards of the optimizers shipped with amalg, by the name :func:`load` takes."""
    return {name: read_card(path) for name, path in sorted(pretrained_files().items())}


class LearnedOptimizer(RuleOptimizer):
    """A trained student stepping the user's parameters; ``card`` says how it was trained
    (None for a run folder's unfinished or older student)."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        student: Student,
        card: OptimizerCard | None = None,
        *,
        lr: float = 1.0,
        warmup: int = 100,
        warmup_lr: float = 0.01,
        compile: bool = False,
    ) -> None:
        super().__init__(
            params, student, lr=lr, warmup=warmup, warmup_lr=warmup_lr, compile=compile
        )
        self.card = card


def load(
    source: str | os.PathLike[str],
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    *,
    lr: float = 1.0,
    warmup: int = 100,
    warmup_lr: float = 0.01,
    compile: bool = False,
) -> LearnedOptimizer:
    """The trained student ``source`` names (see :func:`resolve_student`) as a
    ``torch.optim.Optimizer`` over ``params``.

    ``lr`` scales the learned step (a param group's ``lr`` too, so LR schedulers work). The
    first ``warmup`` steps are SGD at ``warmup_lr``, the warm start the student was
    meta-trained and evaluated after (Huang et al. 2022, Appendix C.3); 0 turns it off.
    ``compile=True`` runs the student's update through ``torch.compile`` (small_fc_lopt:
    the same steps to float rounding, several times faster on large models once each
    batch of parameter shapes has compiled, which takes seconds: see
    :mod:`amalg.core.compiled`); a student without a compiled path is refused.
    """
    student, card = resolve_student(source)
    student.eval()
    return LearnedOptimizer(
        params, student, card, lr=lr, warmup=warmup, warmup_lr=warmup_lr, compile=compile
    )


class Teacher(RuleOptimizer):
    """An amalg teacher as a ``torch.optim.Optimizer``:
    ``amalg.optim.Teacher("addsign", model.parameters(), lr=0.1)``.

    ``lr`` is the teacher's learning rate (its default when not given); other keywords are
    its config fields (``amalg show teacher NAME``). No warmup by default, unlike a learned
    optimizer (``warmup=100`` reproduces evaluation's warm start). ``compile=True`` runs
    the rule through ``torch.compile`` (:mod:`amalg.core.compiled`): one fused loop per
    tensor instead of a pass per operation, after seconds of compilation at the first step;
    it pays on large tensors, not on a small model's steps."""

    def __init__(
        self,
        name: str,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | None = None,
        *,
        warmup: int = 0,
        warmup_lr: float = 0.01,
        compile: bool = False,
        **config: Any,
    ) -> None:
        from amalg.core.registry import get_registry

        takes_lr = "lr" in get_registry().get("teacher", name).config_class.model_fields
        values = {**config, **({"lr": lr} if lr is not None and takes_lr else {})}
        rule = get_registry().create("teacher", name, **values)
        if not isinstance(rule, TeacherRule):  # pragma: no cover - the registry checks kinds
            raise OptimizerUsageError(f"{name!r} is not a teacher")
        # No learning rate of its own: a given lr scales its step.
        group_lr = None if takes_lr else lr
        super().__init__(
            params, rule, lr=group_lr, warmup=warmup, warmup_lr=warmup_lr, compile=compile
        )
