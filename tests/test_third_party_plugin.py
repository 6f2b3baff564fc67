"""The example third-party package, pip-installed, shows up in amalg and passes the contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "amalg-adagrad"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy: a build leaves build/ and *.egg-info/ beside the sources.
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("src") / "amalg-adagrad")
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return target


def _run(site: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("AMALG_DISABLE_PLUGINS", None)
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, cwd=cwd)


def test_a_pip_installed_teacher_appears_in_amalg_list(site: Path) -> None:
    result = _run(site, "-m", "amalg", "list", "teacher", "--json")
    assert result.returncode == 0, result.stderr
    records = {record["name"]: record for record in json.loads(result.stdout)["components"]}
    assert records["adagrad"]["package"] == "amalg-adagrad"
    assert records["adagrad"]["plugin"] == "adagrad"


def test_a_pip_installed_teacher_can_be_created(site: Path) -> None:
    code = "import amalg; print(amalg.create('teacher', 'adagrad', lr=0.1).config.lr)"
    result = _run(site, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.1"


def test_a_pip_installed_teacher_passes_the_shipped_contract_suites(site: Path) -> None:
    # The documented one line, run where the plugin's author would: outside amalg's tree.
    result = _run(
        site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "amalg.testing",
        "--amalg-plugin", "adagrad", cwd=site,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary
    counts = _run(
        site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "amalg.testing",
        "--amalg-plugin", "adagrad", "--collect-only", cwd=site,
    )  # fmt: skip
    # The teacher contract and the end-to-end run, each over adagrad alone.
    collected = [line for line in counts.stdout.splitlines() if "::" in line]
    assert collected and all("adagrad" in line.partition("[")[2] for line in collected), collected
    assert any(line.startswith("test_teachers.py::") for line in collected)
    assert any(
        "test_runs.py::test_every_teacher_completes_a_tiny_run" in line for line in collected
    )


def test_a_plugin_name_that_is_not_installed_stops_the_suites(site: Path) -> None:
    result = _run(
        site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "amalg.testing",
        "--amalg-plugin", "adagard", cwd=site,
    )  # fmt: skip
    assert result.returncode == 4  # a usage error, not a silent pass
    assert "--amalg-plugin adagard: no plugin of that name is installed" in result.stderr
    assert "adagrad" in result.stderr
