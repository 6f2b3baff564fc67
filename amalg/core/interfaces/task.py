"""Task (optimizee): a model, its data and its loss.

Parameters are a flat ``dict[str, Tensor]`` built from a seeded generator, the loss is a
function of parameters and a batch, and the gradient oracle is plain autograd unless a task
overrides it (DP-SGD clips per-example gradients and adds noise).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from functools import cached_property
from typing import ClassVar, Literal

import torch
from torch import Tensor

from amalg.core.component import Component
from amalg.core.functional import Params

__all__ = ["Batch", "Split", "Task"]

Batch = tuple[Tensor, ...]
Split = Literal["train", "validation", "test"]


class Task(Component):
    """An optimizee: initial parameters, a loss, a gradient oracle and batches."""

    kind: ClassVar[str] = "task"

    @abstractmethod
    def init_params(self, generator: torch.Generator) -> Params:
        """Fresh initial parameters drawn from ``generator`` (same seed, same parameters)."""

    @abstractmethod
    def loss(self, params: Params, batch: Batch) -> Tensor:
        """The scalar training loss of ``params`` on ``batch`` (functional: no module state)."""

    @abstractmethod
    def batches(self, split: Split, generator: torch.Generator) -> Iterator[Batch]:
        """Endless batches of ``split``, reshuffled each epoch with ``generator``."""

    def gradient(
        self,
        params: Params,
        batch: Batch,
        *,
        generator: torch.Generator | None = None,
        create_graph: bool = False,
    ) -> tuple[Tensor, Params]:
        """The loss and its gradient with respect to ``params``.

        Parameters that do not require grad are differentiated as detached copies;
        ``create_graph`` keeps the graph for differentiating through the gradient.
        ``generator`` feeds oracles that draw noise (DP-SGD).
        """
        leaves = {
            key: value if value.requires_grad else value.detach().requires_grad_()
            for key, value in params.items()
        }
        loss = self.loss(leaves, batch)
        grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=create_graph)
        return loss, dict(zip(leaves, grads, strict=True))

    def metrics(self, params: Params, batch: Batch) -> dict[str, Tensor]:
        """Evaluation metrics of ``params`` on ``batch``; classifiers add ``accuracy``."""
        return {"loss": self.loss(params, batch)}

    @cached_property
    def parameter_count(self) -> int:
        """The number of scalar parameters of the model."""
        params = self.init_params(torch.Generator().manual_seed(0))
        return sum(value.numel() for value in params.values())
