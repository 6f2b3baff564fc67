"""The report: stored evaluations grouped into optimizers and summarised per task with the
statistics of Appendix D, relative to a reference (the oracle by default).

Evaluations of one *group* (the replicates of one meta-training configuration, or one
teacher) are pooled: each replicate contributes its repeats, and the mixed model gives the
mean with its 95% interval, meta-stability and evaluation stability. Relative values subtract
the reference's mean (Huang et al. 2022, Figures 1-2), the reference being the oracle, the
teacher group with the best mean log validation loss on that task, unless another is named.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from amalg.core.analysis.choice_shares import ChoiceShares, read_choice_shares
from amalg.core.analysis.evaluation import Curves
from amalg.core.analysis.evaluations import StoredEvaluation
from amalg.core.analysis.sources import Source
from amalg.core.analysis.statistics import (
    Estimate,
    best_log_validation_loss,
    final_log_training_loss,
    mixed_model,
    optimization_stability,
)
from amalg.core.errors import AmalgError

__all__ = ["GroupSummary", "Report", "ReportError", "TaskReport", "build_report", "select"]


class ReportError(AmalgError):
    """A report that cannot be made from what is stored."""


@dataclass(frozen=True)
class GroupSummary:
    """One optimizer (a group of replicates) on one task."""

    task: str
    group: str
    label: str
    """How this task's table names it (a tuned teacher with its learning rate here)."""
    series: str
    """How figures name it across tasks."""
    kind: str
    replicates: tuple[str, ...]
    best_validation: Estimate
    """Best log validation loss."""
    final_training: Estimate
    """Final log training loss."""
    stability: Estimate
    """Optimization stability."""
    curves: tuple[Curves, ...] = field(repr=False, compare=False)
    """Per replicate, for the figures."""

    def relative(self, reference: GroupSummary | None) -> dict[str, float]:
        """Best log validation and final log training loss minus the reference's means."""
        if reference is None:
            return {}
        base_val, base_train = reference.best_validation.mean, reference.final_training.mean
        return {
            "best_validation": self.best_validation.mean - base_val,
            "best_validation_low": self.best_validation.low - base_val,
            "best_validation_high": self.best_validation.high - base_val,
            "final_training": self.final_training.mean - base_train,
            "final_training_low": self.final_training.low - base_train,
            "final_training_high": self.final_training.high - base_train,
        }


@dataclass(frozen=True)
class TaskReport:
    task: str
    groups: tuple[GroupSummary, ...]
    reference: GroupSummary | None
    reference_is_oracle: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "reference": self.reference.label if self.reference else None,
            "reference_is_oracle": self.reference_is_oracle,
            "optimizers": [
                {
                    "group": group.group,
                    "label": group.label,
                    "kind": group.kind,
                    "replicates": list(group.replicates),
                    "best_log_validation_loss": group.best_validation.to_dict(),
                    "final_log_training_loss": group.final_training.to_dict(),
                    "optimization_stability": group.stability.to_dict(),
                    "relative_to_reference": group.relative(self.reference),
                }
                for group in self.groups
            ],
        }


