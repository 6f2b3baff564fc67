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


def test_every_run_kind_has_a_config_field_a_cli_option_and_a_set_key():
    import inspect

    from amalg.cli.run import run
    from amalg.core.runconfig import RUN_KINDS, RunConfig, apply_overrides

    options = inspect.signature(run).parameters
    for row in RUN_KINDS:
        assert row.field in RunConfig.model_fields
        assert row.kind in options and row.option == f"--{row.kind}"
    values = apply_overrides({}, ["strategy.curriculum.trajectories=3", "estimator.tbptt.x=1"])
    assert values["strategy"]["config"] == {"trajectories": 3}
    with pytest.raises(ConfigError, match="the run has no perturbation 'pgd' \\(it has: none\\)"):
        apply_overrides({}, ["perturbation.pgd.magnitude=1e-4"])


def test_one_teacher_can_be_used_twice_under_labels():
    values = apply_overrides(
        {"teachers": [{"name": "adam"}, {"name": "adam", "label": "slow"}]},
        ["teacher.slow.lr=0.0005"],
    )
    config, parts = resolve({**values, "name": "x"})
    assert parts.teacher_labels == ["adam", "slow"]
    assert [t.config.lr for t in parts.teachers] == [0.005, 0.0005]
    assert config.model_dump(mode="json")["teachers"][1]["label"] == "slow"


def test_student_is_not_a_teacher_label():
    with pytest.raises(ConfigError, match="'student' names the student's files"):
        resolve({"name": "x", "teachers": [{"name": "adam", "label": "student"}]})


def test_an_optional_component_set_by_a_file_can_be_cleared(tmp_path):
    from amalg.cli.run import build_values

    path = tmp_path / "run.json"
    path.write_text('{"perturbation": {"name": "pgd"}, "teachers": [{"name": "adam"}]}')
    values = build_values(
        chosen={"perturbation": "none"}, seed=None, name=None, overrides=[], config_file=path,
        quick=False,
    )  # fmt: skip
    assert values["perturbation"] is None and values["teachers"] == [{"name": "adam"}]


def test_the_default_name_follows_the_table():
    from amalg.core.runconfig import default_run_name

    assert default_run_name({"teachers": [{"name": "adam"}, {"name": "rmsprop"}]}) == (
        "digits_cnn-rnnprop-minmax-adam-rmsprop-seed0"
    )
    assert (
        default_run_name({"scheme": {"name": "none"}, "perturbation": {"name": "pgd"}, "seed": 3})
        == "digits_cnn-rnnprop-none-noteachers-pgd-seed3"
    )


def test_quick_presets_come_from_each_config_class(fresh_registry):
    from pydantic import Field

    import amalg
    from amalg.core.config import ComponentConfig
    from amalg.core.interfaces import Period, PeriodDecision, Strategy
    from amalg.core.runconfig import apply_quick

    class OnceConfig(ComponentConfig):
        unroll: int = Field(1000, ge=1, description="Steps.")

        @classmethod
        def quick(cls):
            return {"unroll": 10}

    class Once(Strategy[OnceConfig]):
        """One period."""

        name = "once"

        def start(self):
            return {"done": False}

        def next_period(self, state):
            if state["done"]:
                return None
            return Period(0, 0, self.config.unroll, self.config.unroll, 1, 0.0, 10, 1)

        def record(self, state, period, validation_loss):
            return {"done": True}, PeriodDecision(new_best=True, reload_best=True)

    @amalg.hookimpl
    def register_strategies(register):
        register(Once)

    registry = fresh_registry()
    registry.add_plugin(type("P", (), {"register_strategies": register_strategies}), "once")
    values = apply_quick(
        {"strategy": {"name": "once", "config": {}}, "engine": {"warmup_steps": 7}}, registry
    )
    assert values["strategy"]["config"] == {"unroll": 10}
    assert values["engine"]["warmup_steps"] == 7  # what the config sets wins over the preset
    assert values["evaluation"] == {"horizon": 60, "seeds": 2}
    assert values["task"]["config"] == {} and values["student"]["config"] == {}
