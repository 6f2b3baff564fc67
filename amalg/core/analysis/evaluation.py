"""Evaluating an optimizer: train a task from a warm start and record its curves.

Huang et al. 2022, Appendix C.3 and the reference implementation: every optimizer starts
after the same SGD warmup, sees the same batches, and is summarised by its best validation
loss and its final training loss. The arrays follow the reference's layout, one row per
repeat (a repeat is one warm start and batch stream, the same for every optimizer):

    batch_loss    [repeat, step]    the loss of each training batch
    loss          [repeat, point]   training-split loss at each evaluation point, on a fixed
                                    sample of up to 1000 training examples
    accuracy      [repeat, point]   the same sample's accuracy (classifiers)
    val_loss      [repeat, point]   the whole validation split
    val_accuracy  [repeat, point]   (classifiers)
    test_loss     [repeat, point]   the whole test split
    time          [repeat, point]   seconds of optimizer steps in each interval
    eval_step     [point]           the step after which each point was taken

A diverged repeat stops; the rest of its row stays NaN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from amalg.core.functional import Params, step_generator
from amalg.core.interfaces import Task, UpdateRule
from amalg.core.interfaces.task import Split

__all__ = ["TRAIN_SAMPLE", "Curves", "evaluate", "evaluate_repeat", "validation_metrics"]

TRAIN_SAMPLE = 1000
"""Training examples the ``loss`` and ``accuracy`` points are measured on (the first ones of
the split, in stored order: the same for every optimizer and repeat)."""

_POINT_ARRAYS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "time")


@dataclass(frozen=True)
class Curves:
    """An optimizer's runs on one task: arrays shaped [repeat, step] and [repeat, point]."""

    batch_loss: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None
    val_loss: np.ndarray
    val_accuracy: np.ndarray | None
    test_loss: np.ndarray
    time: np.ndarray
    eval_step: np.ndarray
    every: int

    @property
    def repeats(self) -> int:
        return int(self.batch_loss.shape[0])

    @property
    def best_validation_loss(self) -> np.ndarray:
        """Per repeat; +inf where every validation was non-finite."""
        finite = np.where(np.isfinite(self.val_loss), self.val_loss, np.inf)
        return finite.min(axis=1)

    @property
    def test_loss_at_best_validation(self) -> np.ndarray:
        """Per repeat: the test-split loss where the validation loss was best (the split
        that picked the checkpoint plays no part in it)."""
        finite = np.where(np.isfinite(self.val_loss), self.val_loss, np.inf)
        best = finite.argmin(axis=1)
        return self.test_loss[np.arange(len(best)), best]

    @property
    def final_train_loss(self) -> np.ndarray:
        """Per repeat: the mean batch loss over the last evaluation interval."""
        return self.batch_loss[:, -self.every :].mean(axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "batch_loss": self.batch_loss,
            "loss": self.loss,
            "val_loss": self.val_loss,
            "test_loss": self.test_loss,
            "time": self.time,
            "eval_step": self.eval_step,
            "every": np.asarray(self.every),
        }
        if self.accuracy is not None:
            arrays["accuracy"] = self.accuracy
        if self.val_accuracy is not None:
            arrays["val_accuracy"] = self.val_accuracy
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Curves:
        """Curves back from :meth:`arrays`; ValueError if the arrays do not fit together."""
        try:
            batch_loss = np.asarray(arrays["batch_loss"], dtype=float)
            points = np.asarray(arrays["eval_step"])
            values = {
                name: np.asarray(arrays[name], dtype=float) if name in arrays else None
                for name in _POINT_ARRAYS
            }
            every = int(np.asarray(arrays["every"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"the curves are incomplete or damaged ({error})") from None
        for name, value in values.items():
            if value is not None and value.shape != (batch_loss.shape[0], len(points)):
                raise ValueError(f"{name} has shape {value.shape}, not [repeat, point]")
        for name in ("loss", "val_loss", "test_loss", "time"):
            if values[name] is None:
                raise ValueError(f"the curves lack {name}")
        return cls(
            batch_loss=batch_loss,
            loss=values["loss"],  # type: ignore[arg-type]
            accuracy=values["accuracy"],
            val_loss=values["val_loss"],  # type: ignore[arg-type]
            val_accuracy=values["val_accuracy"],
            test_loss=values["test_loss"],  # type: ignore[arg-type]
            time=values["time"],  # type: ignore[arg-type]
            eval_step=points,
            every=every,
        )

    @staticmethod
    def stack(parts: Sequence[Curves]) -> Curves:
        """One set of curves from several, repeats in order."""
        if not parts:
            raise ValueError("no curves to stack")

        def rows(name: str) -> np.ndarray | None:
            values = [getattr(part, name) for part in parts]
            return None if any(value is None for value in values) else np.concatenate(values)

        first = parts[0]
        return Curves(
            batch_loss=np.concatenate([part.batch_loss for part in parts]),
            loss=np.concatenate([part.loss for part in parts]),
            accuracy=rows("accuracy"),
            val_loss=np.concatenate([part.val_loss for part in parts]),
            val_accuracy=rows("val_accuracy"),
            test_loss=np.concatenate([part.test_loss for part in parts]),
            time=np.concatenate([part.time for part in parts]),
            eval_step=first.eval_step,
            every=first.every,
        )


def validation_metrics(
    task: Task, params: Params, split: Split = "validation", limit: int | None = None
) -> dict[str, float]:
    """Metrics over a whole split (the validation split by default), or over its first
    ``limit`` examples, weighted by batch size."""
    totals: dict[str, float] = {}
    count = 0
    with torch.no_grad():
        for batch in task.eval_batches(split):
            size = len(batch[0]) if batch else 1
            if limit is not None and count + size > limit and count > 0:
                break
            for key, value in task.metrics(params, batch).items():
                totals[key] = totals.get(key, 0.0) + float(value) * size
            count += size
            if limit is not None and count >= limit:
                break
    return {key: value / count for key, value in totals.items()}


def evaluate_repeat(
    task: Task,
    rule: UpdateRule[Any],
    warm_start: Callable[[int], tuple[Params, int]],
    seed: int,
    horizon: int,
    every: int,
    on_step: Callable[[], None] | None = None,
    validation_only: bool = False,
) -> Curves:
    """One repeat: train ``task`` with ``rule`` for ``horizon`` steps from
    ``warm_start(seed)`` on the batch stream ``seed``; evaluate every ``every`` steps and at
    the end (the validation split alone when ``validation_only``: the training-sample and
    test points stay NaN, as a learning-rate search needs none of them)."""
    points = sorted({*range(every, horizon + 1, every), horizon})
    batch_loss = np.full((1, horizon), np.nan)
    values = {name: np.full((1, len(points)), np.nan) for name in _POINT_ARRAYS}
    classifier = False
    params, index = warm_start(seed)
    state = rule.init(params)
    column, elapsed = 0, 0.0
    for step in range(horizon):
        started = time.perf_counter()
        batch = task.batch_at("train", seed, index + step)
        loss, grads = task.gradient(params, batch, generator=step_generator(seed, index + step))
        batch_loss[0, step] = float(loss.detach())
        with torch.no_grad():
            # The trajectory's state is read by this step alone: the rule may overwrite it.
            delta, state = rule.update_donated(grads, state, params, step)
            params = rule.apply(params, delta)
        elapsed += time.perf_counter() - started
        if step + 1 == points[column]:
            validation = validation_metrics(task, params)
            values["val_loss"][0, column] = validation["loss"]
            values["time"][0, column] = elapsed
            if "accuracy" in validation:
                classifier = True
                values["val_accuracy"][0, column] = validation["accuracy"]
            if not validation_only:
                train = validation_metrics(task, params, "train", limit=TRAIN_SAMPLE)
                values["loss"][0, column] = train["loss"]
                values["accuracy"][0, column] = train.get("accuracy", math.nan)
                values["test_loss"][0, column] = validation_metrics(task, params, "test")["loss"]
            column, elapsed = column + 1, 0.0
        if on_step is not None:
            on_step()
        if not math.isfinite(batch_loss[0, step]):
            break  # diverged: the rest stays NaN
    return Curves(
        batch_loss=batch_loss,
        loss=values["loss"],
        accuracy=values["accuracy"] if classifier else None,
        val_loss=values["val_loss"],
        val_accuracy=values["val_accuracy"] if classifier else None,
        test_loss=values["test_loss"],
        time=values["time"],
        eval_step=np.asarray(points),
        every=min(every, horizon),
    )


def evaluate(
    task: Task,
    rule: UpdateRule[Any],
    warm_start: Callable[[int], tuple[Params, int]],
    seeds: Sequence[int],
    horizon: int,
    every: int,
    on_step: Callable[[], None] | None = None,
    validation_only: bool = False,
) -> Curves:
    """:func:`evaluate_repeat` for each of ``seeds``, stacked."""
    return Curves.stack(
        [
            evaluate_repeat(task, rule, warm_start, seed, horizon, every, on_step, validation_only)
            for seed in seeds
        ]
    )
