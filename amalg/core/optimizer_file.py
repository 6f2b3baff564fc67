"""Portable optimizer files: a trained student as one safetensors file with its card.

::

    NAME.safetensors    the student's meta-parameters (safetensors: tensors only, nothing is
                        ever unpickled), and in the header's metadata, under "amalg", the card:
                        a JSON object naming the student and its config, the file format
                        version, the amalg version that wrote it, and how the student was
                        trained (task, teachers and their learning rates, scheme, estimator,
                        perturbation, seed, the run's validation result)

The card can be read without the tensors (``read_card``: ``amalg list pretrained`` does).
A file written by a newer format, a card naming an unknown student, tensors that do not fit
that student (missing, extra, other shapes: another student's), or a damaged or foreign file
is refused with one line (:class:`OptimizerFileError`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from amalg.core.errors import AmalgError

if TYPE_CHECKING:
    from amalg.core.interfaces import Student
    from amalg.core.registry import Registry

__all__ = [
    "FORMAT_VERSION",
    "OptimizerCard",
    "OptimizerFileError",
    "TrainingRecord",
    "load_file_student",
    "pretrained_files",
    "read_card",
    "read_optimizer_file",
    "resolve_student",
    "write_optimizer_file",
]

FORMAT_VERSION = 1
"""The card format this amalg writes and the newest it reads."""
METADATA_KEY = "amalg"
SUFFIX = ".safetensors"
PRETRAINED_PACKAGE = "amalg.pretrained"


class OptimizerFileError(AmalgError):
    """An optimizer file cannot be read or written as asked."""


class TeacherRecord(BaseModel):
    """A teacher the student learned from, at the learning rate it was used with."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")
    name: str
    label: str | None = None
    lr: float | None = Field(None, description="Its learning rate on the training task.")
    config: dict[str, Any] = Field(default_factory=dict)


class TrainingRecord(BaseModel):
    """How a student was trained: what a reader needs to judge it, taken from its run."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")
    run: str = Field(description="The run's name.")
    task: str
    task_config: dict[str, Any] = Field(default_factory=dict)
    teachers: list[TeacherRecord] = Field(default_factory=list)
    scheme: str
    estimator: str
    perturbation: str | None = None
    strategy: str
    seed: int
    checkpoint: str = Field(description="The checkpoint the run selected and saved.")
    validation: dict[str, float | None] = Field(
        default_factory=dict,
        description="The student's best validation loss per task of the run's comparison "
        "(None where it diverged).",
    )


class OptimizerCard(BaseModel):
    """What an optimizer file says about its student."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")
    format: Literal["amalg-optimizer"] = "amalg-optimizer"
    format_version: int = Field(FORMAT_VERSION, ge=1, le=FORMAT_VERSION, strict=True)
    amalg_version: str
    name: str = Field(description="A short name (the pretrained name of a shipped one).")
    description: str = ""
    student: str
    config: dict[str, Any] = Field(default_factory=dict)
    training: TrainingRecord | None = None


def write_optimizer_file(
    path: str | os.PathLike[str], card: OptimizerCard, weights: Mapping[str, torch.Tensor]
) -> Path:
    """Write ``weights`` and ``card`` to ``path`` (a ``.safetensors`` file) atomically; the
    path written."""
    from safetensors.torch import save

    from amalg.core.run_folder import atomic_write

    target = Path(path)
    if target.suffix != SUFFIX:
        raise OptimizerFileError(
            f"an optimizer file is named NAME{SUFFIX}, not {target.name!r}: give such a file "
            "name or a folder"
        )
    tensors = {key: value.detach().cpu().contiguous() for key, value in weights.items()}
    data = save(tensors, metadata={METADATA_KEY: card.model_dump_json()})
    try:
        atomic_write(target, lambda file: file.write(data), binary=True)
    except OSError as error:
        raise OptimizerFileError(
            f"cannot write {target}: {error.strerror or error}; choose another --out"
        ) from None
    return target


