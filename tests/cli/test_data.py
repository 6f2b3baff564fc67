"""`amalg data` and the task columns of `amalg list task`."""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from amalg.cli import app


def test_data_list_says_what_is_prepared(tmp_path):
    result = CliRunner().invoke(app, ["data", "list", "--data-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["data_dir"] == str(tmp_path)
    rows = {row["dataset"]: row for row in payload["datasets"]}
    assert rows["digits"]["offline"] and rows["digits"]["available"]
    assert not rows["digits"]["prepared"]  # not yet: prepared on first use
    assert not rows["mnist"]["prepared"] and not rows["mnist"]["offline"]
    assert rows["cifar10"]["shape"] == [32, 32, 3]


def test_data_prepare_digits_works_offline(tmp_path):
    result = CliRunner().invoke(app, ["data", "prepare", "digits", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "amalg_digits" / "1.0.0").is_dir()


def test_data_prepare_mistakes_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    runner = CliRunner()
    for args, message in (
        (["data", "prepare", "mnst"], "error: unknown dataset 'mnst'; did you mean 'mnist'"),
        (["data", "prepare", "cifar10"], "error: preparing 'cifar10' needs TensorFlow"),
    ):
        result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)])
        assert result.exit_code == 2
        assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1


def test_list_task_shows_size_dataset_batch_and_availability(fresh_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("AMALG_DATA_DIR", str(tmp_path))
    fresh_registry()
    result = CliRunner().invoke(app, ["list", "task", "--json"])
    assert result.exit_code == 0, result.output
    details = {row["name"]: row["details"] for row in json.loads(result.output)["components"]}
    assert details["train"] == {
        "parameters": 18122,
        "dataset": "mnist",
        "batch_size": 128,
        "data": "not prepared",
        "table_1_parameters": 18122,
        "suites": "paper",
    }
    table_1 = {
        name: facts["table_1_parameters"]
        for name, facts in details.items()
        if "table_1_parameters" in facts
    }
    assert table_1 == {
        "train": 18122, "mlp": 15910, "wider": 61834, "deeper": 72042, "fmnist": 18122,
        "svhn": 21290, "cifar": 68170, "resnet": 372330, "small_batch": 18122, "mnist_dp": 18122,
    }  # fmt: skip
    for name, count in table_1.items():
        assert details[name]["parameters"] == (370_506 if name == "resnet" else count)
    assert details["digits_cnn"]["data"] == "available"
    assert {name for name, facts in details.items() if facts.get("suites") == "digits"} == {
        "digits_cnn", "digits_mlp", "digits_wider", "digits_deeper", "digits_small_batch",
        "digits_dp",
    }  # fmt: skip
    assert details["small_batch"]["batch_size"] == 32
    assert details["quadratic"]["dataset"] == "synthetic"
    table = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["list", "task"])
    assert "│ 18,122 " in table.output and "not prepared" in table.output
