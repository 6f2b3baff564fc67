"""`amalg export` and `amalg list pretrained`: a run's student as a portable file with the
card of how it was trained, usable by amalg.optim.load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import amalg.optim
from amalg.cli import app
from amalg.core.optimizer_file import read_card


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "run"
    result = invoke("run", "--teacher", "adam", "--teacher", "rmsprop", "--scheme", "minmax",
                    "--task", "quadratic", "--no-tune", "--quick",
                    "--out", str(folder))  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


def test_export_writes_a_file_whose_card_says_how_the_student_was_trained(finished_run, tmp_path):
    result = invoke("export", str(finished_run), "--out", str(tmp_path), "--name", "mine",
                    "--description", "a test")  # fmt: skip
    assert result.exit_code == 0, result.output
    card = read_card(tmp_path / "mine.safetensors")
    config = json.loads((finished_run / "config.json").read_text())
    assert card.student == "rnnprop" and card.description == "a test"
    training = card.training
    assert training.task == "quadratic" and training.scheme == "minmax"
    assert training.seed == config["seed"] and training.estimator == "tbptt"
    assert [(t.name, t.lr) for t in training.teachers] == [
        (t["name"], t["config"]["lr"]) for t in config["teachers"]
    ]
    assert set(training.validation) == {"quadratic"}
    parameter = torch.nn.Parameter(torch.randn(5))
    optimizer = amalg.optim.load(tmp_path / "mine.safetensors", [parameter])
    assert optimizer.card == card


def test_export_to_a_file_name_and_from_the_run_folder_agree(finished_run, tmp_path):
    result = invoke("export", str(finished_run), "--out", str(tmp_path / "a.safetensors"))
    assert result.exit_code == 0, result.output
    from_file = amalg.optim.resolve_student(tmp_path / "a.safetensors")[0]
    from_run, card = amalg.optim.resolve_student(finished_run)
    name = json.loads((finished_run / "config.json").read_text())["name"]
    assert card is not None and card.training.run == name == card.name
    for key, value in from_run.state_dict().items():
        assert torch.equal(from_file.state_dict()[key], value)


@pytest.mark.parametrize("kind", ["missing", "file", "empty folder"])
def test_export_refuses_what_is_no_run_with_one_line(tmp_path, kind):
    target = tmp_path / "source"
    if kind == "file":
        target.write_text("")
    elif kind == "empty folder":
        target.mkdir()
    result = invoke("export", str(target), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "holds no run" in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_export_refuses_an_out_that_is_another_kind_of_file(finished_run, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("export", str(finished_run), "--out", str(tmp_path / "notes.txt"))
    assert result.exit_code == 2 and "safetensors" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_export_refuses_an_unfinished_run(finished_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    (copy / "result.json").unlink()
    result = invoke("export", str(copy), "--out", str(tmp_path))
    assert result.exit_code == 2 and "unfinished" in result.stderr
    assert not list(tmp_path.glob("*.safetensors"))


def test_list_pretrained_shows_every_shipped_card():
    result = invoke("list", "pretrained", "--json")
    assert result.exit_code == 0, result.output
    names = [card["name"] for card in json.loads(result.stdout)["pretrained"]]
    assert names == list(amalg.optim.pretrained())
    table = invoke("list", "pretrained")
    assert table.exit_code == 0
    for name in names:
        assert name in table.stdout


def test_an_exported_file_is_a_source_evaluate_takes(finished_run, tmp_path):
    file = tmp_path / "mine.safetensors"
    assert invoke("export", str(finished_run), "--out", str(file)).exit_code == 0
    result = invoke("evaluate", str(file), "--task", "quadratic", "--repeats", "1",
                    "--steps", "6", "--warmup-steps", "2", "--out", str(tmp_path / "ev"),
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["kind"] == "optimizer" and record["label"] == read_card(file).name


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", ""])
def test_export_refuses_a_name_that_is_not_a_plain_file_name(finished_run, tmp_path, name):
    result = invoke("export", str(finished_run), "--out", str(tmp_path / "out"), "--name", name)
    assert result.exit_code == 2 and "plain file name" in result.stderr
    assert not list(tmp_path.rglob("*.safetensors"))
