"""Where a run computes: ``--device cpu`` (the default) or ``--device cuda[:N]``.

The device is where a run executes, not what it is: it is no part of the run config, so a
run started on a GPU may be resumed on a CPU (and the other way). Everything random is
still drawn on the CPU from addressed generators and moved (:mod:`amalg.core.seeds`), so a
run draws the same numbers on any device and its results agree to float rounding.

:class:`OnDevice` puts a task there: its parameters and batches are moved as they are made,
so the engine, evaluation and every task plugin stay device-agnostic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from amalg.core.errors import AmalgError
from amalg.core.functional import Params, tree_map
from amalg.core.interfaces import Batch, Split, Task

__all__ = [
    "CHUNK_BYTES",
    "DeviceError",
    "OnDevice",
    "chunk_rows",
    "on_device",
    "resolve_device",
    "to_device",
    "worker_device",
]


CHUNK_BYTES = 256 * 2**20
"""Off the CPU, the most one buffer of a chunk of graph-free per-row work may hold (a few
such buffers are alive at once)."""


def chunk_rows(tensor: Tensor, cpu: int, width: int) -> int:
    """Rows per chunk of a fast path's graph-free per-row work on ``tensor``, whose widest
    buffer holds ``width`` elements of ``tensor``'s dtype per row.

    On the CPU, ``cpu`` rows: small chunks, whose buffers the allocator reuses instead of
    faulting in fresh memory at every step. Elsewhere (a GPU) each chunk is a round of kernel
    launches and the caching allocator reuses blocks of any size, so chunks only bound the
    memory: as many rows as fit :data:`CHUNK_BYTES` (never fewer than ``cpu``)."""
    if tensor.device.type == "cpu":
        return cpu
    return max(cpu, CHUNK_BYTES // (max(1, width) * tensor.element_size()))


class DeviceError(AmalgError):
    """A device that is not there, or not a device."""


def resolve_device(name: str) -> torch.device:
    """``name`` as a device this machine has, or one line saying why not."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"--device {name!r} is not a device: give cpu or cuda (cuda:N)") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise DeviceError(f"--device {name}: amalg runs on cpu or cuda, not {device.type}")
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise DeviceError(
            f"--device {name}: torch {torch.__version__} ({build}) sees no CUDA device here; "
            "run with --device cpu"
        )
    index = 0 if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s) "
            f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
        )
    return torch.device("cuda", index)


def worker_device(asked: str, workers: int, local_rank: int) -> str:
    """The device of one of ``workers`` processes on a machine: ``cuda`` is one GPU each,
    the local rank's; one line when that cannot be."""
    if workers == 1:
        return asked
    device = resolve_device(asked)
    if device.type == "cpu":
        return "cpu"
    if ":" in asked:
        raise DeviceError(
            f"--device {asked} with {workers} workers: each worker takes its own GPU (its local "
            "rank's); give --device cuda"
        )
    if torch.cuda.device_count() < workers:
        raise DeviceError(
            f"{workers} workers on CUDA need {workers} GPUs, one each; this machine has "
            f"{torch.cuda.device_count()}: run with --workers {torch.cuda.device_count()}"
        )
    return f"cuda:{local_rank}"


def to_device(tree: Any, device: torch.device) -> Any:
    """Every tensor of nested dicts, lists and tuples moved to ``device``."""
    return tree_map(lambda leaf: leaf.to(device) if isinstance(leaf, Tensor) else leaf, tree)


class OnDevice(Task[Any]):
    """``task`` with its parameters and batches on ``device``; everything else is the
    task's own (its name, config, loss, gradient oracle, metrics)."""

    def __init__(self, task: Task[Any], device: torch.device) -> None:
        # Not Component.__init__: the wrapped task's config and identity are the ones.
        self.task = task
        self.device = device

    def __getattr__(self, name: str) -> Any:
        # What the contract does not name (batches_per_epoch, spec, ...) is the task's.
        return getattr(self.__dict__["task"], name)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.task.name

    @property
    def config(self) -> Any:  # type: ignore[override]
        return self.task.config

    @property
    def suites(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.task.suites

    def init_params(self, generator: torch.Generator) -> Params:
        return to_device(self.task.init_params(generator), self.device)

    def loss(self, params: Params, batch: Batch) -> Tensor:
        return self.task.loss(params, batch)

    def gradient(self, params: Params, batch: Batch, **options: Any) -> tuple[Tensor, Params]:
        return self.task.gradient(params, batch, **options)

    @property
    def exact_gradient(self) -> bool:
        return self.task.exact_gradient

    def metrics(self, params: Params, batch: Batch) -> dict[str, Tensor]:
        return self.task.metrics(params, batch)

    def batch_at(self, split: Split, seed: int, index: int) -> Batch:
        return to_device(self.task.batch_at(split, seed, index), self.device)

    def eval_batches(self, split: Split) -> Iterator[Batch]:
        for batch in self.task.eval_batches(split):
            yield to_device(batch, self.device)

    def abstract_params(self) -> Params:
        return self.task.abstract_params()

    def details(self) -> dict[str, Any]:
        return self.task.details()


def on_device(task: Task[Any], device: torch.device) -> Task[Any]:
    """``task`` itself on the CPU (where tasks make their tensors), else wrapped."""
    return task if device.type == "cpu" else OnDevice(task, device)
