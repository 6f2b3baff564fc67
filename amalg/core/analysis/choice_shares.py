"""What a choice policy chose during meta-training: per period, the mean share of each
teacher in its soft choices (the ``choice/<teacher>`` values the choice network reports,
:meth:`amalg.plugins.students.choice.Choice.observe`), against meta-training steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amalg.core.run_folder import RunFolder, RunFolderError

__all__ = ["ChoiceShares", "read_choice_shares"]

_PREFIX = "choice/"


@dataclass(frozen=True)
class ChoiceShares:
    """One run's choice policy over meta-training."""

    steps: tuple[int, ...]
    """Meta-training steps (trajectories times unroll, summed) at each period's end."""
    shares: dict[str, tuple[float, ...]]
    """Per teacher, its mean share over every coordinate, per period."""


def _policy_folder(run: Path) -> RunFolder | None:
    """The folder whose student is a choice policy: the run's ``policy/`` phase, else the
    run itself when it trained one; None if neither did."""
    for folder in (RunFolder(run / "policy"), RunFolder(run)):
        rows = folder.summary() if folder.holds_run() else []
        if rows:
            names = folder.read_period_log(_checkpoint(rows[-1])).get("observed_names")
            if names is not None and any(str(n).startswith(_PREFIX) for n in names):
                return folder
    return None


def _checkpoint(row: dict[str, str]) -> str:
    return f"stage_{row['stage']}.{row['period']}"


def read_choice_shares(run: str | Path) -> ChoiceShares | None:
    """The choice shares of the run folder ``run`` (None for a run without a choice policy);
    :class:`RunFolderError` when its logs are damaged."""
    folder = _policy_folder(Path(run))
    if folder is None:
        return None
    steps, total = [], 0
    periods: list[dict[str, float]] = []
    for row in folder.summary():
        try:
            total += int(row["trajectories"]) * int(row["unroll"])
        except (KeyError, ValueError):
            raise RunFolderError(f"{folder.path / 'summary.csv'} is damaged") from None
        arrays = folder.read_period_log(_checkpoint(row))
        names = [str(name) for name in arrays.get("observed_names", [])]
        table = np.asarray(arrays.get("observed", np.zeros((0, len(names)))), dtype=float)
        period = {}
        for column, name in enumerate(names):
            teacher = name.removeprefix(_PREFIX)
            values = table[:, column] if table.ndim == 2 else np.zeros(0)
            values = values[np.isfinite(values)]
            if name.startswith(_PREFIX) and "/" not in teacher and values.size:
                period[teacher] = float(values.mean())
        steps.append(total)
        periods.append(period)
    teachers = list(dict.fromkeys(teacher for period in periods for teacher in period))
    return ChoiceShares(
        tuple(steps),
        {t: tuple(period.get(t, float("nan")) for period in periods) for t in teachers},
    )
