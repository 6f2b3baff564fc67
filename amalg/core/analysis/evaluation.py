"""Evaluating an optimizer: train a task from a warm start and record its curves.

Huang et al. 2022, Appendix C.3 and the reference implementation: every optimizer starts
after the same SGD warmup, sees the same batches, and is summarised by its best validation
loss and its final training loss (the mean over the last validation interval).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from amalg.core.functional import Params, step_generator
from amalg.core.interfaces import Task, UpdateRule
from amalg.core.interfaces.task import Split

__all__ = ["Curves", "evaluate", "validation_metrics"]


@dataclass(frozen=True)
class Curves:
    """An optimizer's runs: arrays shaped [repeat, step] and [repeat, evaluation]."""

    train_loss: np.ndarray
    validation_loss: np.ndarray
    validation_accuracy: np.ndarray | None
    test_loss: np.ndarray
    evaluation_steps: np.ndarray
    every: int

    @property
    def best_validation_loss(self) -> np.ndarray:
        """Per repeat; +inf where every validation was non-finite."""
        finite = np.where(np.isfinite(self.validation_loss), self.validation_loss, np.inf)
        return finite.min(axis=1)

    @property
    def test_loss_at_best_validation(self) -> np.ndarray:
        """Per repeat: the test-split loss where the validation loss was best (the split
        that picked the checkpoint plays no part in it)."""
        finite = np.where(np.isfinite(self.validation_loss), self.validation_loss, np.inf)
        best = finite.argmin(axis=1)
        return self.test_loss[np.arange(len(best)), best]

    @property
    def final_train_loss(self) -> np.ndarray:
        """Per repeat: the mean training loss over the last validation interval."""
        return self.train_loss[:, -self.every :].mean(axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "batch_loss": self.train_loss,
            "val_loss": self.validation_loss,
            "test_loss": self.test_loss,
            "eval_step": self.evaluation_steps,
        }
        if self.validation_accuracy is not None:
            arrays["val_accuracy"] = self.validation_accuracy
        return arrays


def validation_metrics(task: Task, params: Params, split: Split = "validation") -> dict[str, float]:
    """Metrics over a whole split (the validation split by default), weighted by batch size."""
    totals: dict[str, float] = {}
    count = 0
    with torch.no_grad():
        for batch in task.eval_batches(split):
            size = len(batch[0]) if batch else 1
            for key, value in task.metrics(params, batch).items():
                totals[key] = totals.get(key, 0.0) + float(value) * size
            count += size
    return {key: value / count for key, value in totals.items()}


def evaluate(
    task: Task,
    rule: UpdateRule,
    warm_start: Callable[[int], tuple[Params, int]],
    seeds: Sequence[int],
    horizon: int,
    every: int,
    on_step: Callable[[], None] | None = None,
) -> Curves:
    """Train ``task`` with ``rule`` for ``horizon`` steps from ``warm_start(seed)`` per
    seed; validate every ``every`` steps and at the end."""
    checkpoints = sorted({*range(every, horizon + 1, every), horizon})
    train = np.full((len(seeds), horizon), np.nan)
    losses = np.full((len(seeds), len(checkpoints)), np.nan)
    tests = np.full((len(seeds), len(checkpoints)), np.nan)
    accuracies = np.full((len(seeds), len(checkpoints)), np.nan)
    classifier = False
    for row, seed in enumerate(seeds):
        params, index = warm_start(seed)
        state = rule.init(params)
        column = 0
        for step in range(horizon):
            batch = task.batch_at("train", seed, index + step)
            noise = step_generator(seed, index + step)
            loss, grads = task.gradient(params, batch, generator=noise)
            train[row, step] = float(loss.detach())
            with torch.no_grad():
                delta, state = rule.update(grads, state, params, step)
                params = rule.apply(params, delta)
            if step + 1 == checkpoints[column]:
                metrics = validation_metrics(task, params)
                losses[row, column] = metrics["loss"]
                tests[row, column] = validation_metrics(task, params, "test")["loss"]
                if "accuracy" in metrics:
                    classifier = True
                    accuracies[row, column] = metrics["accuracy"]
                column += 1
            if on_step is not None:
                on_step()
            if not math.isfinite(train[row, step]):
                break  # diverged: the rest stays NaN
    return Curves(
        train_loss=train,
        validation_loss=losses,
        validation_accuracy=accuracies if classifier else None,
        test_loss=tests,
        evaluation_steps=np.asarray(checkpoints),
        every=min(every, horizon),
    )
