"""Tuned teachers: each teacher of a run gets, on each task the run trains or evaluates on, the
learning rate the grid search chose for it there (Huang et al. 2022, Section 5: teachers are
compared and distilled at their tuned learning rates).

:func:`tune_teachers` fills a run config in before it is built: per task (the meta-training
task, then the held-out ones of ``evaluation.tasks``) and per teacher, the learning rate and
where it came from go to ``tuning.learning_rates``, and the meta-training task's into the
teacher's config. A stored tuning is reused; a missing one is run and stored first. A
learning rate set in the config (``--set teacher.adam.lr=0.01``) is used as it is, on every
task, and ``tuning.enabled=false`` (``--no-tune``) keeps each teacher's default.

Applied twice, the function gives the same config: a config.json re-run with ``--config``, or
a run resumed with its original flags, resolves to exactly the config it was saved with.
"""

from __future__ import annotations

import copy
from typing import Any, cast

from amalg.core.analysis.tuning import TuningStore, request_for, run_tuning
from amalg.core.interfaces import Task
from amalg.core.registry import Registry, get_registry
from amalg.core.runconfig import validate_run_config
from amalg.core.training.events import (
    EventSink,
    TuningAdvanced,
    TuningFinished,
    TuningStarted,
)

__all__ = ["TUNED", "tune_teachers"]

TUNED = "tuned: "
"""The prefix of the source of a tuned learning rate (the stored tuning's key follows)."""


def tune_teachers(
    values: dict[str, Any],
    registry: Registry | None = None,
    store: TuningStore | None = None,
    on_event: EventSink = lambda event: None,
) -> dict[str, Any]:
    """``values`` with every teacher's learning rate resolved on every task of the run."""
    registry = registry or get_registry()
    store = store or TuningStore()
    config = validate_run_config(values)
    if not config.choices("teacher"):
        return values
    result = copy.deepcopy(values)
    settings = config.tuning
    horizon = settings.horizon or config.evaluation.horizon
    main = config.choice("task")
    tasks = [(main.name, main.config), *((name, {}) for name in config.evaluation.tasks)]
    recorded = {task: dict(rows) for task, rows in settings.learning_rates.items()}
    records: dict[str, dict[str, dict[str, Any]]] = {}
    for task_name, task_config in tasks:
        if task_name in records:
            continue
        task = cast(Task[Any], registry.create("task", task_name, **task_config))
        rows: dict[str, dict[str, Any]] = {}
        for index, choice in enumerate(config.choices("teacher")):
            before = recorded.get(task_name, {}).get(choice.key)
            main_record = recorded.get(main.name, {}).get(choice.key)
            user_set = "lr" in choice.config and not (
                main_record is not None
                and main_record.source.startswith(TUNED)
                and main_record.lr == choice.config["lr"]
            )
            info = registry.get("teacher", choice.name)
            if user_set:
                lr = float(choice.config["lr"])
                source = before.source if before and before.lr == lr else "set in the run config"
            elif not settings.enabled or "lr" not in info.config_class.model_fields:
                default = info.config_class.model_validate(
                    {k: v for k, v in choice.config.items() if k != "lr"}
                )
                lr = float(getattr(default, "lr", float("nan")))
                reason = "--no-tune" if settings.enabled is False else "the teacher has no lr"
                source = f"the teacher's default, not tuned ({reason})"
            else:
                request = request_for(
                    task, choice.name, choice.config, horizon, settings.seeds,
                    tuple(settings.grid), config.engine.warmup_steps, config.engine.warmup_lr,
                    registry,
                )  # fmt: skip
                tuning = store.find(request)
                reused = tuning is not None
                if tuning is None:
                    on_event(
                        TuningStarted(
                            task=task_name, teacher=choice.key,
                            total=len(request.grid) * request.seeds * request.horizon,
                        )
                    )  # fmt: skip
                    tuning = run_tuning(request, task, registry, lambda: on_event(TuningAdvanced()))
                    store.save(tuning)
                lr = tuning.best_lr
                source = TUNED + request.key + (" (on the grid's edge)" if tuning.on_edge else "")
                on_event(TuningFinished(task_name, choice.key, lr, reused, tuning.on_edge))
            if lr == lr:  # a teacher without lr records nothing to set
                rows[choice.key] = {"lr": lr, "source": source}
                if task_name == main.name:
                    result["teachers"][index].setdefault("config", {})["lr"] = lr
        records[task_name] = rows
    result.setdefault("tuning", {})["learning_rates"] = records
    return result
