"""The warm start every trajectory and every evaluation begins with.

Huang et al. 2022, Appendix C.3 and the reference implementation: a freshly initialised
task takes ``steps`` plain SGD steps (100 at lr 0.01) on its training stream before any
optimizer under study takes over, so that all of them start from the same, already moving
point. A pure function of the task and the seed: meta-training, validation, evaluation and
any later comparison get the same parameters and continue on the same batches.
"""

from __future__ import annotations

import torch

from amalg.core.functional import Params, step_generator
from amalg.core.interfaces import Task

__all__ = ["warm_start"]


def warm_start(task: Task, seed: int, steps: int = 100, lr: float = 0.01) -> tuple[Params, int]:
    """Parameters of ``task`` initialised from ``seed`` after ``steps`` SGD steps at ``lr``
    on batches ``0 .. steps - 1`` of the train stream ``seed``, and the index of the first
    batch after them (where the optimizer under study starts)."""
    params = task.init_params(torch.Generator().manual_seed(seed))
    for index in range(steps):
        batch = task.batch_at("train", seed, index)
        _, grads = task.gradient(params, batch, generator=step_generator(seed, index))
        params = {key: (value - lr * grads[key]).detach() for key, value in params.items()}
    return params, steps
