"""A finished run's student as a portable optimizer file (``amalg export``).

The card records how the student was trained, from the run's resolved config and result:
the task and its config, each teacher with the learning rate it had on that task (tuned or
set), the scheme, estimator, perturbation, strategy and seed, the checkpoint the run selected,
and the student's best validation loss on each task of the run's final comparison.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import amalg
from amalg.core.optimizer_file import (
    SUFFIX,
    OptimizerCard,
    OptimizerFileError,
    TeacherRecord,
    TrainingRecord,
    write_optimizer_file,
)
from amalg.core.run_folder import RunFolder, RunFolderError, read_saved_optimizer

__all__ = ["export_run", "run_card"]


def _name_of(choice: Any) -> str | None:
    return choice.get("name") if isinstance(choice, dict) else None


def run_card(path: str | os.PathLike[str], name: str | None = None, description: str = "") -> (
    tuple[OptimizerCard, dict[str, Any]]
):  # fmt: skip
    """The card and weights of the finished run in ``path``; :class:`RunFolderError` when it
    holds no finished run."""
    folder = RunFolder(path)
    if not folder.holds_run():
        raise RunFolderError(f"{path} holds no run: give a run folder of `amalg run`")
    finished = folder.read_result()
    if finished is None:
        raise RunFolderError(
            f"the run in {path} is unfinished: finish it with `amalg run --out {path} --resume`"
        )
    tasks, checkpoint = finished
    student, config, weights = read_saved_optimizer(folder.path)
    values = folder.read_config()
    try:
        task = values["task"]
        task_name = task["name"]
        rates = values.get("tuning", {}).get("learning_rates", {}).get(task_name, {})
        teachers = [
            TeacherRecord(
                name=teacher["name"],
                label=teacher.get("label"),
                lr=(rates.get(teacher.get("label") or teacher["name"]) or {}).get(
                    "lr", teacher.get("config", {}).get("lr")
                ),
                config=teacher.get("config", {}),
            )
            for teacher in values.get("teachers", [])
        ]
        training = TrainingRecord(
            run=values["name"],
            task=task_name,
            task_config=task.get("config", {}),
            teachers=teachers,
            scheme=values["scheme"]["name"],
            estimator=values["estimator"]["name"],
            perturbation=_name_of(values.get("perturbation")),
            strategy=values["strategy"]["name"],
            seed=values["seed"],
            checkpoint=checkpoint,
            validation={
                table.task: row.best_validation_loss
                if math.isfinite(row.best_validation_loss)
                else None
                for table in tasks
                for row in table.rows
                if row.role == "student"
            },
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise RunFolderError(
            f"the run config in {path} is damaged or another version's ({error})"
        ) from None
    card = OptimizerCard(
        amalg_version=amalg.__version__,
        name=name or training.run,
        description=description,
        student=student,
        config=config,
        training=training,
    )
    return card, weights


def export_run(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    name: str | None = None,
    description: str = "",
) -> Path:
    """Write the student of the finished run in ``path`` to ``out``: a ``.safetensors`` file,
    or a folder (``NAME.safetensors`` inside it, NAME the run's name or ``name``); the file
    written."""
    if name is not None and (not name or name.startswith(".") or any(c in name for c in "/\\")):
        raise OptimizerFileError(
            f"--name {name!r} must be a plain file name (no folders, not starting with a dot)"
        )
    card, weights = run_card(path, name, description)
    target = Path(out)
    if target.suffix != SUFFIX:
        if target.exists() and not target.is_dir():
            raise OptimizerFileError(
                f"{target} is a file that is not {SUFFIX}: give a NAME{SUFFIX} file or a folder"
            )
        target = target / f"{card.name}{SUFFIX}"
    return write_optimizer_file(target, card, weights)
