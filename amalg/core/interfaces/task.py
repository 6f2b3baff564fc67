"""Task (optimizee): a model, its data and its loss.

Parameters are a flat ``dict[str, Tensor]`` built from a seeded generator, the loss is a
function of parameters and a batch, and the gradient oracle is plain autograd unless a task
overrides it (DP-SGD clips per-example gradients and adds noise).

Batches are addressed, not streamed: ``batch_at(split, seed, index)`` is the ``index``-th
batch of the endless stream that ``seed`` reshuffles each epoch, a pure function of its
arguments. An unroll's position is then two integers, so a truncation can be replayed from
the same start (antithetic ES pairs, adversarial perturbation steps) and the student and
every teacher see the same batches.

The design calls tasks *optimizees*; ``Optimizee`` is the same contract under that name.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from functools import cached_property
from itertools import count
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from amalg.core.component import Component, ConfigT, defining_class
from amalg.core.functional import Params

__all__ = ["SPLITS", "Batch", "Optimizee", "Split", "Task"]

Batch = tuple[Tensor, ...]
Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")


class Task(Component[ConfigT]):
    """An optimizee: initial parameters, a loss, a gradient oracle and batches."""

    kind: ClassVar[str] = "task"
    suites: ClassVar[tuple[str, ...]] = ()
    """The evaluation suites the task belongs to (``--suite NAME``: ``paper``, ``digits``,
    or any name a plugin's tasks share)."""

    @abstractmethod
    def init_params(self, generator: torch.Generator) -> Params:
        """Fresh initial parameters drawn from ``generator`` (same seed, same parameters)."""

    @abstractmethod
    def loss(self, params: Params, batch: Batch) -> Tensor:
        """The scalar training loss of ``params`` on ``batch`` (functional: no module state)."""

    @abstractmethod
    def batch_at(self, split: Split, seed: int, index: int) -> Batch:
        """Batch number ``index`` (from 0) of ``split``'s endless stream for ``seed``, whose
        order is reshuffled at each epoch. The same arguments give the same batch."""

    @abstractmethod
    def eval_batches(self, split: Split) -> Iterator[Batch]:
        """One pass over the whole of ``split`` in a fixed order (for evaluation)."""

    def batches(self, split: Split, seed: int, start: int = 0) -> Iterator[Batch]:
        """The stream of :meth:`batch_at` from ``start`` on."""
        for index in count(start):
            yield self.batch_at(split, seed, index)

    def gradient(
        self,
        params: Params,
        batch: Batch,
        *,
        generator: torch.Generator | None = None,
        create_graph: bool = False,
        retain_graph: bool = False,
    ) -> tuple[Tensor, Params]:
        """The loss and its gradient with respect to ``params``.

        Parameters that do not require grad are differentiated as detached copies;
        ``create_graph`` keeps the graph for differentiating through the gradient,
        ``retain_graph`` keeps the loss's own graph (a meta-loss differentiates the loss
        itself later). ``generator`` feeds oracles that draw noise (DP-SGD). The oracle works
        under ``torch.no_grad()`` too: an evolution-strategies estimator runs whole truncations
        without a graph of phi, yet the task still needs its gradients.
        """
        with torch.enable_grad():
            leaves = {
                key: value if value.requires_grad else value.detach().requires_grad_()
                for key, value in params.items()
            }
            loss = self.loss(leaves, batch)
            grads = torch.autograd.grad(
                loss,
                list(leaves.values()),
                create_graph=create_graph,
                retain_graph=retain_graph or create_graph,
            )
        return loss, dict(zip(leaves, grads, strict=True))

    @property
    def exact_gradient(self) -> bool:
        """Whether :meth:`gradient` is the plain autograd gradient of :meth:`loss` on the
        batch (no clipping, no noise). A caller that needs the loss's gradient again (the
        engine's first-order meta-gradient) then reuses the one it was given instead of
        keeping the loss's graph. True unless the task overrides :meth:`gradient`; an
        override that stays exact (a faster oracle) may say so by overriding this too."""
        return defining_class(type(self), "gradient") is Task

    def metrics(self, params: Params, batch: Batch) -> dict[str, Tensor]:
        """Evaluation metrics of ``params`` on ``batch``; classifiers add ``accuracy``."""
        return {"loss": self.loss(params, batch)}

    def abstract_params(self) -> Params:
        """The parameters' names, shapes and dtypes as tensors on the ``meta`` device (no
        memory), so what a run will allocate is known before it allocates anything.

        The default draws real parameters once; a task whose size is set by its config
        overrides this so that an oversized config is caught without allocating it.
        """
        params = self.init_params(torch.Generator().manual_seed(0))
        return {key: torch.empty_like(value, device="meta") for key, value in params.items()}

    @cached_property
    def parameter_count(self) -> int:
        """The number of scalar parameters of the model."""
        return sum(value.numel() for value in self.abstract_params().values())

    def details(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"parameters": self.parameter_count}
        if self.suites:
            facts["suites"] = ", ".join(self.suites)
        return facts


Optimizee = Task
"""The design's word for a task: the same contract."""
