"""`amalg run --scheme choice`: the policy phase, then the distillation, in one run folder,
resumable in either phase; `--pool`; the choice policy in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amalg.cli import app
from amalg.core.analysis.choice_shares import read_choice_shares
from amalg.core.analysis.sources import parse_source
from amalg.core.run_folder import RunFolder

LARGE = ("adam", "rmsprop", "sgd", "momentum", "addsign", "powersign")
# A 6-dimensional quadratic keeps the three runs of this module to seconds.
BASE = ["run", "--scheme", "choice", "--pool", "large", "--quick", "--no-tune",
        "--task", "quadratic", "--set", "task.quadratic.dimension=6",
        "--set", "evaluation.horizon=6", "--set", "evaluation.every=3"]  # fmt: skip
COMPARED = ("summary.csv", "evaluation.csv", "policy/summary.csv")


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


@pytest.fixture(scope="module")
def choice_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("choice") / "run"
    result = invoke(*BASE, "--out", str(folder))
    assert result.exit_code == 0, result.output
    assert "phase 1 of 2" in result.output and "phase 2 of 2" in result.output
    return folder


def test_both_phases_write_into_one_run_folder(choice_run):
    policy = json.loads((choice_run / "policy" / "optimizer" / "config.json").read_text())
    assert policy["student"] == "choice"
    assert [member["name"] for member in policy["config"]["pool"]] == list(LARGE)
    student = json.loads((choice_run / "optimizer" / "config.json").read_text())
    assert student["student"] == "rnnprop"
    # The student imitated the policy alone; the comparison keeps the pool's teachers.
    header = (choice_run / "summary.csv").read_text().splitlines()[0]
    assert "imitation_choice" in header and "imitation_adam" not in header
    rows = (choice_run / "evaluation.csv").read_text()
    assert all(name in rows for name in LARGE)
    # The policy is a source of its own; its report group names its pool.
    group = parse_source(str(choice_run / "policy")).group
    assert group.startswith(f"choice({'+'.join(LARGE)})-none#")
    shares = read_choice_shares(choice_run)
    assert shares is not None and set(shares.shares) == set(LARGE)
    assert all(0 <= value <= 1 for values in shares.shares.values() for value in values)


@pytest.mark.parametrize("stop_after", [1, 2], ids=["in-the-policy-phase", "in-distillation"])
def test_an_interrupted_choice_run_resumes_exactly(choice_run, tmp_path, monkeypatch, stop_after):
    folder = tmp_path / "stopped"
    original = RunFolder.record_timing
    periods = []

    def interrupt(self, name, seconds):
        original(self, name, seconds)
        periods.append(name)
        if len(periods) == stop_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "record_timing", interrupt)
    stopped = invoke(*BASE, "--out", str(folder))
    assert stopped.exit_code == 130, stopped.output
    assert not (folder / "result.json").exists()
    monkeypatch.setattr(RunFolder, "record_timing", original)
    resumed = invoke(*BASE, "--out", str(folder), "--resume")
    assert resumed.exit_code == 0, resumed.output
    for name in COMPARED:
        assert (folder / name).read_text() == (choice_run / name).read_text(), name
    assert (folder / "optimizer" / "weights.pt").read_bytes() == (
        choice_run / "optimizer" / "weights.pt"
    ).read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheme", "choice", "--teacher", "adam"], "takes at least 2 teacher(s), got 1"),
        (["--scheme", "choice", "--pool", "huge"], "unknown pool 'huge'"),
        (["--pool", "smal"], "did you mean 'small'"),
        (["--pool", "small", "--teacher", "sgd"], "--pool or with --teacher, not both"),
        (["--teacher", "adam", "--perturbation", "pgd", "--set", "perturbation.pgd.steps=0"],
         "steps"),
        (["--teacher", "adam", "--perturbation", "gaussian_rel",
          "--set", "perturbation.gaussian_rel.magnitude=0"], "magnitude"),
        (["--teacher", "adam", "--perturbation", "pgd", "--set", "perturbation.pgd.magnitude=-1"],
         "magnitude"),
    ],
)  # fmt: skip
def test_bad_choice_and_perturbation_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    folder = tmp_path / "never"
    result = invoke("run", "--quick", *args, "--out", str(folder))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not folder.exists()


def test_the_report_draws_the_choice_policy(choice_run, tmp_path):
    store, out = tmp_path / "evaluations", tmp_path / "report"
    done = invoke("evaluate", str(choice_run), "--task", "quadratic", "--repeats", "2",
                  "--steps", "20", "--out", str(store))  # fmt: skip
    assert done.exit_code == 0, done.output
    made = invoke("report", str(choice_run), "--evaluations", str(store), "--out", str(out),
                  "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    report = json.loads((out / "report.json").read_text())
    assert report["figures"]["choice_policy"]["panels"] == 1
    (shares,) = next(iter(report["choice_shares"].values()))
    assert set(shares["shares"]) == set(LARGE)


def test_a_damaged_saved_policy_is_one_line_that_says_how_to_recover(choice_run, tmp_path):
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(choice_run, folder)
    (folder / "result.json").unlink()
    (folder / "policy" / "optimizer" / "weights.pt").write_bytes(b"garbage")
    refused = invoke(*BASE, "--out", str(folder), "--resume")
    assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "delete" in refused.stderr and "policy/result.json" in refused.stderr
    (folder / "policy" / "result.json").unlink()
    resumed = invoke(*BASE, "--out", str(folder), "--resume")
    assert resumed.exit_code == 0, resumed.output
    for name in COMPARED:
        assert (folder / name).read_text() == (choice_run / name).read_text(), name
