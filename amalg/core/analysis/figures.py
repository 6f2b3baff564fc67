"""The report's figures, after Huang et al. 2022, Figures 1-6 (matplotlib, written as PNG
and PDF):

- ``validation_curves``: per task, each optimizer's validation loss over training, mean over
  every evaluation of every replicate, with a +/- 2 std band (Figure 3);
- ``relative_intervals``: per task, each optimizer's best log validation loss and final log
  training loss minus the reference's, with 95% intervals (Figures 1-2);
- ``optimization_stability``: per task, each optimizer's optimization stability with 95%
  intervals (Figure 5);
- ``meta_stability``: meta-stability against perturbation magnitude, when the runs differ
  only in it (Figure 6);
- ``choice_policy``: per run group with an optimal-choice policy, each teacher's mean share
  of the policy's soft choices over meta-training steps, one line per replicate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from amalg.core.analysis.report import GroupSummary, Report, TaskReport, mean_curve

__all__ = ["write_figures"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or opened
    import matplotlib.pyplot as plt

    return plt


def _series(tasks: tuple[TaskReport, ...]) -> list[str]:
    return list(dict.fromkeys(group.series for task in tasks for group in task.groups))


def _legend(figure: Any, ax: Any, count: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(max(count, 1), 4),
                  bbox_to_anchor=(0.5, 0.0))  # fmt: skip


def _validation_curves(plt: Any, report: Report, color: dict[str, str]) -> Any:
    count = len(report.tasks)
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.4 * rows + 0.8),
                                squeeze=False)  # fmt: skip
    for ax, task in zip(axes.flat, report.tasks, strict=False):
        for group in task.groups:
            steps, mean, std = mean_curve(group.curves)
            positive = mean[np.isfinite(mean) & (mean > 0)]
            floor = float(positive.min()) / 10 if positive.size else 1e-8
            ax.plot(steps, mean, label=group.series, color=color[group.series])
            ax.fill_between(steps, np.clip(mean - 2 * std, floor, None), mean + 2 * std,
                            color=color[group.series], alpha=0.2)  # fmt: skip
        ax.set_yscale("log")
        ax.set_title(task.task)
        ax.set_xlabel("training step")
        ax.set_ylabel("validation loss")
    for ax in list(axes.flat)[count:]:
        ax.remove()
    _legend(figure, axes.flat[0], len(color))
    figure.suptitle("Validation loss: mean over evaluations and replicates, ±2 std")
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    return figure


def _points(
    report: Report, series: str, index: int, total: int,
    value: Callable[[TaskReport, GroupSummary], tuple[float, float, float] | None],
) -> tuple[list[float], list[float], list[list[float]]]:  # fmt: skip
    """x, y and asymmetric error bars of one series over the tasks, offset by ``index``."""
    width = 0.8 / max(total, 1)
    xs: list[float] = []
    ys: list[float] = []
    errors: list[list[float]] = [[], []]
    for position, task in enumerate(report.tasks):
        for group in task.groups:
            found = value(task, group) if group.series == series else None
            if found is None or not math.isfinite(found[0]):
                continue
            mean, low, high = found
            xs.append(position + (index - (total - 1) / 2) * width)
            ys.append(mean)
            errors[0].append(mean - low if math.isfinite(low) else 0.0)
            errors[1].append(high - mean if math.isfinite(high) else 0.0)
    return xs, ys, errors


def _task_axis(ax: Any, report: Report) -> None:
    ax.set_xticks(range(len(report.tasks)), [task.task for task in report.tasks], rotation=30,
                  ha="right")  # fmt: skip


def _relative_intervals(plt: Any, report: Report, color: dict[str, str]) -> Any:
    series = list(color)
    figure, axes = plt.subplots(1, 2, figsize=(max(9.0, 2.2 * len(report.tasks) + 4), 4.6))
    for ax, (metric, title) in zip(
        axes,
        (("best_validation", "best log validation loss"),
         ("final_training", "final log training loss")),
        strict=True,
    ):  # fmt: skip

        def relative(task: TaskReport, group: GroupSummary, metric: str = metric) -> Any:
            values = group.relative(task.reference)
            if not values:
                return None
            return values[metric], values[f"{metric}_low"], values[f"{metric}_high"]

        for index, name in enumerate(series):
            xs, ys, errors = _points(report, name, index, len(series), relative)
            if xs:
                ax.errorbar(xs, ys, yerr=errors, fmt="o", capsize=3, label=name, color=color[name])
        ax.axhline(0.0, color="gray", linewidth=0.8)
        _task_axis(ax, report)
        ax.set_ylabel(f"{title} − reference\n(lower is better)")
        ax.set_title(title)
    oracle = all(task.reference_is_oracle for task in report.tasks)
    references = sorted({task.reference.series for task in report.tasks if task.reference})
    against = "each task's oracle (best tuned teacher)" if oracle else ", ".join(references)
    figure.suptitle(f"95% intervals (mixed model) relative to {against}")
    _legend(figure, axes[0], len(series))
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    return figure


def _optimization_stability(plt: Any, report: Report, color: dict[str, str]) -> Any:
    series = list(color)
    figure, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(report.tasks) + 2), 4.6))

    def stability(task: TaskReport, group: GroupSummary) -> Any:
        estimate = group.stability
        return estimate.mean, estimate.low, estimate.high

    for index, name in enumerate(series):
        xs, ys, errors = _points(report, name, index, len(series), stability)
        if xs:
            ax.errorbar(xs, ys, yerr=errors, fmt="s", capsize=3, label=name, color=color[name])
    _task_axis(ax, report)
    ax.set_ylabel("optimization stability: std of log val. loss\naround its smoothed curve "
                  "(lower is more stable)")  # fmt: skip
    ax.set_title("Optimization stability, 95% intervals (mixed model)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no finite estimate to show", ha="center", transform=ax.transAxes)
    figure.tight_layout()
    return figure


def _meta_stability(plt: Any, report: Report) -> Any:
    figure, ax = plt.subplots(figsize=(6, 4))
    for task in report.tasks:
        points = sorted(
            (report.perturbations[group.group], group.best_validation.meta_stability)
            for group in task.groups
            if group.group in report.perturbations
            and math.isfinite(group.best_validation.meta_stability)
        )
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=task.task)
    smallest = min((v for v in report.perturbations.values() if v > 0), default=1.0)
    ax.set_xscale("symlog", linthresh=smallest / 2)
    ax.set_xlabel("perturbation magnitude (0: none)")
    ax.set_ylabel("meta-stability: std between replicates\nof the best log validation loss")
    ax.set_title("Meta-stability against perturbation magnitude (lower is better)")
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def _choice_policy(plt: Any, report: Report) -> Any:
    groups = list(report.choices.items())
    columns = min(len(groups), 3)
    rows = math.ceil(len(groups) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.8 * columns, 3.4 * rows),
                                squeeze=False)  # fmt: skip
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (group, replicates) in zip(axes.flat, groups, strict=False):
        teachers = list(dict.fromkeys(t for shares in replicates for t in shares.shares))
        for j, teacher in enumerate(teachers):
            for i, shares in enumerate(replicates):
                if teacher in shares.shares:
                    ax.plot(shares.steps, shares.shares[teacher], "o-", markersize=3,
                            color=palette[j % len(palette)], alpha=0.8,
                            label=teacher if i == 0 else None)  # fmt: skip
        ax.axhline(1 / max(len(teachers), 1), color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{group.split('#')[0]}: choice policy", fontsize="medium")
        ax.set_xlabel("meta-training steps of the policy")
        ax.set_ylabel("mean share of the teacher")
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(groups) :]:
        ax.remove()
    figure.tight_layout()
    return figure


def write_figures(report: Report, folder: Path) -> dict[str, tuple[list[Path], int]]:
    """Every figure the report supports, into ``folder``: per figure name, its files and
    its number of panels."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color = {name: palette[i % len(palette)] for i, name in enumerate(_series(report.tasks))}
    figures = {
        "validation_curves": _validation_curves(plt, report, color),
        "relative_intervals": _relative_intervals(plt, report, color),
        "optimization_stability": _optimization_stability(plt, report, color),
    }
    if report.perturbations:
        figures["meta_stability"] = _meta_stability(plt, report)
    if report.choices:
        figures["choice_policy"] = _choice_policy(plt, report)
    written: dict[str, tuple[list[Path], int]] = {}
    for name, figure in figures.items():
        paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
        for path in paths:
            figure.savefig(path, bbox_inches="tight", dpi=150)
        written[name] = (paths, len(figure.axes))
        plt.close(figure)
    return written
