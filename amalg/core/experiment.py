"""The experiment folder of a run, written so that nothing is ever half-written.

::

    config.json        the fully resolved run config (``amalg run --config`` reproduces it)
    summary.csv        one row per period (deterministic numbers only: same seed, same file)
    evaluation.csv     the final student/teacher comparison; result.json marks the run done
    timing.csv         wall time per period (not deterministic, so kept apart)
    checkpoints/       stage_S.P.pt: phi, meta-optimizer, strategy state, progress
    log/               stage_S.P.npz: per-truncation meta-loss and imitation per teacher
    eval/<task>/       <checkpoint>.npz: arrays shaped [repeat, step] and [repeat, evaluation]
    optimizer/         the final student: config.json + weights.pt, what amalg.load() reads

Every file is written to a temporary name in its folder and renamed into place. Weights are
read back with ``torch.load(weights_only=True)``: no arbitrary objects are unpickled.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amalg.core.errors import AmalgError

__all__ = ["ExperimentError", "ExperimentFolder", "atomic_write"]


class ExperimentError(AmalgError):
    """An experiment folder cannot be used as asked."""


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Write ``path`` through ``write(file)`` on a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if binary else "w", newline="" if not binary else None) as file:
            write(file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ExperimentFolder:
    """Reads and writes one run's folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- config --------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def exists(self) -> bool:
        return self.config_path.exists()

    def read_config(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ExperimentError(f"cannot read {self.config_path}: {error}") from None

    def write_config(self, config: Mapping[str, Any]) -> None:
        text = json.dumps(config, indent=2) + "\n"
        atomic_write(self.config_path, lambda file: file.write(text))

    # -- the result ----------------------------------------------------------------------

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    def write_result(self, result: Mapping[str, Any]) -> None:
        """Written last: its presence marks the run complete."""
        text = json.dumps(dict(result), indent=2) + "\n"
        atomic_write(self.result_path, lambda file: file.write(text))

    def read_result(self) -> dict[str, Any] | None:
        if not self.result_path.exists():
            return None
        return json.loads(self.result_path.read_text())

    # -- tables --------------------------------------------------------------------------

    def write_csv(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
        atomic_write(self.path / name, lambda file: file.write(text))

    def read_csv(self, name: str) -> list[dict[str, str]]:
        """The rows of a CSV file of the folder (none if it is not there)."""
        path = self.path / name
        if not path.exists():
            return []
        with path.open(newline="") as file:
            return list(csv.DictReader(file))

    def write_npz(self, relative: str, arrays: Mapping[str, Any]) -> None:
        def write(file: Any) -> None:
            np.savez(file, **{key: np.asarray(value) for key, value in arrays.items()})

        atomic_write(self.path / relative, write, binary=True)

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.pt"

    def save_checkpoint(self, name: str, payload: Mapping[str, Any]) -> None:
        atomic_write(
            self.checkpoint_path(name), lambda file: torch.save(dict(payload), file), binary=True
        )

    def load_checkpoint(self, name: str) -> dict[str, Any]:
        path = self.checkpoint_path(name)
        try:
            return torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError) as error:
            raise ExperimentError(f"cannot read checkpoint {path}: {error}") from None

    def latest_checkpoint(self) -> str | None:
        """The name of the last period's checkpoint (``stage_S.P``, highest S then P)."""
        folder = self.path / "checkpoints"
        found = []
        for path in folder.glob("stage_*.pt") if folder.is_dir() else ():
            stage, _, period = path.stem.removeprefix("stage_").partition(".")
            if stage.isdigit() and period.isdigit():
                found.append((int(stage), int(period), path.stem))
        return max(found)[2] if found else None

    # -- the final optimizer -------------------------------------------------------------

    def save_optimizer(
        self, kind_name: str, config: Mapping[str, Any], weights: Mapping[str, torch.Tensor]
    ) -> None:
        folder = self.path / "optimizer"
        text = json.dumps({"student": kind_name, "config": dict(config)}, indent=2) + "\n"
        atomic_write(folder / "config.json", lambda file: file.write(text))
        state = {key: value.detach().cpu() for key, value in weights.items()}
        atomic_write(folder / "weights.pt", lambda file: torch.save(state, file), binary=True)
