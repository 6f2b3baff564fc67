"""The processes one run's meta-training is spread over (``torch.distributed``).

A run with W workers is W processes of the same command, ranks 0..W-1, started by
``amalg run --workers W`` or by ``torchrun --nproc_per_node W -m amalg run ...`` (the same
environment variables: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``). Each
meta-step's trajectories are dealt out round robin; every worker gathers every trajectory's
meta-gradient and averages them in trajectory order, so every worker applies the same
meta-step and holds the same phi without phi ever being sent. Rank 0 alone writes the run
folder, prints and evaluates.

:data:`SOLO` is the single process: gathering is the identity, and nothing is sent.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, TypeVar

from amalg.core.errors import AmalgError, ConfigError

__all__ = ["SOLO", "Workers", "WorkersError", "count_workers", "join"]

T = TypeVar("T")


class WorkersError(AmalgError):
    """The processes of a distributed run cannot work together."""


@dataclass(frozen=True)
class Workers:
    """This process's place among the run's ``size`` processes."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes, prints and evaluates (rank 0)."""
        return self.rank == 0

    def mine(self, count: int) -> list[int]:
        """The positions among ``count`` items this process handles (round robin)."""
        return list(range(self.rank, count, self.size))

    def gather(self, value: T) -> list[T]:
        """Every process's ``value``, in rank order, on every process."""
        if self.size == 1:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.size
        dist.all_gather_object(values, value)
        return values

    def share(self, value: T) -> T:
        """Rank 0's ``value``, on every process (a decision only rank 0 can take)."""
        if self.size == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def finish(self) -> None:
        """Leave the group together, once the work they share is done: every process calls
        it. (A process that exits with its process group alive can abort in the group's
        destructor.)"""
        if self.size == 1:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


SOLO = Workers()


def count_workers(asked: int, batch: int) -> int:
    """The processes a run's meta-training is spread over: ``asked`` (``--workers``), or
    the count torchrun started; each meta-step's ``batch`` trajectories must deal out
    evenly to them."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and asked not in (1, launched):
        raise ConfigError(
            "the run",
            [("--workers", f"{asked}, but torchrun started {launched} processes: give one")],
        )
    count = max(asked, launched)
    if batch % count:
        message = (
            f"{count} workers share each meta-step's meta_optimizer.batch = {batch} "
            f"trajectories: set --set meta_optimizer.batch={count} (or a multiple of {count})"
        )
        raise ConfigError("the run", [("--workers", message)])
    return count


def join(device: str = "cpu", timeout_minutes: float = 30.0) -> Workers:
    """This process's place in the run: :data:`SOLO` unless launched as one of several
    (``WORLD_SIZE`` > 1), in which case it joins the process group (gloo on CPU, nccl on
    CUDA) the first time."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SOLO
    rank = int(os.environ.get("RANK", "0"))
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise WorkersError("this torch build has no torch.distributed: run with --workers 1")
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        try:
            if backend == "nccl":
                torch.cuda.set_device(torch.device(device))
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
        except (RuntimeError, ValueError) as error:
            raise WorkersError(
                f"worker {rank} of {size} could not join the others: {error}"
            ) from None
    return Workers(rank=rank, size=size)
