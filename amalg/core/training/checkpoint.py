"""The checkpoint written at every period's end, as a typed value.

A checkpoint holds the learner twice: as the period ended (what a later best-reload
restores) and as training continues from it (the same, unless the period ended its stage
and the stage's best was reloaded), plus the progress. On disk it is a dict of tensors and
plain values, read back with ``torch.load(weights_only=True)``; :meth:`Checkpoint.from_payload`
checks its shape, so a file that is not one of amalg's checkpoints is refused with a reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from amalg.core.training.progress import Progress

__all__ = ["FORMAT", "Checkpoint", "LearnerState", "describe_mismatch", "fingerprint"]

FORMAT = "amalg-checkpoint/1"


def fingerprint(config: Mapping[str, Any]) -> str:
    """A digest of a resolved run config (as ``config.json`` holds it)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LearnerState:
    """The student's meta-parameters phi and its meta-optimizer's state dict."""

    phi: dict[str, Tensor]
    optimizer: dict[str, Any]


def _tensors(value: Any, what: str) -> dict[str, Tensor]:
    if not (
        isinstance(value, dict)
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items())
    ):
        raise ValueError(f"its {what} is not a set of named tensors")
    return value


def _optimizer(value: Any, what: str) -> dict[str, Any]:
    if not (isinstance(value, dict) and {"state", "param_groups"} <= set(value)):
        raise ValueError(f"its {what} is not an optimizer state")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """What a period's end saves."""

    run: str
    """The fingerprint of the run config that wrote it (:func:`fingerprint`): a checkpoint
    copied from another run is refused."""
    progress: Progress
    period_end: LearnerState
    """The learner as the period ended, before any reload: what a best-reload restores."""
    current: LearnerState
    """The learner that training continues with."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "run": self.run,
            "phi": self.period_end.phi,
            "period_meta_optimizer": self.period_end.optimizer,
            "continue_phi": self.current.phi,
            "meta_optimizer": self.current.optimizer,
            **self.progress.to_payload(),
        }

    @classmethod
    def from_payload(cls, payload: Any) -> Checkpoint:
        """The checkpoint in ``payload``; ValueError saying why when it is not one."""
        if not (isinstance(payload, Mapping) and payload.get("format") == FORMAT):
            raise ValueError(f"it is not an amalg checkpoint ({FORMAT})")
        if not isinstance(payload.get("run"), str):
            raise ValueError("it names no run")
        try:
            return cls(
                run=payload["run"],
                progress=Progress.from_payload(payload),
                period_end=LearnerState(
                    _tensors(payload["phi"], "phi"),
                    _optimizer(payload["period_meta_optimizer"], "meta-optimizer"),
                ),
                current=LearnerState(
                    _tensors(payload["continue_phi"], "phi"),
                    _optimizer(payload["meta_optimizer"], "meta-optimizer"),
                ),
            )
        except KeyError as error:
            raise ValueError(f"it lacks {error}") from None


def describe_mismatch(own: Mapping[str, Tensor], saved: Mapping[str, Tensor]) -> str:
    """How saved meta-parameters differ from a student's own ("" when they fit)."""
    missing = sorted(set(own) - set(saved))
    extra = sorted(set(saved) - set(own))
    shapes = sorted(key for key in set(own) & set(saved) if own[key].shape != saved[key].shape)
    return "; ".join(
        f"{what}: {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}"
        for what, keys in (("missing", missing), ("unexpected", extra), ("other shape", shapes))
        if keys
    )
