"""Building a run's components from its config, every default filled in, every problem
found before any work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import torch

from amalg.core.component import Component
from amalg.core.device import on_device, resolve_device
from amalg.core.errors import ConfigError
from amalg.core.interfaces import (
    AmalgamationScheme,
    MetaGradientEstimator,
    Perturbation,
    Strategy,
    Student,
    Task,
    Teacher,
)
from amalg.core.registry import Registry, get_registry
from amalg.core.runconfig import RUN_KINDS, RunSettings, validate_run_config
from amalg.core.training.budget import check_budget

__all__ = ["Components", "build_run"]


@dataclass
class Components:
    """A run's components by kind, each under its key (label or name), in config order."""

    by_kind: dict[str, dict[str, Component[Any]]] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    """Where the run computes (its task's tensors and its student's phi live there)."""

    def of(self, kind: str) -> dict[str, Component[Any]]:
        """The components of ``kind`` by key (empty when the run has none)."""
        return self.by_kind.get(kind, {})

    def _one(self, kind: str) -> Component[Any]:
        (component,) = self.of(kind).values()
        return component

    @property
    def task(self) -> Task:
        return cast(Task, self._one("task"))

    @property
    def student(self) -> Student:
        return cast(Student, self._one("student"))

    @property
    def teachers(self) -> list[Teacher]:
        return [cast(Teacher, teacher) for teacher in self.of("teacher").values()]

    @property
    def teacher_labels(self) -> list[str]:
        return list(self.of("teacher"))

    @property
    def scheme(self) -> AmalgamationScheme:
        return cast(AmalgamationScheme, self._one("scheme"))

    @property
    def strategy(self) -> Strategy:
        return cast(Strategy, self._one("strategy"))

    @property
    def estimator(self) -> MetaGradientEstimator:
        return cast(MetaGradientEstimator, self._one("estimator"))

    @property
    def perturbation(self) -> Perturbation | None:
        found = self.of("perturbation")
        return cast(Perturbation, next(iter(found.values()))) if found else None


def build_run(
    values: dict[str, Any], registry: Registry | None = None, device: str = "cpu"
) -> tuple[RunSettings, Components]:
    """Validate a run config, build its components on ``device`` and fill in every default.

    Raises before any work: unknown components (with close matches), bad values (naming the
    field), a component given twice under one key, a number of teachers the scheme does not
    take, a run that cannot fit in memory, a dataset that is not there, a device that is not
    there.
    """
    registry = registry or get_registry()
    config = validate_run_config(values)
    components = Components(device=resolve_device(device))
    resolved = config.model_dump(mode="json")
    for row in RUN_KINDS:
        choices = config.choices(row.kind)
        keys = [choice.key for choice in choices]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ConfigError(
                "the run",
                [
                    (
                        row.field,
                        f"{', '.join(repeated)} given twice; tell the uses apart with labels "
                        f"({row.option} NAME:LABEL)",
                    )
                ],
            )
        if row.many and "student" in keys:
            raise ConfigError(
                "the run",
                [(row.field, f"'student' names the student's files; give this {row.kind} "
                  f"another label ({row.option} NAME:LABEL)")],
            )  # fmt: skip
        built = {
            choice.key: registry.create(row.kind, choice.name, **choice.config)
            for choice in choices
        }
        components.by_kind[row.kind] = built
        dumped = [component.config.model_dump(mode="json") for component in built.values()]
        if row.many:
            for entry, settings in zip(resolved[row.field], dumped, strict=True):
                entry["config"] = settings
        elif dumped:
            resolved[row.field]["config"] = dumped[0]
    task = components.by_kind["task"]
    task.update(
        {key: on_device(cast(Task, value), components.device) for key, value in task.items()}
    )
    components.student.to(components.device)
    components.scheme.check_teacher_count(len(components.teachers))
    check_budget(config, components)
    # Reading one batch now makes a dataset that is not there fail before any work.
    components.task.batch_at("train", 0, 0)
    for name in config.evaluation.tasks:
        cast(Task, registry.create("task", name)).batch_at("train", 0, 0)
    return validate_run_config(resolved), components
