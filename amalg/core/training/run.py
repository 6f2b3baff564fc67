"""A whole run: meta-training (after the policy phase for a scheme that asks for one), then
the comparison of the trained student with its teachers.

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
from typing import Any, cast

from amalg.core.analysis.comparison import Contender, TaskComparison, compare
from amalg.core.analysis.evaluation import Curves
from amalg.core.device import on_device
from amalg.core.functional import Params
from amalg.core.interfaces import Task, Teacher
from amalg.core.registry import Registry, get_registry
from amalg.core.run_folder import RunFolder
from amalg.core.runconfig import RunSettings
from amalg.core.seeds import derive_seed
from amalg.core.training.build import Components
from amalg.core.training.events import (
    EvaluationAdvanced,
    EvaluationStarted,
    EventSink,
    PhaseStarted,
    RunFinished,
)
from amalg.core.training.policy import train_policy, with_policy
from amalg.core.training.trainer import Trainer
from amalg.core.training.workers import SOLO, Workers
from amalg.core.warm_start import warm_start

__all__ = ["RunResult", "evaluate_run", "execute"]


@dataclass(frozen=True)
class RunResult:
    """The trained student against each teacher, on each task of the comparison."""

    tasks: tuple[TaskComparison, ...]
    """The meta-training task first, then the held-out ones."""
    checkpoint: str
    """The checkpoint whose student was evaluated (the last stage's best)."""
    folder: Path


def execute(
    config: RunSettings,
    components: Components,
    folder: RunFolder,
    resume: bool = False,
    on_event: EventSink = lambda event: None,
    registry: Registry | None = None,
    workers: Workers = SOLO,
) -> RunResult | None:
    """Meta-train the run's student into ``folder`` (continuing its last checkpoint when
    ``resume``), save it, and compare it with its teachers. A folder whose run is finished
    keeps its result: it is returned, nothing is redone. Claim the folder first
    (:meth:`RunFolder.claim`): it holds the rules for which folder may take which run.

    With ``workers`` (a distributed run) every worker calls it: they share meta-training,
    worker 0 alone writes, reports ``on_event`` and evaluates; the others return None."""
    if not workers.main:
        on_event = _silent
    done = folder.read_result()
    if done is not None:
        workers.finish()
        tasks, checkpoint = done
        result = RunResult(tasks=tuple(tasks), checkpoint=checkpoint, folder=folder.path)
        return result if workers.main else None
    training = components
    phase = components.scheme.policy_phase()
    if phase is not None:
        policy = train_policy(
            config, phase, folder, resume, on_event, registry, workers, components.device
        )
        training = with_policy(components, phase, policy)
        student = config.choice("student").name
        on_event(PhaseStarted(2, 2, f"distilling the {student} student from the policy"))
    trainer = Trainer(config, training, folder, on_event, workers)
    checkpoint = trainer.train(resume=resume)
    workers.finish()  # what they share ends here: worker 0 evaluates alone
    if not workers.main:
        return None
    return evaluate_run(config, components, folder, checkpoint, on_event, registry)


def _silent(event: object) -> None:
    """The event sink of a worker other than 0."""


def evaluate_run(
    config: RunSettings,
    components: Components,
    folder: RunFolder,
    checkpoint: str,
    on_event: EventSink = lambda event: None,
    registry: Registry | None = None,
) -> RunResult:
    """Save the student (holding ``checkpoint``'s phi) and compare it with the teachers on
    the meta-training task and each held-out task (``evaluation.tasks``), from the run's warm
    starts on fresh evaluation seeds, each teacher at its learning rate for that task
    (``tuning.learning_rates``); writes the curves, the tables and, last, the result that
    marks the run finished."""
    registry = registry or get_registry()
    student = components.student
    choice = config.choice("student")
    folder.save_optimizer(choice.name, choice.config, dict(student.state_dict()))
    evaluation, engine = config.evaluation, config.engine
    seeds = [derive_seed(config.seed, "evaluation", i) for i in range(evaluation.seeds)]
    main = config.choice("task").name
    tasks: list[tuple[str, Task[Any]]] = [(main, components.task)]
    tasks += [
        (name, on_device(cast(Task[Any], registry.create("task", name)), components.device))
        for name in evaluation.tasks
        if name != main
    ]
    teachers = config.choices("teacher")
    total = len(tasks) * (1 + len(teachers)) * len(seeds) * evaluation.horizon
    on_event(EvaluationStarted(total=total))
    results = []
    for name, task in tasks:
        learning_rates = config.tuning.learning_rates.get(name, {})
        contenders = [Contender(choice.name, "student", student)]
        for teacher, built in zip(teachers, components.teachers, strict=True):
            record = learning_rates.get(teacher.key)
            if name != main and record is not None:
                built = cast(
                    Teacher[Any],
                    registry.create("teacher", teacher.name, **{**teacher.config, "lr": record.lr}),
                )
            contenders.append(Contender(teacher.key, "teacher", built))
        every = evaluation.every or getattr(task, "batches_per_epoch", lambda split: 10)("train")

        def save(contender: Contender, curves: Curves, task_name: str = name) -> None:
            label = "student" if contender.role == "student" else contender.label
            folder.write_curves(task_name, checkpoint, label, curves.arrays())

        def start(seed: int, task: Task[Any] = task) -> tuple[Params, int]:
            return warm_start(task, seed, engine.warmup_steps, engine.warmup_lr)

        rows = compare(
            task, contenders, start, seeds, evaluation.horizon, every,
            on_curves=save, on_step=lambda: on_event(EvaluationAdvanced()),
        )  # fmt: skip
        results.append(TaskComparison(name, tuple(rows)))
    folder.write_comparison(results)
    folder.write_result(results, checkpoint)
    result = RunResult(tasks=tuple(results), checkpoint=checkpoint, folder=folder.path)
    on_event(RunFinished(tasks=result.tasks, checkpoint=checkpoint))
    return result
