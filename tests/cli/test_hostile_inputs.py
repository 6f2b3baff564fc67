"""Hostile but ordinary inputs: each class gives one clear line on stderr, exit code 2, and
leaves nothing behind (no new folder, no changed file)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import amalg
from amalg.cli import app
from amalg.core.run_folder import RunFolderError
from amalg.core.training import budget

RUN = ["run", "--teacher", "adam", "--scheme", "imitation", "--quick"]


def invoke(*args: str, **env: str):
    return CliRunner(env={"COLUMNS": "200", **env}).invoke(app, list(args))


def snapshot(folder: Path) -> dict[Path, bytes]:
    if not folder.exists():
        return {}
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_refused(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not a crash
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "weights_only" not in result.stderr and "Traceback" not in result.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "finished"
    result = invoke(*RUN, "--out", str(folder))
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def other_student(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "other"
    result = invoke(*RUN, "--set", "student.rnnprop.hidden=7", "--out", str(folder))
    assert result.exit_code == 0, result.output
    return folder


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def _noise(path: Path) -> None:
    path.write_bytes(os.urandom(3000))


def _foreign(path: Path) -> None:
    torch.save({"w": torch.ones(2)}, path)


class _Exploit:
    """Unpickling this would run code: amalg must never do it."""

    def __reduce__(self):
        return (Path.touch, (Path(tempfile.gettempdir()) / "amalg-exploit-ran",))


def _pickled_object(path: Path) -> None:
    torch.save({"phi": _Exploit()}, path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, "it is damaged or not a file amalg wrote"),
        (_noise, "it is damaged or not a file amalg wrote"),
        (_foreign, "it is not an amalg checkpoint"),
        (_pickled_object, "it is damaged or not a file amalg wrote"),
        ("other-student", "was written by another run"),
    ],
    ids=["truncated", "corrupt", "not-amalgs", "pickled-object", "another-runs"],
)
def test_an_unreadable_checkpoint_is_one_line(finished, other_student, tmp_path, damage, message):
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    (folder / "result.json").unlink()
    latest = folder / "checkpoints" / "stage_1.1.pt"
    if damage == "other-student":
        shutil.copy(other_student / "checkpoints" / "stage_1.1.pt", latest)
    else:
        damage(latest)
    exploit = Path(tempfile.gettempdir()) / "amalg-exploit-ran"
    exploit.unlink(missing_ok=True)
    before = snapshot(folder)
    result = invoke("run", "--resume", "--out", str(folder))
    assert_refused(result, message)
    assert "checkpoints/stage_1.1.pt" in result.stderr
    assert not exploit.exists()
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{broken", "is damaged: it is not UTF-8 JSON"),
        (b'{"rows": 3}', "is damaged (it is not a run result)"),
        (
            b'{"tasks": [{"task": "t", "rows": [{"optimizer": 1}]}], "checkpoint": "x"}',
            "a result row is damaged",
        ),
    ],
    ids=["not-json", "not-a-result", "bad-row"],
)
def test_a_damaged_result_is_one_line(finished, tmp_path, content, message):
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    (folder / "result.json").write_bytes(content)
    before = snapshot(folder)
    result = invoke(*RUN, "--out", str(folder))
    assert_refused(result, message)
    assert "--resume to redo the final evaluation" in result.stderr
    assert snapshot(folder) == before


def test_damaged_run_and_config_files_that_are_not_utf8_are_one_line(finished, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    (folder / "result.json").unlink()
    (folder / "config.json").write_bytes(b"\xff\xfe{}")
    before = snapshot(folder)
    assert_refused(invoke("run", "--resume", "--out", str(folder)), "not UTF-8 JSON")
    assert snapshot(folder) == before
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    assert_refused(invoke(*RUN, "--config", str(latin), "--out", str(tmp_path / "x")), "UTF-8")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("config-bytes", "is damaged: it is not UTF-8 JSON"),
        ("config-shape", "names no student and config"),
        ("weights-noise", "is damaged or not a file amalg wrote"),
        ("weights-other", "do not fit student 'rnnprop'"),
        ("weights-object", "is damaged or not a file amalg wrote"),
    ],
)
def test_a_damaged_saved_optimizer_is_one_line(finished, other_student, tmp_path, damage, message):
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    saved = folder / "optimizer"
    if damage == "config-bytes":
        (saved / "config.json").write_bytes(b"\xff\xfe garbage")
    elif damage == "config-shape":
        (saved / "config.json").write_text("[1, 2]")
    elif damage == "weights-noise":
        _noise(saved / "weights.pt")
    elif damage == "weights-other":
        shutil.copy(other_student / "optimizer" / "weights.pt", saved / "weights.pt")
    else:
        _pickled_object(saved / "weights.pt")
    with pytest.raises(RunFolderError) as caught:
        amalg.load(folder)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "weights_only" not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--task", "digits_deeper", "--set", "student.rnnprop.hidden=1024"],
            "largest: the autograd graph of a 10-step truncation",
        ),
        (
            ["--set", "evaluation.horizon=10000000", "--set", "evaluation.seeds=100000"],
            "largest: the evaluation curves (100000 seeds x 10000000 steps)",
        ),
        (
            ["--task", "rastrigin", "--set", "task.rastrigin.dimension=100000000"],
            "100,000,000 task coordinates",
        ),
        (["--set", "student.rnnprop.hidden=100000"], "hidden: Input should be less than or equal"),
        (["--set", "strategy.curriculum.trajectories=1000000000"], "trajectories: Input should be"),
        (["--set", "evaluation.horizon=100000000"], "horizon: Input should be less than or equal"),
        (["--task", "quadratic", "--set", "task.quadratic.dimension=100000"], "dimension: Input"),
    ],
    ids=[
        "student-width",
        "evaluation",
        "task-size",
        "width-bound",
        "trajectories",
        "horizon",
        "dim",
    ],
)
def test_a_run_that_cannot_fit_is_refused_before_any_work(tmp_path, monkeypatch, args, message):
    monkeypatch.setattr(budget, "available_memory", lambda: 4 * 2**30)
    folder = tmp_path / "never"
    result = invoke(*RUN, *args, "--out", str(folder))
    assert_refused(result, message)
    if "largest" in message:
        assert "4.0 GiB is available" in result.stderr
    assert not folder.exists()


def test_the_default_run_fits_the_memory_check():
    from amalg.core.training.build import build_run

    config, parts = build_run({"name": "x", "teachers": [{"name": "adam"}]})
    need = sum(item.bytes for item in budget.run_allocations(config, parts))
    assert 10 * 2**20 < need < 2**30  # the default: hundreds of MiB, not GiB


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", ""], "--out is empty"),
        (["--out", "   "], "--out is empty"),
        (["--name", ""], "is not a plain folder name"),
        (["--name", "   "], "is not a plain folder name"),
        (["--name", ".."], "is not a plain folder name"),
        (["--name", "."], "is not a plain folder name"),
        (["--name", "/tmp/escape"], "is not a plain folder name"),
        (["--name", "a/../../b"], "is not a plain folder name"),
        (["--resume", "--name", ".."], "is not a plain folder name"),
    ],
)
def test_path_arguments_cannot_escape_or_be_blank(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert_refused(invoke(*RUN, *args), message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("teacher.adam.lr=true", "lr: expected a number, got the boolean true"),
        ("strategy.curriculum.trajectories=false", "trajectories: expected a number"),
        ("strategy.curriculum.unrolls=[true,40]", "unrolls: expected a list of numbers"),
        ("evaluation.seeds=true", "seeds: expected a number, got the boolean true"),
        ("seed=true", "seed: expected a number, got the boolean true"),
        ('teacher.adam.lr="0.1"', "lr: expected a number, got the text '0.1'"),
        ("engine.second_order=1", "second_order: expected true or false, got 1"),
    ],
)
def test_numbers_are_numbers_and_flags_are_flags(tmp_path, override, message):
    folder = tmp_path / "never"
    assert_refused(invoke(*RUN, "--set", override, "--out", str(folder)), message)
    assert not folder.exists()


@pytest.mark.parametrize("variable", ["AMALG_DATA_DIR", "TFDS_DATA_DIR"])
def test_a_data_folder_setting_that_is_not_a_folder_is_one_line(tmp_path, monkeypatch, variable):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.delenv("AMALG_DATA_DIR", raising=False)
    monkeypatch.setenv(variable, str(a_file))
    folder = tmp_path / "never"
    assert_refused(invoke(*RUN, "--out", str(folder)), f"${variable} names {a_file}, which is a")
    assert_refused(invoke("list", "task"), "which is a file, not a folder")
    assert_refused(invoke("data", "list"), "which is a file, not a folder")
    monkeypatch.setenv(variable, str(a_file / "below"))
    assert_refused(invoke("data", "prepare", "digits"), f"goes through the file {a_file}")
    monkeypatch.delenv(variable)
    assert_refused(invoke("data", "list", "--data-dir", str(a_file)), "data folder setting")
    override = f"task.digits_cnn.data_dir={a_file}"
    assert_refused(invoke(*RUN, "--set", override, "--out", str(folder)), "data folder setting")
    assert not folder.exists() and a_file.read_text() == "not a folder"


def test_a_plugin_that_prints_does_not_corrupt_json(install_plugin, fresh_registry):
    install_plugin(
        "amalg-chatty",
        "amalg_chatty",
        """
        print("hello from a chatty plugin")
        import amalg

        @amalg.hookimpl
        def register_teachers(register):
            print("registering, loudly")
        """,
        entry_point="chatty",
    )
    for index, args in enumerate((["list", "--json"], ["list", "teacher", "--json"])):
        fresh_registry()  # the plugin's hook runs, and prints, in this command
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        json.loads(result.stdout)  # stdout is exactly the JSON
        assert "registering, loudly" in result.stderr
        if index == 0:  # imported once per process
            assert "hello from a chatty plugin" in result.stderr


def test_run_files_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        result = invoke(*RUN, "--out", str(tmp_path / "run"))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    files = [path for path in (tmp_path / "run").rglob("*") if path.is_file()]
    assert files and {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o640}


def test_listing_tasks_and_datasets_leaves_no_temporary_folders(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for args in (["list", "task"], ["data", "list"], ["list", "task", "--json"]):
        assert invoke(*args).exit_code == 0
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "is not a device: give cpu or cuda"),
        (["--device", "mps"], "amalg runs on cpu or cuda, not mps"),
        (["--device", "cuda:x"], "is not a device"),
        (["--workers", "2"], "set --set meta_optimizer.batch=2"),
        (["--workers", "2", "--set", "meta_optimizer.batch=2", "--device", "cuda:0"],
         "cuda" if torch.cuda.is_available() else "sees no CUDA device"),
    ],
)  # fmt: skip
def test_devices_and_workers_that_cannot_be_are_one_line(tmp_path, args, message):
    out = tmp_path / "run"
    assert_refused(invoke(*RUN, "--out", str(out), *args), message)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_evaluating_on_a_missing_gpu_is_one_line(tmp_path):
    result = invoke(
        "evaluate", "adam", "--task", "quadratic", "--device", "cuda", "--out", str(tmp_path)
    )
    assert_refused(result, "sees no CUDA device here; run with --device cpu")
