"""Meta-training: the strategy's periods of trajectories, the estimator's meta-gradients,
validation, checkpoints, and the final student/teacher evaluation.

Everything random is drawn from generators seeded by ``(seed, purpose, counter)``, never from
a running global state, so the same config and seed give the same numbers, and a run
resumed from a checkpoint (written at every period's end) continues exactly as if it had
never stopped.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from amalg.core.engine import UnrollEngine, is_finite
from amalg.core.errors import AmalgError, ConfigError
from amalg.core.evaluation import Curves, evaluate
from amalg.core.experiment import ExperimentError, ExperimentFolder
from amalg.core.interfaces import (
    AmalgamationScheme,
    MetaGradientEstimator,
    Strategy,
    Student,
    Task,
    Teacher,
)
from amalg.core.registry import Registry, get_registry
from amalg.core.runconfig import RunConfig, validate_run_config

__all__ = ["Components", "Event", "RunResult", "Trainer", "derive_seed", "resolve"]

_PURPOSES = {"student": 0, "train": 1, "validation": 2, "evaluation": 3, "estimator": 4}


def derive_seed(seed: int, purpose: str, *counters: int) -> int:
    """A seed for one random choice of a run, independent of every other one."""
    entropy = (seed, _PURPOSES[purpose], *counters)
    return int(np.random.SeedSequence(entropy).generate_state(1)[0]) % (2**62)


@dataclass
class Components:
    """The run's components, built from its config."""

    task: Task
    student: Student
    teachers: list[Teacher]
    scheme: AmalgamationScheme
    strategy: Strategy
    estimator: MetaGradientEstimator


def resolve(
    values: dict[str, Any], registry: Registry | None = None
) -> tuple[RunConfig, Components]:
    """Validate a run config, build its components and fill in every default.

    Raises before any work: unknown components (with close matches), bad values (naming the
    field), a number of teachers the scheme does not take, a teacher given twice.
    """
    registry = registry or get_registry()
    config = validate_run_config(values)

    def build(kind: str, choice: Any) -> Any:
        return registry.create(kind, choice.name, **choice.config)

    names = [choice.name for choice in config.teachers]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError("the run", [("teachers", f"{', '.join(repeated)} given twice")])
    components = Components(
        task=build("task", config.task),
        student=build("student", config.student),
        teachers=[build("teacher", choice) for choice in config.teachers],
        scheme=build("scheme", config.scheme),
        strategy=build("strategy", config.strategy),
        estimator=build("estimator", config.estimator),
    )
    components.scheme.check_teacher_count(len(components.teachers))
    # Reading one batch now makes a dataset that is not there fail before any work.
    components.task.batch_at("train", 0, 0)
    resolved = config.model_dump(mode="json")
    for kind in ("task", "student", "scheme", "strategy", "estimator"):
        resolved[kind]["config"] = getattr(components, kind).config.model_dump(mode="json")
    for choice, teacher in zip(resolved["teachers"], components.teachers, strict=True):
        choice["config"] = teacher.config.model_dump(mode="json")
    return validate_run_config(resolved), components


