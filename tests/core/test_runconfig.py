"""Run configs: files, --set overrides, every default written out."""

from __future__ import annotations

import pytest

from amalg.core.errors import ConfigError
from amalg.core.runconfig import apply_overrides, read_config_file
from amalg.core.training.build import build_run as resolve


def test_a_toml_config_file_reads_like_json(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'name = "from-toml"\nseed = 3\n[[teachers]]\nname = "adam"\n[teachers.config]\nlr = 0.002\n'
        '[scheme]\nname = "imitation"\n'
    )
    values = read_config_file(path)
    config, parts = resolve(values)
    assert config.seed == 3 and parts.teachers[0].config.lr == 0.002
    assert parts.scheme.name == "imitation"


def test_a_broken_config_file_is_one_clear_error(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"run.json: \(file\): not valid json"):
        read_config_file(path)


def test_set_values_parse_as_json_and_reach_defaulted_components():
    values = apply_overrides(
        {"teachers": [{"name": "adam"}]},
        [
            "teacher.adam.lr=0.002",
            "strategy.curriculum.unrolls=[100,200]",
            "strategy.curriculum.alphas=[0.2,0.1]",
            "student.rnnprop.random_scaling=0",
            "seed=7",
        ],
    )
    config, parts = resolve({**values, "name": "x"})
    assert parts.teachers[0].config.lr == 0.002
    assert parts.strategy.config.unrolls == [100, 200]
    assert parts.student.config.random_scaling == 0 and config.seed == 7


def test_the_resolved_config_holds_every_default():
    config, _ = resolve({"name": "x", "teachers": [{"name": "rmsprop"}]})
    dumped = config.model_dump(mode="json")
    assert dumped["teachers"][0]["config"] == {
        "lr": 0.005, "beta2": 0.999, "eps": 1e-10, "bias_correction": True
    }  # fmt: skip
    assert dumped["task"]["name"] == "digits_cnn" and dumped["task"]["config"]["batch_size"] == 128
    assert dumped["strategy"]["config"]["truncation"] == 100


def test_a_teacher_given_twice_is_refused():
    with pytest.raises(ConfigError, match="teachers: adam given twice; tell the uses apart"):
        resolve({"name": "x", "teachers": [{"name": "adam"}, {"name": "adam"}]})
