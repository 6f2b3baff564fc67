"""The run folder: the one owner of a run's file layout, of every write into it, and of the
rules for claiming a folder (a new run, a resume, a finished run, a refusal).

::

    config.json        the fully resolved run config (``amalg run --config`` reproduces it)
    summary.csv        one row per period (deterministic numbers only: same seed, same file)
    evaluation.csv     the final student/teacher comparison; result.json marks the run done
    timing.csv         wall time per period (not deterministic, so kept apart)
    checkpoints/       stage_S.P.pt: phi, meta-optimizer, strategy state, progress
    log/               stage_S.P.npz: per-truncation meta-loss and imitation per teacher
    eval/<task>/       <checkpoint>-<optimizer>.npz: arrays [seed, step], [seed, evaluation]
    optimizer/         the final student: config.json + weights.pt, what amalg.load() reads

Every file is written to a temporary name in its folder and renamed into place, with the
permissions the user's umask gives new files. Weights are read back with
``torch.load(weights_only=True)``: no arbitrary objects are unpickled, and a file that is
damaged or not amalg's is refused with one line.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from amalg.core.analysis.comparison import TaskComparison
from amalg.core.errors import AmalgError
from amalg.core.training.checkpoint import Checkpoint, describe_mismatch
from amalg.core.training.progress import PeriodSummary

if TYPE_CHECKING:
    from amalg.core.interfaces import Student
    from amalg.core.registry import Registry

__all__ = [
    "Claim",
    "RunFolder",
    "RunFolderError",
    "atomic_write",
    "fit_weights",
    "load_student",
    "read_saved_optimizer",
    "read_tensors",
]


class RunFolderError(AmalgError):
    """A run folder, or a file in it, cannot be used as asked."""


class Claim(enum.Enum):
    """What a folder is to a run about to start."""

    NEW = "new"
    """It was free; it now holds the run's config."""
    RESUME = "resume"
    """It holds this run, unfinished, and a resume was asked for."""
    FINISHED = "finished"
    """It holds this run, finished: nothing to do but show its result."""