@dataclass(frozen=True)
class Report:
    tasks: tuple[TaskReport, ...]
    perturbations: dict[str, float] = field(default_factory=dict)
    """Per run group, its perturbation magnitude (0: none), when the groups differ in it and
    in nothing else (Huang et al. 2022, Figure 6)."""
    choices: dict[str, tuple[ChoiceShares, ...]] = field(default_factory=dict)
    """Per run group with a choice policy, each replicate's teacher shares over training."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": [task.to_dict() for task in self.tasks],
            "perturbation_magnitudes": self.perturbations,
            "choice_shares": {
                group: [{"steps": list(c.steps), "shares": c.shares} for c in replicates]
                for group, replicates in self.choices.items()
            },
        }


def select(sources: Sequence[Source], stored: Sequence[StoredEvaluation]) -> list[StoredEvaluation]:
    """The stored evaluations of ``sources``, grouped as this version of amalg groups their
    sources (an evaluation stored by an older one keeps its numbers, not its grouping);
    :class:`ReportError` for a source with none."""
    chosen: list[StoredEvaluation] = []
    for source in sources:
        mine = [item for item in stored if _belongs(source, item)]
        if not mine:
            raise ReportError(
                f"no stored evaluation of {source.text!r}: run amalg evaluate {source.text} "
                "--task ... first (with the same --out)"
            )
        for item in mine:
            record = item.record.get("source", {})
            if source.kind != "teacher" and record.get("group") != source.group:
                record = {**record, "group": source.group}
                item = replace(item, record={**item.record, "source": record})
            if all(item.key != other.key or item.task != other.task for other in chosen):
                chosen.append(item)
    return chosen


def _belongs(source: Source, item: StoredEvaluation) -> bool:
    record = item.record.get("source", {})
    if source.kind == "teacher":
        if record.get("teacher") != source.teacher:
            return False
        if source.lr is None:
            return record.get("lr_source") == "tuned"
        return record.get("lr_source") == "given" and record.get("lr") == source.lr
    return item.key == source.key()


def _estimates(parts: list[tuple[str, Curves]]) -> tuple[Estimate, Estimate, Estimate]:
    return (
        mixed_model([best_log_validation_loss(curves).tolist() for _, curves in parts]),
        mixed_model([final_log_training_loss(curves).tolist() for _, curves in parts]),
        mixed_model([optimization_stability(curves.val_loss).tolist() for _, curves in parts]),
    )


def build_report(stored: Sequence[StoredEvaluation], reference: str | None = None) -> Report:
    """Per task, per group: the statistics; the reference named (a group or label), else
    the oracle."""
    tasks: dict[str, dict[str, list[StoredEvaluation]]] = {}
    for item in stored:
        record = item.record.get("source", {})
        tasks.setdefault(item.task, {}).setdefault(str(record.get("group", item.key)), []).append(
            item
        )
    reports = []
    for task, groups in tasks.items():
        settings = {
            json.dumps(i.record.get("settings"), sort_keys=True)
            for items in groups.values()
            for i in items
        }
        if len(settings) > 1:
            raise ReportError(
                f"the evaluations on {task} were made with different settings (steps, warmup "
                "or seed); evaluate every source with the same ones to compare them"
            )
        summaries = []
        for group, items in groups.items():
            first = items[0].record.get("source", {})
            parts = [
                (str(i.record.get("source", {}).get("replicate", i.key)), i.curves) for i in items
            ]
            best, final, stability = _estimates(parts)
            label, series = _names(group, first)
            summaries.append(
                GroupSummary(
                    task=task, group=group, label=label, series=series,
                    kind=str(first.get("kind", "?")),
                    replicates=tuple(name for name, _ in parts), best_validation=best,
                    final_training=final, stability=stability,
                    curves=tuple(curves for _, curves in parts),
                )
            )  # fmt: skip
        summaries = _distinct_labels(summaries)
        teachers = [
            s for s in summaries if s.kind == "teacher" and math.isfinite(s.best_validation.mean)
        ]
        oracle = min(teachers, key=lambda s: s.best_validation.mean) if teachers else None
        chosen = oracle
        if reference is not None:
            named = [s for s in summaries if reference in (s.group, s.label)]
            if not named:
                known = ", ".join(s.label for s in summaries)
                raise ReportError(
                    f"reference {reference!r} is not among the sources of {task} ({known})"
                )
            chosen = named[0]
        reports.append(
            TaskReport(task, tuple(summaries), chosen, chosen is oracle and chosen is not None)
        )
    return Report(tuple(reports), _perturbation_axis(stored), _choices(stored))


def _choices(stored: Sequence[StoredEvaluation]) -> dict[str, tuple[ChoiceShares, ...]]:
    """Per run group, the choice shares of each replicate that trained a choice policy."""
    found: dict[str, dict[str, ChoiceShares]] = {}
    for item in stored:
        record = item.record.get("source", {})
        run = record.get("run")
        if record.get("kind") != "run" or not isinstance(run, str):
            continue
        group = found.setdefault(str(record.get("group", item.key)), {})
        if run not in group:
            shares = read_choice_shares(run) if Path(run).is_dir() else None
            if shares is not None:
                group[run] = shares
    return {group: tuple(runs.values()) for group, runs in found.items() if runs}


def _distinct_labels(summaries: list[GroupSummary]) -> list[GroupSummary]:
    """Groups that would read alike (runs differing in a setting the label leaves out) get
    their config digest appended, so no two rows of a table share a name."""
    counts: dict[str, int] = {}
    for summary in summaries:
        counts[summary.label] = counts.get(summary.label, 0) + 1
    return [
        replace(s, label=f"{s.label} #{s.group.partition('#')[2]}",
                series=f"{s.series} #{s.group.partition('#')[2]}")
        if counts[s.label] > 1 and "#" in s.group
        else s
        for s in summaries
    ]  # fmt: skip


def _names(group: str, record: dict[str, Any]) -> tuple[str, str]:
    """The table label and the figure series of a group."""
    kind = record.get("kind")
    if kind == "teacher":
        label = str(record.get("label", group))
        tuned = record.get("lr_source") == "tuned"
        return (f"{label} (tuned)", f"{group} (tuned)") if tuned else (label, label)
    if kind == "run":
        name = group.split("#")[0]
        return name, name
    return str(record.get("label", group)), str(record.get("label", group))


def _perturbation_axis(stored: Sequence[StoredEvaluation]) -> dict[str, float]:
    """Per run group, its perturbation magnitude, when the run groups differ only in their
    perturbation (read from their run folders); empty otherwise."""
    configs: dict[str, dict[str, Any]] = {}
    for item in stored:
        record = item.record.get("source", {})
        if record.get("kind") != "run" or str(record.get("group")) in configs:
            continue
        path = Path(str(record.get("run", ""))) / "config.json"
        try:
            configs[str(record["group"])] = json.loads(path.read_text())
        except (OSError, ValueError, KeyError):
            return {}
    if len(configs) < 2:
        return {}
    rest = {
        group: hashlib.sha256(
            json.dumps(
                {
                    k: v
                    for k, v in config.items()
                    if k not in ("name", "seed", "evaluation", "perturbation")
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()
        for group, config in configs.items()
    }
    if len(set(rest.values())) != 1:
        return {}
    magnitudes = {
        group: _magnitude(config.get("perturbation")) for group, config in configs.items()
    }
    if any(value is None for value in magnitudes.values()) or len(set(magnitudes.values())) < 2:
        return {}
    return {group: float(value) for group, value in magnitudes.items() if value is not None}


def _magnitude(perturbation: Any) -> float | None:
    if not perturbation:
        return 0.0
    settings = perturbation.get("config", {}) if isinstance(perturbation, dict) else {}
    numbers = {
        key: value
        for key, value in settings.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    for name in ("magnitude", "sigma", "noise_stddev", "step_size", "epsilon"):
        if name in numbers:
            return float(numbers[name])
    return float(next(iter(numbers.values()))) if len(numbers) == 1 else None


def mean_curve(curves: Sequence[Curves]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean and standard deviation of the validation loss over every evaluation of
    every replicate (Figure 3's bands are the mean +/- 2 std)."""
    rows = np.concatenate([c.val_loss for c in curves])
    with np.errstate(invalid="ignore"):
        return curves[0].eval_step, np.nanmean(rows, axis=0), np.nanstd(rows, axis=0)
