"""What a run will allocate, known before it allocates anything, and whether that fits.

Sizes come from the task's abstract parameters (``meta`` tensors: shapes and dtypes, no
memory) and the optimizer states the student and teachers build for them, also on the
``meta`` device. The largest item is usually the autograd graph of one truncation: every
unrolled step keeps the student's activations (``Student.graph_ratio`` times its state) and
the task parameters of that step. The task's own forward activations are not counted (a
first-order truncation of a task whose gradient oracle is its loss's gradient does not keep
them, see ``UnrollEngine._loss_and_gradient``; a second-order one, or DP-SGD's, does), so
the total is a floor: a run refused here could never have fitted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from amalg.core.errors import AmalgError
from amalg.core.functional import tree_leaves

if TYPE_CHECKING:
    from amalg.core.runconfig import RunSettings
    from amalg.core.training.build import Components

__all__ = ["Allocation", "BudgetError", "available_memory", "check_budget", "run_allocations"]

GiB = 2**30


class BudgetError(AmalgError):
    """A run would need more memory than the machine has."""


@dataclass(frozen=True)
class Allocation:
    """One thing a run holds in memory at its peak, and its size in bytes."""

    what: str
    bytes: int


def _bytes(tree: object) -> int:
    return sum(
        leaf.numel() * leaf.element_size()
        for leaf in tree_leaves(tree)
        if isinstance(leaf, torch.Tensor)
    )


def run_allocations(config: RunSettings, components: Components) -> list[Allocation]:
    """The run's largest allocations, estimated from shapes alone."""
    params = components.task.abstract_params()
    coordinates = sum(value.numel() for value in params.values())
    param_bytes = _bytes(params)
    student = components.student
    state_bytes = _bytes(student.init(params))
    teachers = components.teachers
    teacher_bytes = sum(_bytes(teacher.init(params)) for teacher in teachers)
    first = components.strategy.next_period(components.strategy.start())
    truncation = first.truncation if first is not None else 0
    per_step = int(state_bytes * student.graph_ratio) + param_bytes * (2 + len(teachers))
    evaluation = config.evaluation
    curves = evaluation.seeds * evaluation.horizon * 8 * 4
    return [
        Allocation(
            f"the autograd graph of a {truncation}-step truncation "
            f"({coordinates:,} task coordinates)",
            truncation * per_step,
        ),
        Allocation(
            "the optimizer states of the student and teachers",
            state_bytes + teacher_bytes + param_bytes * (1 + len(teachers)),
        ),
        Allocation(
            f"the evaluation curves ({evaluation.seeds} seeds x {evaluation.horizon} steps)",
            curves,
        ),
    ]


def _machine_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """What the process's control group (a container, a batch job) still lets it use."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            return max(int(limit) - usage, 0)
    return None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now: what the machine has free, or
    less where a control group limits the process (None where unknown)."""
    known = [value for value in (_machine_available(), _cgroup_available()) if value is not None]
    return min(known) if known else None


def check_budget(config: RunSettings, components: Components) -> list[Allocation]:
    """The run's allocations; raises :class:`BudgetError` when they cannot fit in the
    memory available now."""
    allocations = run_allocations(config, components)
    device = components.device
    if device.type == "cuda":
        # The graph and the states live on the GPU: its free memory is the limit.
        available: int | None = int(torch.cuda.mem_get_info(device)[0])
        where = f"free on {device}"
    else:
        available, where = available_memory(), "available"
    total = sum(item.bytes for item in allocations)
    if available is not None and total > available:
        largest = max(allocations, key=lambda item: item.bytes)
        raise BudgetError(
            f"this run would hold at least {total / GiB:.1f} GiB in memory (largest: "
            f"{largest.what}, {largest.bytes / GiB:.1f} GiB) but {available / GiB:.1f} GiB "
            f"is {where}; shorten the truncation, shrink the student or the task, or lower "
            "evaluation.horizon and evaluation.seeds"
        )
    return allocations
