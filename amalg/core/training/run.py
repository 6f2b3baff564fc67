"""A whole run: meta-training, then the comparison of the trained student with its teachers.

:func:`execute` is what ``amalg run`` calls after claiming the folder; the Python API uses
the same steps and the same rules (a folder holding another run is refused, a finished run
is not redone)::

    config, components = build_run(values)
    folder = RunFolder("results/my-run")
    claim = folder.claim(config.model_dump(mode="json"), resume=True)  # or resume=False
    result = execute(config, components, folder, resume=claim is not Claim.NEW)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amalg.core.analysis.comparison import ComparisonRow, Contender, compare
from amalg.core.analysis.evaluation import Curves
from amalg.core.engine import UnrollEngine
from amalg.core.run_folder import RunFolder
from amalg.core.runconfig import RunSettings
from amalg.core.seeds import derive_seed
from amalg.core.training.build import Components
from amalg.core.training.events import (
    EvaluationAdvanced,
    EvaluationStarted,
    EventSink,
    RunFinished,
)
from amalg.core.training.trainer import Trainer

__all__ = ["RunResult", "evaluate_run", "execute"]


@dataclass(frozen=True)
class RunResult:
    """The trained student against each teacher."""

    rows: tuple[ComparisonRow, ...]
    checkpoint: str
    """The checkpoint whose student was evaluated (the last stage's best)."""
    folder: Path


def execute(
    config: RunSettings,
    components: Components,
    folder: RunFolder,
    resume: bool = False,
    on_event: EventSink = lambda event: None,
) -> RunResult:
    """Meta-train the run's student into ``folder`` (continuing its last checkpoint when
    ``resume``), save it, and compare it with its teachers. A folder whose run is finished
    keeps its result: it is returned, nothing is redone. Claim the folder first
    (:meth:`RunFolder.claim`): it holds the rules for which folder may take which run."""
    done = folder.read_result()
    if done is not None:
        rows, checkpoint = done
        return RunResult(rows=tuple(rows), checkpoint=checkpoint, folder=folder.path)
    trainer = Trainer(config, components, folder, on_event)
    checkpoint = trainer.train(resume=resume)
    return evaluate_run(config, components, folder, checkpoint, trainer.engine, on_event)


def evaluate_run(
    config: RunSettings,
    components: Components,
    folder: RunFolder,
    checkpoint: str,
    engine: UnrollEngine,
    on_event: EventSink = lambda event: None,
) -> RunResult:
    """Save the student (holding ``checkpoint``'s phi) and compare it with the teachers
    from the run's warm starts on fresh evaluation seeds; writes the curves, the table and,
    last, the result that marks the run finished."""
    student = components.student
    choice = config.choice("student")
    folder.save_optimizer(choice.name, choice.config, dict(student.state_dict()))
    task, evaluation = components.task, config.evaluation
    every = evaluation.every or getattr(task, "batches_per_epoch", lambda split: 10)("train")
    seeds = [derive_seed(config.seed, "evaluation", i) for i in range(evaluation.seeds)]
    contenders = [Contender(choice.name, "student", student)] + [
        Contender(label, "teacher", teacher)
        for label, teacher in zip(components.teacher_labels, components.teachers, strict=True)
    ]
    on_event(EvaluationStarted(total=len(contenders) * len(seeds) * evaluation.horizon))
    task_name = config.choice("task").name

    def save(contender: Contender, curves: Curves) -> None:
        label = "student" if contender.role == "student" else contender.label
        folder.write_curves(task_name, checkpoint, label, curves.arrays())

    rows = compare(
        task,
        contenders,
        engine.warm_start,
        seeds,
        evaluation.horizon,
        every,
        on_curves=save,
        on_step=lambda: on_event(EvaluationAdvanced()),
    )
    folder.write_comparison(rows)
    folder.write_result(rows, checkpoint)
    result = RunResult(rows=tuple(rows), checkpoint=checkpoint, folder=folder.path)
    on_event(RunFinished(rows=result.rows, checkpoint=checkpoint))
    return result
