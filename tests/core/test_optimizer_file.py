"""Portable optimizer files: safetensors weights with a JSON card; damaged, foreign,
future-version and pickle-carrying files are refused with one line, nothing executed."""

from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch

import amalg
from amalg.core.optimizer_file import (
    FORMAT_VERSION,
    OptimizerCard,
    OptimizerFileError,
    load_file_student,
    read_card,
    write_optimizer_file,
)
from amalg.core.run_folder import RunFolderError


def card(student: str = "rnnprop", **changes) -> OptimizerCard:
    config = amalg.create("student", student).config.model_dump(mode="json")
    values = {"amalg_version": amalg.__version__, "name": "x", "student": student, "config": config}
    return OptimizerCard(**{**values, **changes})


def weights(student: str = "rnnprop") -> dict[str, torch.Tensor]:
    return amalg.create("student", student).state_dict()


def test_a_file_round_trips_its_card_and_weights(tmp_path):
    path = write_optimizer_file(tmp_path / "x.safetensors", card(), weights())
    assert read_card(path) == card()
    student, read = load_file_student(path)
    assert read == card() and student.name == "rnnprop"
    for key, value in weights().items():
        assert torch.equal(student.state_dict()[key], value)


def test_a_file_name_must_end_in_safetensors(tmp_path):
    with pytest.raises(OptimizerFileError, match=r"NAME\.safetensors"):
        write_optimizer_file(tmp_path / "x.pt", card(), weights())


def test_a_newer_format_is_refused_with_the_version_to_upgrade_to(tmp_path):
    # A newer amalg's card: this version cannot even build one, so it is constructed as is.
    values = {**card().model_dump(), "format_version": FORMAT_VERSION + 1}
    future = OptimizerCard.model_construct(**values)
    path = write_optimizer_file(tmp_path / "x.safetensors", future, weights())
    with pytest.raises(OptimizerFileError, match="upgrade amalg"):
        load_file_student(path)


def test_another_students_weights_are_refused(tmp_path):
    path = write_optimizer_file(tmp_path / "x.safetensors", card("rnnprop"), weights("nn_adam"))
    with pytest.raises(RunFolderError, match="do not fit student 'rnnprop'"):
        load_file_student(path)


def test_missing_tensors_are_refused(tmp_path):
    partial = dict(list(weights().items())[:-1])
    path = write_optimizer_file(tmp_path / "x.safetensors", card(), partial)
    with pytest.raises(RunFolderError, match="missing"):
        load_file_student(path)


def test_a_card_naming_no_installed_student_is_refused(tmp_path):
    path = write_optimizer_file(tmp_path / "x.safetensors", card(student="rnnprop"), weights())
    raw = path.read_bytes()
    # The card is a JSON string inside the header's JSON: its quotes are escaped.
    path.write_bytes(raw.replace(b'\\"student\\":\\"rnnprop\\"', b'\\"student\\":\\"rnnpro0\\"'))
    with pytest.raises(OptimizerFileError, match="names a student amalg cannot build"):
        load_file_student(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:20],  # truncated header
        lambda raw: raw[: len(raw) // 2],  # truncated tensors
        lambda raw: b"\x00" * 8,  # an empty header
        lambda raw: b"not a safetensors file at all",
        lambda raw: struct.pack("<Q", 2) + b"[]",  # a header that is not a table
        lambda raw: raw.replace(b"amalg-optimizer", b"amalg-optimizes"),  # not amalg's card
    ],
)
def test_a_damaged_file_is_one_line(tmp_path, damage):
    path = write_optimizer_file(tmp_path / "x.safetensors", card(), weights())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(OptimizerFileError) as error:
        load_file_student(path)
    assert "\n" not in str(error.value)


def test_a_safetensors_file_without_a_card_is_not_amalgs(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "foreign.safetensors")
    with pytest.raises(OptimizerFileError, match="no amalg card"):
        load_file_student(tmp_path / "foreign.safetensors")


class _Payload:
    def __reduce__(self):
        return (open, (str(MARKER), "w"))


MARKER = None


def test_a_pickle_is_refused_and_never_executed(tmp_path):
    global MARKER
    MARKER = tmp_path / "executed"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"w": _Payload()}))
    with pytest.raises(OptimizerFileError):
        load_file_student(path)
    torch_file = tmp_path / "evil2.safetensors"
    torch.save({"w": _Payload(), "t": torch.zeros(2)}, torch_file)
    with pytest.raises(OptimizerFileError):
        load_file_student(torch_file)
    assert not MARKER.exists()


def test_a_missing_file_and_a_folder_are_one_line(tmp_path):
    with pytest.raises(OptimizerFileError, match="does not exist"):
        read_card(tmp_path / "none.safetensors")
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(OptimizerFileError, match="is a folder"):
        read_card(tmp_path / "dir.safetensors")


def test_the_card_is_plain_json_in_the_header(tmp_path):
    path = write_optimizer_file(tmp_path / "x.safetensors", card(), weights())
    size = struct.unpack("<Q", path.read_bytes()[:8])[0]
    header = json.loads(path.read_bytes()[8 : 8 + size])
    assert json.loads(header["__metadata__"]["amalg"])["student"] == "rnnprop"


@pytest.mark.parametrize("version", ['"2"', "2.0", "true"])
def test_a_format_version_that_is_not_a_whole_number_is_refused(tmp_path, version):
    path = write_optimizer_file(tmp_path / "x.safetensors", card(), weights())
    raw = path.read_bytes()
    damaged = raw.replace(
        b'\\"format_version\\":1', b'\\"format_version\\":' + version.replace('"', '\\"').encode()
    )
    size = int.from_bytes(raw[:8], "little") + len(damaged) - len(raw)
    path.write_bytes(size.to_bytes(8, "little") + damaged[8:])
    with pytest.raises(OptimizerFileError):
        read_card(path)


def test_a_deeply_nested_header_is_one_line(tmp_path):
    header = b"[" * 100_000 + b"]" * 100_000
    path = tmp_path / "deep.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(OptimizerFileError):
        read_card(path)


def test_a_diverged_validation_survives_the_round_trip(tmp_path):
    from amalg.core.optimizer_file import TrainingRecord

    training = TrainingRecord(run="r", task="t", scheme="none", estimator="tbptt",
                              strategy="curriculum", seed=0, checkpoint="stage_0.0",
                              validation={"t": None})  # fmt: skip
    path = write_optimizer_file(tmp_path / "x.safetensors", card(training=training), weights())
    assert read_card(path).training.validation == {"t": None}


def test_a_file_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "taken.safetensors").mkdir()
    with pytest.raises(OptimizerFileError, match="cannot write"):
        write_optimizer_file(tmp_path / "taken.safetensors", card(), weights())