def _header(path: Path) -> dict[str, Any]:
    """The safetensors header of ``path`` (its JSON), read by hand: the card is needed without
    the tensors, and a damaged file must be one line, not a Rust panic."""
    try:
        with path.open("rb") as file:
            prefix = file.read(8)
            if len(prefix) < 8:
                raise ValueError("it is too short")
            size = int.from_bytes(prefix, "little")
            if size > 100_000_000 or size > path.stat().st_size - 8:
                raise ValueError("its header is damaged")
            header = json.loads(file.read(size).decode("utf-8"))
    except FileNotFoundError:
        raise OptimizerFileError(f"optimizer file {path} does not exist") from None
    except IsADirectoryError:
        raise OptimizerFileError(f"{path} is a folder, not an optimizer file") from None
    except OSError as error:
        raise OptimizerFileError(f"cannot read optimizer file {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        reason = str(error) if type(error) is ValueError else "damaged"
        raise OptimizerFileError(
            f"{path} is not an optimizer file amalg can read ({reason}): it is damaged or not "
            "a safetensors file"
        ) from None
    if not isinstance(header, dict):
        raise OptimizerFileError(f"{path} is not a safetensors file: its header is not a table")
    return header


def read_card(path: str | os.PathLike[str]) -> OptimizerCard:
    """The card of an optimizer file, without reading its tensors."""
    target = Path(path)
    metadata = _header(target).get("__metadata__")
    text = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if not isinstance(text, str):
        raise OptimizerFileError(
            f"{target} holds tensors but no amalg card: it is not an optimizer amalg wrote"
        )
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise OptimizerFileError(f"the card of {target} is damaged: it is not JSON") from None
    if isinstance(raw, dict):
        version = raw.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise OptimizerFileError(
                f"{target} was written in optimizer format {version} by amalg "
                f"{raw.get('amalg_version', '?')}; this amalg reads format {FORMAT_VERSION} at "
                "most: upgrade amalg to load it"
            )
    try:
        return OptimizerCard.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(card)"
        raise OptimizerFileError(
            f"the card of {target} is damaged or not amalg's ({where}: {first['msg']})"
        ) from None


def read_optimizer_file(path: str | os.PathLike[str]) -> tuple[OptimizerCard, dict[str, Any]]:
    """The card and the tensors of an optimizer file (CPU tensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    target = Path(path)
    card = read_card(target)
    try:
        weights = load_file(target, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise OptimizerFileError(
            f"the tensors of {target} cannot be read "
            f"({(str(error).splitlines() or ['unreadable'])[0]}): the file is damaged"
        ) from None
    return card, dict(weights)


def load_file_student(
    path: str | os.PathLike[str], registry: Registry | None = None
) -> tuple[Student, OptimizerCard]:
    """The student an optimizer file holds, its weights checked against the card's student."""
    from amalg.core.interfaces import Student
    from amalg.core.registry import get_registry
    from amalg.core.run_folder import fit_weights

    card, weights = read_optimizer_file(path)
    try:
        student = (registry or get_registry()).create("student", card.student, **card.config)
    except AmalgError as error:
        raise OptimizerFileError(f"{path} names a student amalg cannot build: {error}") from None
    if not isinstance(student, Student):  # pragma: no cover - the registry checks kinds
        raise OptimizerFileError(f"{card.student!r} is not a student")
    fit_weights(student, weights, f"the weights in {path}")
    return student, card


def pretrained_files() -> dict[str, Path]:
    """The optimizer files shipped with amalg (``amalg/pretrained/``), by name."""
    from importlib import resources

    folder = resources.files(PRETRAINED_PACKAGE)
    return {
        entry.name.removesuffix(SUFFIX): Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(SUFFIX)
    }


def resolve_student(source: str | os.PathLike[str]) -> tuple[Student, OptimizerCard | None]:
    """The trained student ``source`` names, and its card when it has one: a run folder (or
    its ``optimizer/`` folder), an optimizer file (``.safetensors``), or the name of a
    pretrained optimizer (``amalg list pretrained``)."""
    from amalg.core.errors import close_matches
    from amalg.core.export import run_card
    from amalg.core.run_folder import RunFolder, load_student

    path = Path(source)
    if path.is_file() or path.suffix == SUFFIX:
        return load_file_student(path)
    if path.is_dir():
        student = load_student(path)
        folder = RunFolder(path)
        card = run_card(path)[0] if folder.holds_run() and folder.read_result() else None
        return student, card
    files = pretrained_files()
    if str(source) in files:
        return load_file_student(files[str(source)])
    names = sorted(files)
    hint = close_matches(str(source), names)
    raise OptimizerFileError(
        f"{str(source)!r} is no run folder, optimizer file or pretrained optimizer"
        + (f" (did you mean {', '.join(hint)}?)" if hint else "")
        + f"; pretrained: {', '.join(names) or 'none installed'}"
    )
