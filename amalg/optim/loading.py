"""Where an optimizer comes from: a run folder, an optimizer file, a pretrained name, or a
teacher's name."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch import Tensor

from amalg.core.errors import close_matches
from amalg.core.interfaces import Student
from amalg.core.interfaces import Teacher as TeacherRule
from amalg.core.optimizer_file import (
    SUFFIX,
    OptimizerCard,
    OptimizerFileError,
    load_file_student,
    pretrained_files,
    read_card,
)
from amalg.optim.optimizer import OptimizerUsageError, RuleOptimizer

__all__ = ["LearnedOptimizer", "Teacher", "load", "pretrained", "resolve_student"]


def pretrained() -> dict[str, OptimizerCard]:
    """The cards of the optimizers shipped with amalg, by the name :func:`load` takes."""
    return {name: read_card(path) for name, path in sorted(pretrained_files().items())}


def resolve_student(source: str | os.PathLike[str]) -> tuple[Student, OptimizerCard | None]:
    """The trained student ``source`` names, and its card when it has one: a run folder (or
    its ``optimizer/`` folder), an optimizer file (``.safetensors``), or the name of a
    pretrained optimizer (``amalg list pretrained``)."""
    from amalg.core.export import run_card
    from amalg.core.run_folder import RunFolder, load_student

    path = Path(source)
    if path.is_file() or path.suffix == SUFFIX:
        return load_file_student(path)
    if path.is_dir():
        student = load_student(path)
        folder = RunFolder(path)
        card = run_card(path)[0] if folder.holds_run() and folder.read_result() else None
        return student, card
    files = pretrained_files()
    if str(source) in files:
        return load_file_student(files[str(source)])
    names = sorted(files)
    hint = close_matches(str(source), names)
    raise OptimizerFileError(
        f"{str(source)!r} is no run folder, optimizer file or pretrained optimizer"
        + (f" (did you mean {', '.join(hint)}?)" if hint else "")
        + f"; pretrained: {', '.join(names) or 'none installed'}"
    )


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
    ) -> None:
        super().__init__(params, student, lr=lr, warmup=warmup, warmup_lr=warmup_lr)
        self.card = card


def load(
    source: str | os.PathLike[str],
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    *,
    lr: float = 1.0,
    warmup: int = 100,
    warmup_lr: float = 0.01,
) -> LearnedOptimizer:
    """The trained student ``source`` names (see :func:`resolve_student`) as a
    ``torch.optim.Optimizer`` over ``params``.

    ``lr`` scales the learned step (a param group's ``lr`` too, so LR schedulers work). The
    first ``warmup`` steps are SGD at ``warmup_lr``, the warm start the student was
    meta-trained and evaluated after (Huang et al. 2022, Appendix C.3); 0 turns it off.
    """
    student, card = resolve_student(source)
    student.eval()
    return LearnedOptimizer(params, student, card, lr=lr, warmup=warmup, warmup_lr=warmup_lr)


class Teacher(RuleOptimizer):
    """An amalg teacher as a ``torch.optim.Optimizer``:
    ``amalg.optim.Teacher("addsign", model.parameters(), lr=0.1)``.

    ``lr`` is the teacher's learning rate (its default when not given); other keywords are
    its config fields (``amalg show teacher NAME``). No warmup by default, unlike a learned
    optimizer (``warmup=100`` reproduces evaluation's warm start)."""

    def __init__(
        self,
        name: str,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | None = None,
        *,
        warmup: int = 0,
        warmup_lr: float = 0.01,
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
        super().__init__(params, rule, lr=group_lr, warmup=warmup, warmup_lr=warmup_lr)
