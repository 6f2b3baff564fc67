"""End to end: every registered scheme (with a teacher count it takes), student (with every
estimator), teacher, strategy and perturbation completes a tiny ``amalg run`` and leaves a trained
optimizer that ``amalg.load`` reads back and that updates parameters.

Each run takes the ``--quick`` presets on a 6-dimensional quadratic; the component under
test replaces one default (teacher adam, scheme imitation, student rnnprop, estimator tbptt,
strategy curriculum, no perturbation).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import amalg
from amalg.cli import app
from amalg.testing import checks
from amalg.testing.problems import random_params

pytestmark = pytest.mark.usefixtures("amalg_registry", "amalg_data_dir")

TINY = [
    "--quick", "--task", "quadratic", "--set", "task.quadratic.dimension=6",
    "--set", "evaluation.horizon=6", "--set", "evaluation.every=3",
]  # fmt: skip
POOL = ["adam", "rmsprop", "sgd", "momentum"]
# One period of two 10-step trajectories of the default strategy: these runs are many, and each
# needs only to complete (the strategies' own run keeps the full quick schedule).
ONE_PERIOD = [
    "--set", "strategy.curriculum.unrolls=[10]", "--set", "strategy.curriculum.alphas=[0.1]",
    "--set", "strategy.curriculum.max_periods=1",
]  # fmt: skip


def tiny_run(folder: Path, *args: str) -> amalg.core.interfaces.Student:
    """Run ``amalg run`` on the tiny budget into ``folder``; the student it leaves."""
    result = CliRunner().invoke(app, ["run", *TINY, *args, "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "result.json").is_file()
    student = amalg.load(folder)
    params = random_params()
    with torch.no_grad():
        delta, _ = student.update(random_params(seed=1), student.init(params), params, 0)
    assert delta.keys() == params.keys()
    assert all(torch.isfinite(value).all() for value in delta.values())
    return student


def teacher_options(count: int) -> list[str]:
    """``--teacher`` options for ``count`` teachers (labels once the pool runs out)."""
    options = []
    for index in range(count):
        name = POOL[index % len(POOL)]
        label = f"{name}:{name}{index}" if index >= len(POOL) else name
        options += ["--teacher", label]
    return options


def test_every_scheme_completes_a_tiny_run(scheme_name: str, tmp_path: Path) -> None:
    scheme = amalg.create("scheme", scheme_name)
    high = scheme.max_teachers
    count = max(scheme.min_teachers, min(2, high if high is not None else 2))
    tiny_run(tmp_path / "run", "--scheme", scheme_name, *teacher_options(count), *ONE_PERIOD)


def test_every_student_completes_a_tiny_run_with_every_estimator(
    student_name: str, estimator_name: str, tmp_path: Path
) -> None:
    student = tiny_run(
        tmp_path / "run", "--student", student_name, "--estimator", estimator_name,
        "--teacher", "adam", "--scheme", "imitation", *ONE_PERIOD,
    )  # fmt: skip
    assert student.name == student_name


def example_options(kind: str, name: str, folder: Path) -> list[str]:
    """``--set`` options giving a component its example config (``checks.example``)."""
    options = []
    for field, value in checks.example(kind, name, folder).items():
        options += ["--set", f"{kind}.{name}.{field}={json.dumps(value)}"]
    return options


def test_every_teacher_completes_a_tiny_run(teacher_name: str, tmp_path: Path) -> None:
    tiny_run(
        tmp_path / "run", "--teacher", teacher_name, "--scheme", "imitation",
        *example_options("teacher", teacher_name, tmp_path), *ONE_PERIOD,
    )  # fmt: skip


def test_every_strategy_completes_a_tiny_run(strategy_name: str, tmp_path: Path) -> None:
    tiny_run(
        tmp_path / "run", "--strategy", strategy_name, "--teacher", "adam",
        "--scheme", "imitation",
    )  # fmt: skip


def test_every_perturbation_completes_a_tiny_run(perturbation_name: str, tmp_path: Path) -> None:
    tiny_run(
        tmp_path / "run", "--perturbation", perturbation_name, "--teacher", "adam",
        "--scheme", "imitation", *ONE_PERIOD,
    )  # fmt: skip
