"""What the commands show: rich progress for long work and the result tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from amalg.core.analysis.comparison import TaskComparison
from amalg.core.runconfig import RunSettings
from amalg.core.training.events import (
    EvaluationAdvanced,
    EvaluationStarted,
    Event,
    PeriodFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    TrajectoryFinished,
    TuningAdvanced,
    TuningFinished,
    TuningStarted,
)

__all__ = ["ProgressView", "comparison_table", "tuning_line"]


class ProgressView:
    """Rich progress for the events of tuning, meta-training and evaluation."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar: Any = None

    def __enter__(self) -> ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.progress.__exit__(*args)

    def _drop_bar(self) -> None:
        if self.bar is not None:
            self.progress.remove_task(self.bar)
            self.bar = None

    def on_event(self, event: Event) -> None:
        match event:
            case TuningStarted(task=task, teacher=teacher, total=total):
                self._drop_bar()
                self.bar = self.progress.add_task(f"tuning {teacher} on {task}", total=total)
            case TuningAdvanced() if self.bar is not None:
                self.progress.advance(self.bar)
            case TuningFinished():
                self._drop_bar()
                self.console.print(Text(tuning_line(event), style="dim"))
            case PhaseStarted(phase=phase, phases=phases, description=description):
                self._drop_bar()
                self.console.print(Text(f"phase {phase} of {phases}: {description}", style="bold"))
            case RunStarted(resumed_from=str(checkpoint)):
                self.console.print(Text(f"resuming after {checkpoint}", style="dim"))
            case TrajectoryFinished():
                if self.bar is None:
                    self.bar = self.progress.add_task("", total=event.trajectories)
                imitation = " ".join(f"{k} {v:.2f}" for k, v in event.imitation.items())
                self.progress.update(
                    self.bar,
                    completed=event.trajectory,
                    total=event.trajectories,
                    description=(
                        f"stage {event.stage} period {event.period} unroll {event.unroll}"
                        f" | meta-loss {event.meta_loss:.3f}"
                        + (f" | imitation {imitation}" if imitation else "")
                    ),
                )
            case PeriodFinished(summary=summary):
                self._drop_bar()
                imitation = " ".join(f"{k} {v:.2f}" for k, v in summary.imitation.items())
                line = (
                    f"stage {summary.stage} period {summary.period} unroll {summary.unroll}: "
                    f"meta-loss {summary.meta_loss:.3f}"
                    + (f", imitation {imitation}" if imitation else "")
                    + f", validation {summary.validation:.4f}"
                    + (" (best)" if summary.new_best else "")
                    + (" -> stage over, best reloaded" if event.reloaded else "")
                )
                if summary.nonfinite:
                    line += f", {summary.nonfinite} non-finite truncations discarded so far"
                self.console.print(Text(line))
            case EvaluationStarted(total=total):
                self._drop_bar()
                self.bar = self.progress.add_task("evaluating", total=total)
            case EvaluationAdvanced() if self.bar is not None:
                self.progress.advance(self.bar)
            case RunFinished():
                self._drop_bar()
            case _:
                pass


def tuning_line(event: TuningFinished) -> str:
    how = "stored tuning" if event.reused else "tuned now"
    edge = ", on the grid's edge" if event.on_edge else ""
    return f"{event.teacher} on {event.task}: lr {event.lr:g} ({how}{edge})"


def _pm(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "diverged"
    return f"{mean:.4f} ± {std:.4f}"


def comparison_table(comparison: TaskComparison, config: RunSettings) -> Table:
    """One task's final table: student and teachers, the oracle marked, the student's gap to
    the oracle in the caption."""
    evaluation = config.evaluation
    rates = config.tuning.learning_rates.get(comparison.task, {})
    oracle = comparison.oracle
    table = Table(
        title=f"{comparison.task}: {evaluation.horizon} steps, {evaluation.seeds} seeds "
        "(mean ± std)",
        title_justify="left",
    )
    for column in ("optimizer", "role", "lr"):
        table.add_column(column, style="bold" if column == "optimizer" else None)
    for column in ("best validation loss", "final training loss", "test loss at best val."):
        table.add_column(column, justify="right")
    accuracy = any(row.best_validation_accuracy is not None for row in comparison.rows)
    if accuracy:
        table.add_column("best val. accuracy", justify="right")
    for row in comparison.rows:
        role = row.role + (", oracle" if oracle is not None and row is oracle else "")
        record = rates.get(row.optimizer) if row.role == "teacher" else None
        lr = (
            f"{record.lr:g}" + (" tuned" if record.source.startswith("tuned") else "")
            if record
            else ""
        )
        cells = [
            row.optimizer,
            role,
            lr,
            _pm(row.best_validation_loss, row.best_validation_loss_std),
            _pm(row.final_train_loss, row.final_train_loss_std),
            f"{row.test_loss_at_best_validation:.4f}",
        ]
        if accuracy:
            value = row.best_validation_accuracy
            cells.append(f"{value if value is not None else math.nan:.3f}")
        table.add_row(*(Text(cell) for cell in cells))
    student = next((row for row in comparison.rows if row.role == "student"), None)
    if oracle is not None and student is not None and math.isfinite(student.best_validation_loss):
        gap = student.best_validation_loss / oracle.best_validation_loss - 1
        table.caption = (
            f"oracle (the best tuned teacher here): {oracle.optimizer}; the student's best "
            f"validation loss is {abs(gap):.1%} {'above' if gap > 0 else 'below'} it"
        )
        table.caption_justify = "left"
    return table


def comparison_tables(comparisons: Sequence[TaskComparison], config: RunSettings) -> list[Table]:
    return [comparison_table(comparison, config) for comparison in comparisons]