def _umask() -> int:
    """The process's umask, read from /proc where Linux shows it (setting it to read it, the
    only portable way, would change it for a moment for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Write ``path`` through ``write(file)`` on a temporary file renamed into place; the
    file gets the permissions the umask gives (mkstemp alone would leave it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if binary else "w", newline="" if not binary else None) as file:
            write(file)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_tensors(path: Path, what: str, hint: str = "") -> dict[str, Any]:
    """A file of tensors and plain values written by ``torch.save``, read without
    unpickling anything else; :class:`RunFolderError` when it is missing or damaged
    (``hint``: what the user can do about it)."""
    hint = f"; {hint}" if hint else ""
    try:
        loaded = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise RunFolderError(f"{what} {path} is missing{hint}") from None
    except KeyboardInterrupt:
        raise
    except Exception:  # a damaged file fails in many ways; none of them is the user's code
        raise RunFolderError(
            f"cannot read {what} {path}: it is damaged or not a file amalg wrote (amalg reads "
            f"tensors and plain values only, never other pickled objects){hint}"
        ) from None
    if not isinstance(loaded, dict):
        raise RunFolderError(f"{what} {path} is not amalg's: it holds no named tensors{hint}")
    return loaded


def _read_json(path: Path, what: str, hint: str = "") -> Any:
    hint = f"; {hint}" if hint else ""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{what} {path} is missing{hint}") from None
    except OSError as error:
        raise RunFolderError(
            f"cannot read {what} {path}: {error.strerror or error}{hint}"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RunFolderError(f"{what} {path} is damaged: it is not UTF-8 JSON{hint}") from None


class RunFolder:
    """Reads and writes one run's folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- claiming the folder -------------------------------------------------------------

    def precheck(self) -> None:
        """Refuse at once a path that can never be a run folder (a file), before any work that
        the full :meth:`claim` has to wait for."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} is a file, not a folder; choose another --out")

    def claim(self, config: Mapping[str, Any], resume: bool) -> Claim:
        """Check the folder can take the run of ``config`` and say how.

        A free folder (absent or empty) is claimed by writing the config. A folder holding
        this run, finished, is FINISHED; unfinished, it is a RESUME when ``resume`` is asked
        for. Anything else is refused, and nothing is overwritten: a folder holding a
        different run, or this run unfinished without ``resume``, or files that are not a run.
        """
        try:
            return self._claim(dict(config), resume)
        except OSError as error:
            raise RunFolderError(
                f"cannot use {self.path} as the run folder: {error.strerror or error}"
            ) from None

    def _claim(self, config: dict[str, Any], resume: bool) -> Claim:
        self.precheck()
        if self.holds_run():
            saved = _readable(self.read_config(), self.path)
            if saved == config and self.read_result() is not None:
                return Claim.FINISHED
            if resume:
                if saved != config:
                    changed = sorted(
                        key for key in set(saved) | set(config) if saved.get(key) != config.get(key)
                    )
                    raise RunFolderError(
                        f"{self.path} holds a run whose config differs in {', '.join(changed)}; "
                        "resume it with the command that started it, or with --resume alone"
                    )
                return Claim.RESUME
            if saved == config:
                raise RunFolderError(
                    f"{self.path} already holds this run, unfinished; --resume continues it, "
                    "or choose another --out or --name (nothing was overwritten)"
                )
            raise RunFolderError(
                f"{self.path} already holds a different run; choose another --out or --name "
                "(nothing was overwritten)"
            )
        if resume:
            raise RunFolderError(f"nothing to resume: {self.path} holds no run")
        if self.path.exists() and any(self.path.iterdir()):
            raise RunFolderError(
                f"{self.path} exists and is not an amalg run folder; choose another --out"
            )
        self.write_config(config)
        return Claim.NEW

    # -- config --------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def holds_run(self) -> bool:
        return self.config_path.exists()

    def read_config(self) -> dict[str, Any]:
        config = _read_json(
            self.config_path, "run config", "it cannot be resumed: start the run again elsewhere"
        )
        if not isinstance(config, dict):
            raise RunFolderError(f"run config {self.config_path} is damaged: not a table")
        return config

    def write_config(self, config: Mapping[str, Any]) -> None:
        text = json.dumps(config, indent=2) + "\n"
        atomic_write(self.config_path, lambda file: file.write(text))

    # -- meta-training records -----------------------------------------------------------

    def write_summary(self, periods: Sequence[PeriodSummary]) -> None:
        """``summary.csv``: one row per period."""
        self._write_csv("summary.csv", [summary.row() for summary in periods])

    def write_period_log(
        self, checkpoint: str, meta_losses: Sequence[float], imitation: np.ndarray,
        teachers: Sequence[str], perturbation: Sequence[float] | None = None,
        observed: Sequence[Mapping[str, float]] = (),
    ) -> None:  # fmt: skip
        """``log/<checkpoint>.npz``: the meta-loss of every applied truncation of the period,
        the imitation distance to each teacher, ``[truncation, teacher]``, for a run with a
        perturbation its relative norm ``||psi|| / ||phi||`` per truncation, and what the
        student reports of itself (``observed_names``, ``observed`` ``[truncation, name]``;
        the choice network's shares, say)."""
        arrays = {
            "meta_loss": np.asarray(meta_losses, dtype=float),
            "imitation": np.asarray(imitation, dtype=float).reshape(
                len(meta_losses), len(teachers)
            ),
            "teachers": np.asarray(teachers, dtype=str),
        }
        if perturbation is not None:
            arrays["perturbation"] = np.asarray(perturbation, dtype=float)
        names = sorted({name for row in observed for name in row})
        if names:
            arrays["observed_names"] = np.asarray(names, dtype=str)
            arrays["observed"] = np.asarray(
                [[row.get(name, np.nan) for name in names] for row in observed], dtype=float
            )
        self._write_npz(f"log/{checkpoint}.npz", arrays)

    def summary(self) -> list[dict[str, str]]:
        """The rows of ``summary.csv``, one per period (none before the first)."""
        return self._read_csv("summary.csv")

    def read_period_log(self, checkpoint: str) -> dict[str, np.ndarray]:
        """The arrays of ``log/<checkpoint>.npz`` (see :meth:`write_period_log`)."""
        path = self.path / "log" / f"{checkpoint}.npz"
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return {key: arrays[key] for key in arrays.files}
        except (OSError, ValueError, KeyError) as error:
            raise RunFolderError(f"period log {path} is damaged or missing: {error}") from None

    def record_timing(self, checkpoint: str, seconds: float) -> None:
        """``timing.csv``: a period's wall time (a period redone after a resume replaces its
        row)."""
        rows: list[dict[str, Any]] = [
            row for row in self.timing() if row.get("checkpoint") != checkpoint
        ]
        rows.append({"checkpoint": checkpoint, "seconds": f"{seconds:.3f}"})
        self._write_csv("timing.csv", rows)

    def timing(self) -> list[dict[str, str]]:
        """The rows of ``timing.csv`` (none before the first period)."""
        return self._read_csv("timing.csv")

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.pt"

    def save_checkpoint(self, name: str, checkpoint: Checkpoint) -> None:
        payload = checkpoint.to_payload()
        atomic_write(
            self.checkpoint_path(name), lambda file: torch.save(payload, file), binary=True
        )

    def load_checkpoint(self, name: str) -> Checkpoint:
        path = self.checkpoint_path(name)
        hint = "remove it and every later checkpoint to go back to the period before it"
        payload = read_tensors(path, "checkpoint", hint)
        try:
            return Checkpoint.from_payload(payload)
        except ValueError as error:
            raise RunFolderError(f"checkpoint {path} cannot be used: {error}; {hint}") from None

    def latest_checkpoint(self) -> str | None:
        """The name of the last period's checkpoint (``stage_S.P``, highest S then P)."""
        folder = self.path / "checkpoints"
        found = []
        for path in folder.glob("stage_*.pt") if folder.is_dir() else ():
            stage, _, period = path.stem.removeprefix("stage_").partition(".")
            if stage.isdigit() and period.isdigit():
                found.append((int(stage), int(period), path.stem))
        return max(found)[2] if found else None

    # -- evaluation and result -----------------------------------------------------------

    def write_curves(
        self, task: str, checkpoint: str, optimizer: str, arrays: Mapping[str, Any]
    ) -> None:
        """``eval/<task>/<checkpoint>-<optimizer>.npz``."""
        self._write_npz(f"eval/{task}/{checkpoint}-{optimizer}.npz", arrays)

    def write_comparison(self, tasks: Sequence[TaskComparison]) -> None:
        """``evaluation.csv``: the final tables, a row per task and optimizer."""
        rows = []
        for comparison in tasks:
            oracle = comparison.oracle
            for row in comparison.rows:
                values = row.to_dict()
                accuracy = values.pop("best_validation_accuracy", "")
                rows.append(
                    {
                        "task": comparison.task,
                        **values,
                        "best_validation_accuracy": accuracy,
                        "oracle": oracle is not None and row.optimizer == oracle.optimizer,
                    }
                )
        self._write_csv("evaluation.csv", rows)

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    def write_result(self, tasks: Sequence[TaskComparison], checkpoint: str) -> None:
        """Written last: its presence marks the run complete."""
        result = {"checkpoint": checkpoint, "tasks": [task.to_dict() for task in tasks]}
        text = json.dumps(result, indent=2) + "\n"
        atomic_write(self.result_path, lambda file: file.write(text))

    def read_result(self) -> tuple[list[TaskComparison], str] | None:
        """The final tables and the checkpoint they evaluated; None while the run is
        unfinished."""
        if not self.result_path.exists():
            return None
        redo = "delete it and run with --resume to redo the final evaluation"
        result = _read_json(self.result_path, "run result", redo)
        try:
            if not isinstance(result, dict) or not isinstance(result.get("tasks"), list):
                raise ValueError("it is not a run result")
            checkpoint = result.get("checkpoint")
            if not isinstance(checkpoint, str):
                raise ValueError("it names no checkpoint")
            return [TaskComparison.from_dict(task) for task in result["tasks"]], checkpoint
        except ValueError as error:
            raise RunFolderError(
                f"run result {self.result_path} is damaged ({error}); {redo}"
            ) from None

    # -- the final optimizer -------------------------------------------------------------

    @property
    def optimizer_path(self) -> Path:
        return self.path / "optimizer"

    def save_optimizer(
        self, student: str, config: Mapping[str, Any], weights: Mapping[str, torch.Tensor]
    ) -> None:
        folder = self.optimizer_path
        text = json.dumps({"student": student, "config": dict(config)}, indent=2) + "\n"
        state = {key: value.detach().cpu() for key, value in weights.items()}
        atomic_write(folder / "weights.pt", lambda file: torch.save(state, file), binary=True)
        atomic_write(folder / "config.json", lambda file: file.write(text))

    # -- plumbing ------------------------------------------------------------------------

    def _write_csv(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
        atomic_write(self.path / name, lambda file: file.write(text))

    def _read_csv(self, name: str) -> list[dict[str, str]]:
        path = self.path / name
        if not path.exists():
            return []
        try:
            with path.open(newline="", encoding="utf-8") as file:
                return list(csv.DictReader(file))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise RunFolderError(f"{path} is damaged: {error}") from None

    def _write_npz(self, relative: str, arrays: Mapping[str, Any]) -> None:
        def write(file: Any) -> None:
            values: dict[str, Any] = {key: np.asarray(value) for key, value in arrays.items()}
            np.savez(file, **values)

        atomic_write(self.path / relative, write, binary=True)


def _readable(saved: dict[str, Any], path: Path) -> dict[str, Any]:
    """The saved config as this version of amalg reads it: settings added since it was written
    take their defaults (which keep the old behaviour), so a run written before them is still
    this run. A config it cannot read at all (an older amalg's) is refused."""
    from amalg.core.errors import ConfigError
    from amalg.core.runconfig import validate_run_config

    try:
        return validate_run_config(saved).model_dump(mode="json")
    except ConfigError as error:
        first = error.problems[0] if error.problems else ("(config)", "unreadable")
        raise RunFolderError(
            f"{path} holds a run this version of amalg cannot read ({first[0]}: {first[1]}); "
            "it was written by another version: start the run again in another folder"
        ) from None


def read_saved_optimizer(
    path: str | os.PathLike[str],
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The student name, config and weights saved in a run folder (or its ``optimizer/``
    folder); :class:`RunFolderError` with one line when there is none or it is damaged."""
    folder = Path(path)
    if (folder / "optimizer").is_dir():
        folder = folder / "optimizer"
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise RunFolderError(
            f"no trained optimizer in {path}: give a finished run's folder or its optimizer/ folder"
        )
    saved = _read_json(config_path, "optimizer config")
    if not (
        isinstance(saved, dict)
        and isinstance(saved.get("student"), str)
        and isinstance(saved.get("config"), dict)
    ):
        raise RunFolderError(
            f"optimizer config {config_path} is not amalg's: it names no student and config"
        )
    weights = read_tensors(folder / "weights.pt", "optimizer weights")
    return saved["student"], saved["config"], weights


def fit_weights(student: Student, weights: Mapping[str, Any], what: str) -> None:
    """Load ``weights`` into ``student``; :class:`RunFolderError` naming ``what`` when they
    do not fit it (missing, unexpected, other shapes, not tensors): another student's or
    damaged."""
    details = describe_mismatch(student.state_dict(), weights)
    if details or not all(isinstance(value, torch.Tensor) for value in weights.values()):
        raise RunFolderError(
            f"{what} do not fit student {student.name!r} "
            f"({details or 'not all are tensors'}): they are another student's or damaged"
        )
    student.load_state_dict(weights)


def load_student(path: str | os.PathLike[str], registry: Registry | None = None) -> Student:
    """The trained student saved in a run folder (or its ``optimizer/`` folder)."""
    from amalg.core.interfaces import Student
    from amalg.core.registry import get_registry

    name, config, weights = read_saved_optimizer(path)
    student = (registry or get_registry()).create("student", name, **config)
    if not isinstance(student, Student):  # pragma: no cover - the registry checks kinds
        raise RunFolderError(f"{name!r} is not a student")
    fit_weights(student, weights, f"the optimizer weights in {path}")
    return student