@dataclass(frozen=True)
class Event:
    """Something the trainer reports (the CLI turns these into progress and tables)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """The evaluation of the trained student against each teacher."""

    rows: list[dict[str, Any]]
    checkpoint: str
    folder: str


class Trainer:
    """Runs one meta-training run into an experiment folder."""

    def __init__(
        self,
        config: RunConfig,
        components: Components,
        folder: ExperimentFolder,
        on_event: Callable[[Event], None] = lambda event: None,
    ) -> None:
        self.config = config
        self.parts = components
        self.folder = folder
        self.emit = on_event
        targets = components.scheme.targets(components.teachers, self._no_policy_training)
        self.target_names = [getattr(target, "name", type(target).__name__) for target in targets]
        self.engine = UnrollEngine(
            components.task,
            components.student,
            targets,
            self.target_names,
            components.scheme,
            config.engine,
        )
        self.meta_optimizer = torch.optim.Adam(
            components.student.parameters(), lr=config.meta_optimizer.lr
        )

    @staticmethod
    def _no_policy_training(policy: Student, teachers: Any) -> Student:
        raise AmalgError("this run has no policy-training phase (no scheme here asks for one)")

    # -- state -----------------------------------------------------------------------------

    def _fresh(self) -> dict[str, Any]:
        student = self.parts.student
        student.reset_parameters(
            torch.Generator().manual_seed(derive_seed(self.config.seed, "student"))
        )
        return {
            "strategy": self.parts.strategy.start(),
            "trajectories": 0,
            "nonfinite": 0,
            "rows": [],
            "best": {},
        }

    def _snapshot(
        self, progress: dict[str, Any], own: dict[str, Any], own_optimizer: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "phi": own,
            "period_meta_optimizer": own_optimizer,
            "continue_phi": {
                k: v.detach().clone() for k, v in self.parts.student.state_dict().items()
            },
            "meta_optimizer": copy.deepcopy(self.meta_optimizer.state_dict()),
            **progress,
        }

    def _restore(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        self.parts.student.load_state_dict(checkpoint["continue_phi"])
        self.meta_optimizer.load_state_dict(checkpoint["meta_optimizer"])
        keys = ("strategy", "trajectories", "nonfinite", "rows", "best")
        progress = {key: checkpoint[key] for key in keys}
        # A stop after a later period's files but before its checkpoint: back to this one.
        self.folder.write_csv("summary.csv", progress["rows"])
        return progress

    # -- the run ---------------------------------------------------------------------------

    def run(self, resume: bool = False) -> RunResult:
        latest = self.folder.latest_checkpoint() if resume else None
        progress = self._restore(self.folder.load_checkpoint(latest)) if latest else self._fresh()
        self.emit(Event("start", {"resumed_from": latest, "teachers": self.target_names}))
        strategy = self.parts.strategy
        while (period := strategy.next_period(progress["strategy"])) is not None:
            progress = self._period(period, progress)
        checkpoint = self._final_checkpoint(progress)
        return self._evaluate(checkpoint)

    def _period(self, period: Any, progress: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        student = self.parts.student
        meta_losses: list[float] = []
        imitation: list[list[float]] = []
        nonfinite = progress["nonfinite"]
        for trajectory in range(period.trajectories):
            counter = progress["trajectories"] + trajectory
            seed = derive_seed(self.config.seed, "train", counter)
            start = self.engine.start(seed)
            phi = dict(student.named_parameters())
            generator = torch.Generator().manual_seed(
                derive_seed(self.config.seed, "estimator", counter)
            )
            state = self.parts.estimator.init(phi, start, generator)
            for _ in range(period.unroll // period.truncation):
                truncation = self.engine.truncation(period.truncation, period.alpha)
                estimate = self.parts.estimator.estimate(
                    dict(student.named_parameters()), truncation, state, generator
                )
                if not (bool(estimate.logs.get("finite", True)) and is_finite(estimate.grads)):
                    nonfinite += 1
                    self.emit(Event("nonfinite", {"stage": period.stage, "period": period.period}))
                    break  # discard this truncation and the rest of the trajectory
                if not self._meta_step(estimate.grads):
                    nonfinite += 1
                    self.emit(Event("nonfinite", {"stage": period.stage, "period": period.period}))
                    break
                state = estimate.state
                meta_losses.append(float(estimate.logs.get("meta_loss", estimate.objective)))
                imitation.append([float(x) for x in estimate.logs.get("imitation", [])])
            self.emit(
                Event(
                    "trajectory",
                    {
                        "stage": period.stage,
                        "period": period.period,
                        "trajectory": trajectory + 1,
                        "trajectories": period.trajectories,
                        "unroll": period.unroll,
                        "meta_loss": meta_losses[-1] if meta_losses else math.nan,
                        "imitation": dict(zip(self.target_names, imitation[-1], strict=True))
                        if imitation
                        else {},
                    },
                )
            )
        validation = self.engine.validate(
            dict(student.named_parameters()),
            [
                derive_seed(self.config.seed, "validation", i)
                for i in range(period.validation_trajectories)
            ],
            period.validation_unroll,
        )
        new_state, decision = self.parts.strategy.record(progress["strategy"], period, validation)
        name = f"stage_{period.stage}.{period.period}"
        best = dict(progress["best"])
        if decision.new_best:
            best[str(period.stage)] = name
        row: dict[str, Any] = {
            "stage": period.stage,
            "period": period.period,
            "unroll": period.unroll,
            "truncation": period.truncation,
            "trajectories": period.trajectories,
            "alpha": period.alpha,
            "meta_loss": float(np.mean(meta_losses)) if meta_losses else math.nan,
        }
        means = np.mean(imitation, axis=0) if imitation else [math.nan] * len(self.target_names)
        for target, value in zip(self.target_names, means, strict=True):
            row[f"imitation_{target}"] = float(value)
        row.update(
            {"validation": validation, "new_best": decision.new_best, "nonfinite": nonfinite}
        )
        rows = [*progress["rows"], row]
        own = {k: v.detach().clone() for k, v in student.state_dict().items()}
        own_optimizer = copy.deepcopy(self.meta_optimizer.state_dict())
        if decision.reload_best:
            self._reload(best[str(period.stage)], name)
        progress = {
            "strategy": new_state,
            "trajectories": progress["trajectories"] + period.trajectories,
            "nonfinite": nonfinite,
            "rows": rows,
            "best": best,
        }
        # The checkpoint goes last: it is what a resume continues from, so everything the
        # period wrote must be on disk before it.
        self.folder.write_csv("summary.csv", rows)
        self.folder.write_npz(
            f"log/{name}.npz",
            {
                "meta_loss": np.asarray(meta_losses, dtype=float),
                "imitation": np.asarray(imitation, dtype=float).reshape(-1, len(self.target_names)),
                "teachers": np.asarray(self.target_names),
            },
        )
        self.folder.save_checkpoint(name, self._snapshot(progress, own, own_optimizer))
        self._timing(name, time.perf_counter() - started)
        self.emit(Event("period", {**row, "checkpoint": name, "reloaded": decision.reload_best}))
        return progress

    def _meta_step(self, grads: dict[str, torch.Tensor]) -> bool:
        """Apply one meta-gradient; False (and phi restored) if phi would become non-finite."""
        student = self.parts.student
        before = {k: v.detach().clone() for k, v in student.state_dict().items()}
        optimizer_state = copy.deepcopy(self.meta_optimizer.state_dict())
        for name, parameter in student.named_parameters():
            parameter.grad = grads[name].detach().clone()
        torch.nn.utils.clip_grad_norm_(student.parameters(), self.config.meta_optimizer.clip_norm)
        self.meta_optimizer.step()
        self.meta_optimizer.zero_grad(set_to_none=True)
        if is_finite(dict(student.named_parameters())):
            return True
        student.load_state_dict(before)
        self.meta_optimizer.load_state_dict(optimizer_state)
        return False

    def _reload(self, best: str, current: str) -> None:
        """Back to the stage's best period: its phi and its meta-optimizer moments."""
        if best == current:
            return
        checkpoint = self.folder.load_checkpoint(best)
        self.parts.student.load_state_dict(checkpoint["phi"])
        self.meta_optimizer.load_state_dict(checkpoint["period_meta_optimizer"])

    def _timing(self, name: str, seconds: float) -> None:
        # A period redone after a resume replaces its old row.
        rows = [row for row in self.folder.read_csv("timing.csv") if row["checkpoint"] != name]
        rows.append({"checkpoint": name, "seconds": f"{seconds:.3f}"})
        self.folder.write_csv("timing.csv", rows)

    def _final_checkpoint(self, progress: dict[str, Any]) -> str:
        if not progress["rows"]:
            raise ExperimentError("the strategy ran no period: nothing was trained")
        last_stage = str(progress["rows"][-1]["stage"])
        return progress["best"].get(
            last_stage, f"stage_{last_stage}.{progress['rows'][-1]['period']}"
        )

    # -- evaluation ------------------------------------------------------------------------

    def _evaluate(self, checkpoint: str) -> RunResult:
        student = self.parts.student
        self.folder.save_optimizer(
            self.config.student.name, self.config.student.config, dict(student.state_dict())
        )
        task = self.parts.task
        evaluation = self.config.evaluation
        every = evaluation.every or getattr(task, "batches_per_epoch", lambda split: 10)("train")
        seeds = [derive_seed(self.config.seed, "evaluation", i) for i in range(evaluation.seeds)]
        optimizers: list[tuple[str, str, Any]] = [("student", self.config.student.name, student)]
        optimizers += [
            ("teacher", choice.name, teacher)
            for choice, teacher in zip(self.config.teachers, self.parts.teachers, strict=True)
        ]
        total = len(optimizers) * len(seeds) * evaluation.horizon
        self.emit(Event("evaluation", {"total": total}))
        rows = []
        for role, name, rule in optimizers:
            curves = evaluate(
                task,
                rule,
                self.engine.warm_start,
                seeds,
                evaluation.horizon,
                every,
                on_step=lambda: self.emit(Event("evaluation_step")),
            )
            label = "student" if role == "student" else name
            self.folder.write_npz(
                f"eval/{self.config.task.name}/{checkpoint}-{label}.npz", curves.arrays()
            )
            rows.append(_summary_row(role, name, curves))
        self.folder.write_csv("evaluation.csv", rows)
        result = RunResult(rows=rows, checkpoint=checkpoint, folder=str(self.folder.path))
        self.folder.write_result({"rows": rows, "checkpoint": checkpoint})
        self.emit(Event("done", {"rows": rows}))
        return result


def _summary_row(role: str, name: str, curves: Curves) -> dict[str, Any]:
    best, final = curves.best_validation_loss, curves.final_train_loss
    row: dict[str, Any] = {
        "optimizer": name,
        "role": role,
        "best_validation_loss": float(np.mean(best)),
        "best_validation_loss_std": float(np.std(best)),
        "final_train_loss": float(np.nanmean(final)) if np.isfinite(final).any() else math.inf,
        "final_train_loss_std": float(np.nanstd(final)) if np.isfinite(final).any() else math.nan,
        "test_loss_at_best_validation": float(np.mean(curves.test_loss_at_best_validation)),
    }
    if curves.validation_accuracy is not None:
        row["best_validation_accuracy"] = float(
            np.nanmean(np.nanmax(curves.validation_accuracy, axis=1))
        )
    return row
