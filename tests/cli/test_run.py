"""`amalg run` end to end on the offline default task, with the --quick budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from amalg.cli import app
from amalg.core.run_folder import RunFolder

BASE = ["run", "--teacher", "adam", "--teacher", "rmsprop", "--scheme", "minmax", "--quick"]
FILES = ("config.json", "summary.csv", "timing.csv", "evaluation.csv", "optimizer/config.json",
         "optimizer/weights.pt")  # fmt: skip


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "first"
    result = invoke(*BASE, "--out", str(folder))
    assert result.exit_code == 0, result.output
    assert "rnnprop" in result.output and "adam" in result.output and "rmsprop" in result.output
    return folder


def test_a_quick_run_writes_every_file_of_the_experiment_folder(first_run):
    for name in FILES:
        assert (first_run / name).is_file(), name
    assert list((first_run / "checkpoints").glob("stage_*.pt"))
    assert list((first_run / "log").glob("stage_*.npz"))
    evals = {path.name for path in (first_run / "eval" / "digits_cnn").glob("*.npz")}
    assert any(name.endswith("-student.npz") for name in evals)
    assert any(name.endswith("-adam.npz") for name in evals)


def test_the_same_seed_gives_the_same_numbers(first_run, tmp_path):
    again = tmp_path / "again"
    result = invoke(*BASE, "--out", str(again))
    assert result.exit_code == 0, result.output
    for name in ("summary.csv", "evaluation.csv"):
        assert (again / name).read_text() == (first_run / name).read_text()


def test_a_saved_config_reproduces_the_run(first_run, tmp_path):
    copy = tmp_path / "copy"
    result = invoke("run", "--config", str(first_run / "config.json"), "--out", str(copy))
    assert result.exit_code == 0, result.output
    assert (copy / "summary.csv").read_text() == (first_run / "summary.csv").read_text()


def test_an_interrupted_run_resumed_gives_the_uninterrupted_result(
    first_run, tmp_path, monkeypatch
):
    folder = tmp_path / "interrupted"
    original = RunFolder.record_timing

    def interrupt_after_first_period(self, name, seconds):
        original(self, name, seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "record_timing", interrupt_after_first_period)
    stopped = invoke(*BASE, "--out", str(folder))
    assert stopped.exit_code == 130
    assert "amalg run --resume --out" in stopped.stderr
    assert isinstance(stopped.exception, SystemExit)
    assert not (folder / "evaluation.csv").exists()
    monkeypatch.setattr(RunFolder, "record_timing", original)
    again = invoke(*BASE, "--out", str(folder))
    assert (
        again.exit_code == 2 and "holds this run, unfinished; --resume continues it" in again.stderr
    )

    resumed = invoke(*BASE, "--out", str(folder), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming after stage_0.0" in resumed.output
    for name in ("summary.csv", "evaluation.csv"):
        assert (folder / name).read_text() == (first_run / name).read_text()


def test_a_folder_holding_another_run_is_refused_and_left_alone(first_run):
    before = {path: path.read_bytes() for path in first_run.rglob("*") if path.is_file()}
    result = invoke(*BASE, "--seed", "1", "--out", str(first_run))
    assert result.exit_code == 2
    assert "already holds a different run" in result.stderr
    same = invoke(*BASE, "--out", str(first_run))
    assert same.exit_code == 0 and "already holds this run, finished" in same.output
    assert "rnnprop" in same.output
    assert {path: path.read_bytes() for path in first_run.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--teacher", "adm"], "unknown teacher 'adm'; did you mean 'adam'"),
        (
            ["--teacher", "adam", "--scheme", "minmx"],
            "unknown scheme 'minmx'; did you mean 'minmax'",
        ),
        (["--teacher", "adam", "--student", "rnprop"], "unknown student 'rnprop'; did you mean"),
        (["--teacher", "adam", "--task", "digit_cnn"], "unknown task 'digit_cnn'; did you mean"),
        (
            ["--teacher", "adam", "--teacher", "sgd", "--scheme", "imitation"],
            "scheme 'imitation' takes exactly 1 teacher(s), got 2",
        ),
        (["--scheme", "minmax"], "scheme 'minmax' takes at least 1 teacher(s), got 0"),
        (
            ["--teacher", "adam", "--set", "teacher.adam.lr=-1"],
            "invalid config for teacher 'adam': lr: Input should be greater than 0",
        ),
        (
            ["--teacher", "adam", "--set", "teacher.sgd.lr=0.1"],
            "teacher.sgd.lr: the run has no teacher 'sgd' (it has: adam)",
        ),
        (
            ["--teacher", "adam", "--set", "teacher.adam.learning_rate=0.1"],
            "learning_rate: unknown field; valid fields: lr, beta1, beta2, eps",
        ),
        (["--teacher", "adam", "--set", "nonsense=1"], "nonsense: unknown key"),
        (["--teacher", "adam", "--set", "evaluation.horizon=zero"], "evaluation.horizon: "),
        (
            ["--teacher", "adam", "--set", "strategy.curriculum.unrolls=[100,155]"],
            "curriculum': (config): alphas has 3 values, unrolls 2: give one imitation weight",
        ),
        (
            ["--teacher", "adam", "--set", "strategy.curriculum.unrolls=[100,150,200]"],
            "(config): every unroll must be a positive multiple of truncation=100",
        ),
        (["--teacher", "adam", "--config", "missing.toml"], "invalid config for file missing.toml"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    folder = tmp_path / "bad"
    result = invoke("run", *args, "--out", str(folder))
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert isinstance(result.exception, SystemExit)  # a handled error, not a crash
    assert not folder.exists()  # refused before any work


def test_bad_folders_and_config_files_are_one_line_errors(tmp_path, mocked_datasets):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    odd = tmp_path / "odd.json"
    odd.write_text('{"teachers": "adam", "scheme": "minmax"}')
    cases = [
        (["--teacher", "adam", "--out", str(a_file)], "is a file, not a folder"),
        (["--teacher", "adam", "--config", str(listed)], "expected a table of settings"),
        (["--teacher", "adam", "--config", str(odd)], "invalid config for the run"),
        (["--teacher", "adam", "--name", "../escape"], "name: '../escape' is not a plain folder"),
    ]
    for args, message in cases:
        result = invoke("run", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert isinstance(result.exception, SystemExit)


def test_a_missing_dataset_fails_before_the_folder_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("AMALG_DATA_DIR", str(tmp_path / "empty"))
    folder = tmp_path / "never"
    result = invoke("run", "--teacher", "adam", "--task", "cifar", "--out", str(folder))
    assert result.exit_code == 2
    assert "dataset 'cifar10' is not prepared" in result.stderr
    assert not folder.exists()


def test_amalg_load_returns_the_trained_student(first_run, tmp_path):
    import torch

    import amalg
    from amalg.core.run_folder import RunFolderError

    student = amalg.load(first_run)
    weights = torch.load(first_run / "optimizer" / "weights.pt", weights_only=True)
    assert type(student).__name__ == "RNNProp"
    assert all(torch.equal(student.state_dict()[k], v) for k, v in weights.items())
    with pytest.raises(RunFolderError, match="no trained optimizer in"):
        amalg.load(tmp_path)


def test_a_killed_run_stops_cleanly_and_resumes(tmp_path, first_run):
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    folder = tmp_path / "killed"
    command = [sys.executable, "-m", "amalg", *BASE, "--out", str(folder)]
    # As many threads as first_run had in this process (pytest-xdist gives each test process
    # its share of the cores): a reduction split over more threads rounds differently.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 60
    while not list((folder / "checkpoints").glob("*.pt")) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    # The first checkpoint comes after one of four periods: the signal lands mid-run.
    assert process.returncode == 130, stderr
    assert "amalg run --resume --out" in stderr and "Traceback" not in stderr
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert (folder / "summary.csv").read_text() == (first_run / "summary.csv").read_text()


def test_a_teacher_used_twice_under_a_label_is_two_teachers(tmp_path):
    folder = tmp_path / "twice"
    result = invoke(
        "run", "--teacher", "adam", "--teacher", "adam:slow", "--set", "teacher.slow.lr=0.001",
        "--scheme", "mean", "--quick", "--out", str(folder),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    header = (folder / "summary.csv").read_text().splitlines()[0]
    assert "imitation_adam" in header and "imitation_slow" in header
    assert list((folder / "eval" / "digits_cnn").glob("*-slow.npz"))
    rows = (folder / "evaluation.csv").read_text()
    assert "\ndigits_cnn,adam,teacher," in rows and "\ndigits_cnn,slow,teacher," in rows
    for spec in ("adam:", ":slow"):
        bad = invoke("run", "--teacher", spec, "--out", str(tmp_path / "bad"))
        assert bad.exit_code == 2 and "expected NAME or NAME:LABEL" in bad.stderr


def test_scheme_none_runs_the_plain_rnnprop_baseline(tmp_path):
    folder = tmp_path / "none"
    result = invoke("run", "--scheme", "none", "--quick", "--out", str(folder))
    assert result.exit_code == 0, result.output
    assert (folder / "result.json").is_file()
    import numpy as np

    log = np.load(folder / "log" / "stage_0.0.npz")
    assert log["imitation"].shape == (len(log["meta_loss"]), 0)


def test_the_teachers_are_tuned_recorded_and_the_oracle_named(first_run):
    import json

    config = json.loads((first_run / "config.json").read_text())
    rates = config["tuning"]["learning_rates"]["digits_cnn"]
    assert set(rates) == {"adam", "rmsprop"}
    for teacher, record in zip(config["teachers"], ("adam", "rmsprop"), strict=True):
        assert teacher["config"]["lr"] == rates[record]["lr"]
        assert rates[record]["source"].startswith("tuned: digits_cnn-")
    rows = (first_run / "evaluation.csv").read_text().splitlines()
    assert rows[0].startswith("task,optimizer,role") and rows[0].endswith(",oracle")
    assert sum(row.endswith(",True") for row in rows[1:]) == 1
    shown = invoke(*BASE, "--out", str(first_run))  # finished: the table again
    assert (
        "teacher, oracle" in shown.output and "oracle (the best tuned teacher here)" in shown.output
    )


def test_no_tune_keeps_the_teachers_defaults(tmp_path):
    import json

    folder = tmp_path / "untuned"
    result = invoke(*BASE, "--no-tune", "--out", str(folder))
    assert result.exit_code == 0, result.output
    config = json.loads((folder / "config.json").read_text())
    assert config["tuning"]["enabled"] is False
    assert [t["config"]["lr"] for t in config["teachers"]] == [0.005, 0.005]
    assert (
        "not tuned (--no-tune)"
        in config["tuning"]["learning_rates"]["digits_cnn"]["adam"]["source"]
    )
