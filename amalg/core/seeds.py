"""Seed derivation: every random choice of a run has an address, and its generator is a pure
function of that address.

A run's draws (the student's initial phi, each trajectory's data stream, each validation
and evaluation seed, the estimator's noise for each truncation, a perturbation's draw for
each truncation start) are seeded by ``(seed, purpose, *counters)`` through NumPy's
``SeedSequence``, never taken from a running generator. So the same config and seed give
the same numbers, a resumed run continues as if it had never stopped, and a truncation
replayed from its start (ES pairs, adversarial steps) draws the same noise again.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

__all__ = ["PURPOSES", "Purpose", "derive_seed", "generator_at"]

Purpose = Literal[
    "student",
    "train",
    "validation",
    "evaluation",
    "estimator",
    "perturbation",
    "inputs",
    "tuning",
]
PURPOSES: dict[str, int] = {
    "student": 0,
    "train": 1,
    "validation": 2,
    "evaluation": 3,
    "estimator": 4,
    "perturbation": 5,
    "inputs": 6,
    "tuning": 7,
}


def derive_seed(seed: int, purpose: Purpose, *counters: int) -> int:
    """A seed for one random choice, independent of every other address's."""
    entropy = (seed, PURPOSES[purpose], *counters)
    return int(np.random.SeedSequence(entropy).generate_state(1)[0]) % (2**62)


def generator_at(seed: int, purpose: Purpose, *counters: int) -> torch.Generator:
    """A CPU generator seeded by ``derive_seed(seed, purpose, *counters)``."""
    return torch.Generator().manual_seed(derive_seed(seed, purpose, *counters))
