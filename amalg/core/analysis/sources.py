"""What can be evaluated: a run folder's student, a teacher, a saved optimizer.

A SOURCE on the command line is

- a run folder: the student of the checkpoint the run selected (``checkpoint`` picks another);
  runs whose configs differ only in name and seed are replicates of one optimizer;
- a teacher name, ``adam``: at its tuned learning rate for each task (from the tuning store,
  tuned first when none is stored), or ``adam@0.01``: at that learning rate;
- a saved optimizer folder (``RUN/optimizer``, or a copy of one), an optimizer file
  (``amalg export``'s ``NAME.safetensors``), or the name of a pretrained optimizer shipped
  with amalg (``amalg list pretrained``): the optimizer as it is, untuned.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from amalg.core.errors import AmalgError, close_matches
from amalg.core.interfaces import Student, Task, Teacher, UpdateRule
from amalg.core.optimizer_file import pretrained_files
from amalg.core.registry import Registry, get_registry
from amalg.core.run_folder import RunFolder, RunFolderError, load_student

__all__ = ["Source", "SourceError", "parse_source"]

Kind = Literal["run", "teacher", "optimizer"]


class SourceError(AmalgError):
    """A SOURCE that names nothing amalg can evaluate."""


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Source:
    """An optimizer to evaluate, and how reports group it."""

    text: str
    """As given on the command line."""
    kind: Kind
    label: str
    """How tables and figures name it (a teacher with its lr is labelled per task)."""
    group: str
    """The optimizer it is a replicate of (replicates of one group share a mixed model)."""
    replicate: str
    """Which replicate it is (a run's name; "-" for a teacher or a single optimizer)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Provenance written beside its evaluations."""
    teacher: str | None = None
    lr: float | None = None
    """A teacher's fixed learning rate (None: tuned per task)."""
    folder: Path | None = None
    checkpoint: str | None = None

    def key(self, lr: float | None = None) -> str:
        """A file name for its evaluations on one task (a tuned teacher's lr included)."""
        if self.kind == "teacher":
            rate = lr if lr is not None else self.lr
            return f"{self.teacher}@{rate:g}"
        return f"{self.kind}-{self.replicate}-{_digest(self.details)}"

    def rule(
        self,
        task: Task[Any],
        tuned_lr: Callable[[str, Task[Any]], float] | None = None,
        registry: Registry | None = None,
    ) -> tuple[UpdateRule[Any], dict[str, Any]]:
        """The update rule to evaluate on ``task`` and what it was (for the record)."""
        registry = registry or get_registry()
        if self.kind == "teacher":
            assert self.teacher is not None
            if self.lr is not None:
                lr, how = self.lr, "given"
            elif tuned_lr is not None:
                lr, how = tuned_lr(self.teacher, task), "tuned"
            else:
                raise SourceError(
                    f"teacher {self.teacher!r} needs a learning rate: {self.teacher}@LR"
                )
            teacher = cast(Teacher[Any], registry.create("teacher", self.teacher, lr=lr))
            return teacher, {"teacher": self.teacher, "lr": lr, "lr_source": how}
        if self.kind == "optimizer":
            assert self.folder is not None
            if self.folder.is_file():
                from amalg.core.optimizer_file import load_file_student

                return load_file_student(self.folder, registry)[0], dict(self.details)
            return load_student(self.folder, registry), dict(self.details)
        assert self.folder is not None and self.checkpoint is not None
        return _run_student(self.folder, self.checkpoint, registry), dict(self.details)


def _run_student(folder: Path, checkpoint: str, registry: Registry) -> Student[Any]:
    run = RunFolder(folder)
    config = run.read_config()
    student_choice = config.get("student")
    if not isinstance(student_choice, dict) or not isinstance(student_choice.get("name"), str):
        raise RunFolderError(f"run config {run.config_path} names no student")
    student = cast(
        Student[Any],
        registry.create("student", student_choice["name"], **student_choice.get("config", {})),
    )
    saved = run.load_checkpoint(checkpoint)
    from amalg.core.training.checkpoint import describe_mismatch

    details = describe_mismatch(student.state_dict(), saved.period_end.phi)
    if details:
        raise RunFolderError(
            f"checkpoint {run.checkpoint_path(checkpoint)} does not fit the run's student "
            f"({details})"
        )
    student.load_state_dict(saved.period_end.phi)
    return student


def _pool(settings: Any) -> str:
    """``(adam+rmsprop)`` for a student that chooses among a pool (a choice policy), so that
    policies over different pools read apart; empty otherwise."""
    pool = settings.get("pool") if isinstance(settings, dict) else None
    if not isinstance(pool, list):
        return ""
    keys = [str(m.get("label") or m.get("name")) for m in pool if isinstance(m, dict)]
    return f"({'+'.join(keys)})"


def _run_group(config: dict[str, Any]) -> tuple[str, str]:
    """A run's group label and digest: its config without name, seed and evaluation."""
    core = {k: v for k, v in config.items() if k not in ("name", "seed", "evaluation")}
    keys = []
    for kind in ("student", "scheme"):
        value = config.get(kind)
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            keys.append(value["name"] + _pool(value.get("config")))
    teachers = config.get("teachers")
    if isinstance(teachers, list):
        keys += [str(t.get("label") or t.get("name")) for t in teachers if isinstance(t, dict)]
    perturbation = config.get("perturbation")
    if isinstance(perturbation, dict) and perturbation.get("name"):
        keys.append(str(perturbation["name"]))
    estimator = config.get("estimator")
    # The default estimator goes unsaid, as in the run names.
    if isinstance(estimator, dict) and estimator.get("name") not in (None, "tbptt"):
        keys.append(str(estimator["name"]))
    return "-".join(keys) or "run", _digest(core)


def parse_source(
    text: str, checkpoint: str | None = None, registry: Registry | None = None
) -> Source:
    """The source ``text`` names; :class:`SourceError` (one line) if it names nothing."""
    registry = registry or get_registry()
    path = Path(text).expanduser()
    if path.is_dir() and (path / "config.json").is_file() and not (path / "weights.pt").exists():
        run = RunFolder(path)
        config = run.read_config()
        chosen = checkpoint
        if chosen is None:
            result = run.read_result()
            if result is None:
                latest = run.latest_checkpoint()
                raise SourceError(
                    f"run {path} is unfinished: it has selected no checkpoint yet; give one "
                    f"with --checkpoint (its latest is {latest})"
                    if latest
                    else f"run {path} has no checkpoint yet"
                )
            chosen = result[1]
        if not run.checkpoint_path(chosen).is_file():
            raise SourceError(f"run {path} has no checkpoint {chosen!r}")
        group, digest = _run_group(config)
        name = str(config.get("name", path.name))
        return Source(
            text=text,
            kind="run",
            label=f"{name}@{chosen}",
            group=f"{group}#{digest}",
            replicate=name,
            # The resolved path: the same run however it is spelled on the command line.
            details={"run": str(path.resolve()), "checkpoint": chosen, "config_digest": digest},
            folder=path,
            checkpoint=chosen,
        )
    if path.is_dir() and ((path / "weights.pt").exists() or (path / "optimizer").is_dir()):
        folder = path / "optimizer" if (path / "optimizer").is_dir() else path
        weights = folder / "weights.pt"
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:8] if weights.is_file() else "?"
        return Source(
            text=text,
            kind="optimizer",
            label=f"optimizer {folder.resolve().parent.name}/{folder.name}",
            group=f"optimizer-{digest}",
            replicate=digest,
            details={"optimizer": str(folder), "weights_digest": digest},
            folder=folder,
        )
    name, at, rate = text.partition("@")
    teachers = [info.name for info in registry.components("teacher")]
    shipped = pretrained_files()
    if (path.is_file() and path.suffix == ".safetensors") or (
        text in shipped and name not in teachers and not path.exists()
    ):
        from amalg.core.optimizer_file import read_card

        file = path if path.is_file() else shipped[text]
        card = read_card(file)
        digest = hashlib.sha256(file.read_bytes()).hexdigest()[:8]
        label = f"{card.name} (pretrained)" if file == shipped.get(text) else card.name
        return Source(
            text=text, kind="optimizer", label=label, group=f"{label}#{digest}",
            replicate=digest, details={"optimizer": str(file.resolve()), "weights_digest": digest},
            folder=file,
        )  # fmt: skip
    if name in teachers:
        lr = None
        if at:
            try:
                lr = float(rate)
            except ValueError:
                lr = math.nan
            if not (math.isfinite(lr) and lr > 0):
                raise SourceError(f"source {text!r}: the learning rate after @ must be positive")
        label = f"{name}@{lr:g}" if lr is not None else name
        return Source(
            text=text, kind="teacher", label=label, group=label, replicate="-",
            details={"teacher": name}, teacher=name, lr=lr,
        )  # fmt: skip
    if at or not path.exists():
        matches = close_matches(name, teachers)
        hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        raise SourceError(
            f"source {text!r} is neither a run folder, a saved optimizer nor a teacher{hint} "
            f"(teachers: {', '.join(teachers)}; pretrained: {', '.join(shipped) or 'none'})"
        )
    raise SourceError(
        f"source {text!r} is a path but not a run folder or a saved optimizer (no config.json "
        "or optimizer/ in it)"
    )
