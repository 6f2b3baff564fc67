"""`amalg evaluate`: the arrays of the reference layout, resumable repeat by repeat."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from amalg.cli import app
from amalg.core.analysis import evaluations

EVALUATE = ["evaluate", "adam@0.05", "sgd@0.5", "--task", "digits_mlp", "--repeats", "3",
            "--steps", "20", "--every", "10", "--warmup-steps", "5"]  # fmt: skip


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


def test_evaluate_writes_arrays_shaped_per_repeat(tmp_path):
    result = invoke(*EVALUATE, "--out", str(tmp_path / "ev"), "--json")
    assert result.exit_code == 0, result.output
    records = {record["label"]: record for record in json.loads(result.stdout)}
    assert set(records) == {"adam@0.05", "sgd@0.5"}
    with np.load(tmp_path / "ev" / "digits_mlp" / "adam@0.05" / "curves.npz") as arrays:
        shapes = {key: arrays[key].shape for key in arrays}
    assert shapes["batch_loss"] == (3, 20)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "test_loss", "time"):
        assert shapes[key] == (3, 2), key
    assert shapes["eval_step"] == (2,)
    source = json.loads((tmp_path / "ev" / "digits_mlp" / "adam@0.05" / "source.json").read_text())
    assert source["settings"]["steps"] == 20 and source["source"]["lr"] == 0.05


def test_an_interrupted_evaluation_resumes_without_redoing_finished_repeats(tmp_path, monkeypatch):
    whole = invoke(*EVALUATE, "--out", str(tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    original = evaluations.evaluate_repeat
    calls = []

    def stop_on_the_second_repeat(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(evaluations, "evaluate_repeat", stop_on_the_second_repeat)
    stopped = invoke(*EVALUATE, "--out", str(tmp_path / "part"))
    assert stopped.exit_code == 130 and "the same command continues" in stopped.stderr
    place = tmp_path / "part" / "digits_mlp" / "adam@0.05"
    assert (place / "repeat_000.npz").is_file() and not (place / "curves.npz").exists()
    calls.clear()
    monkeypatch.setattr(
        evaluations, "evaluate_repeat", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    resumed = invoke(*EVALUATE, "--out", str(tmp_path / "part"))
    assert resumed.exit_code == 0, resumed.output
    assert len(calls) == 2 + 3  # adam's two missing repeats, sgd's three: repeat 0 is reused
    for label in ("adam@0.05", "sgd@0.5"):
        with (
            np.load(tmp_path / "whole" / "digits_mlp" / label / "curves.npz") as one,
            np.load(tmp_path / "part" / "digits_mlp" / label / "curves.npz") as two,
        ):
            for key in ("batch_loss", "val_loss", "loss", "test_loss"):
                assert np.array_equal(one[key], two[key], equal_nan=True), (label, key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["adm", "--task", "digits_mlp"],
            "neither a run folder, a saved optimizer nor a teacher; did you mean 'adam'",
        ),
        (["adam@-1", "--task", "digits_mlp"], "the learning rate after @ must be positive"),
        (["adam@0.1"], "give a task (--task NAME) or --suite"),
        (["adam@0.1", "--task", "nope"], "unknown task 'nope'"),
    ],
)
def test_evaluate_mistakes_are_one_line(tmp_path, args, message):
    result = invoke("evaluate", *args, "--out", str(tmp_path / "ev"))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ev").exists()


def test_other_settings_are_refused_not_mixed(tmp_path):
    assert invoke(*EVALUATE, "--out", str(tmp_path / "ev")).exit_code == 0
    other = invoke(*EVALUATE[:-2], "--warmup-steps", "7", "--out", str(tmp_path / "ev"))
    assert other.exit_code == 2 and "holds an evaluation with other settings" in other.stderr


def test_a_damaged_stored_repeat_is_one_line(tmp_path):
    assert invoke(*EVALUATE, "--out", str(tmp_path / "ev")).exit_code == 0
    (tmp_path / "ev" / "digits_mlp" / "adam@0.05" / "repeat_001.npz").write_bytes(b"PK broken")
    result = invoke(*EVALUATE, "--out", str(tmp_path / "ev"))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "repeat_001.npz is damaged" in result.stderr and "delete it to redo it" in result.stderr
