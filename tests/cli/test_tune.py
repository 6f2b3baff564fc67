"""`amalg tune`: the grid as a table, the best marked, stored and reused."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from amalg.cli import app

TUNE = ["tune", "--teacher", "sgd", "--teacher", "adam", "--task", "digits_mlp", "--grid",
        "0.01,0.1,1", "--horizon", "20", "--seeds", "1", "--warmup-steps", "5"]  # fmt: skip


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


def test_tune_shows_the_grid_marks_the_best_and_stores_it(tmp_path):
    store = tmp_path / "tuning"
    first = invoke(*TUNE, "--tuning-dir", str(store), "--json")
    assert first.exit_code == 0, first.output
    records = json.loads(first.stdout)
    assert [r["request"]["teacher"] for r in records] == ["sgd", "adam"]
    assert all(not r["reused"] for r in records) and len(list(store.glob("*.json"))) == 2
    for record in records:
        best = record["request"]["grid"][record["scores"].index(min(record["scores"]))]
        assert record["best_lr"] == best
        assert record["on_edge"] == (best in (0.01, 1.0))
    shown = invoke(*TUNE, "--tuning-dir", str(store))
    assert shown.exit_code == 0, shown.output
    assert "sgd (stored)" in shown.output and "adam (stored)" in shown.output
    assert " *" in shown.output and "stored in" in shown.output
    again = json.loads(invoke(*TUNE, "--tuning-dir", str(store), "--json").stdout)
    assert all(r["reused"] for r in again) and again[0]["scores"] == records[0]["scores"]


def test_a_changed_task_config_is_tuned_anew(tmp_path):
    store = tmp_path / "tuning"
    invoke(*TUNE, "--tuning-dir", str(store))
    other = invoke(*TUNE, "--tuning-dir", str(store), "--set", "task.digits_mlp.batch_size=64",
                   "--json")  # fmt: skip
    assert other.exit_code == 0, other.output
    assert not any(record["reused"] for record in json.loads(other.stdout))


def test_tune_mistakes_are_one_line(tmp_path):
    for args, message in (
        (["--grid", "0.1,-1"], "expected positive numbers"),
        (["--set", "teacher.sgd.lr=0.1"], "the learning rate is what tuning chooses"),
        (["--task", "digits_cnnn"], "unknown task 'digits_cnnn'"),
        (["--suite", "digit"], "unknown suite 'digit'; did you mean 'digits'"),
    ):
        result = invoke("tune", "--teacher", "sgd", "--task", "digits_mlp", *args,
                        "--tuning-dir", str(tmp_path / "t"))  # fmt: skip
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t").exists()
