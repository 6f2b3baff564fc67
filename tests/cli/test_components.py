"""`amalg list` and `amalg show` through Typer's CliRunner."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from amalg.cli import app

from ..core.test_registry import SIGN_SGD

# Rich wraps tables to the terminal width; a wide one keeps each cell on one line.
WIDE = {"COLUMNS": "200"}
TEACHERS = {"sgd", "momentum", "rmsprop", "adam", "addsign", "powersign", "nadamw", "trained"}


@pytest.fixture
def runner(fresh_registry) -> CliRunner:
    fresh_registry()
    return CliRunner(env=WIDE)


def test_list_shows_a_row_per_teacher_with_its_source(runner):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    rows = re.findall(
        r"│ teacher\s+│ (\w+)\s+│.*│ amalg\.teachers \(amalg [\w.]+\)\s+│", result.output
    )
    assert sorted(rows) == sorted(TEACHERS)


def test_list_teacher_json_gives_every_teacher_and_its_schema(runner):
    result = runner.invoke(app, ["list", "teachers", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    names = {record["name"] for record in payload["components"]}
    assert names == TEACHERS
    for record in payload["components"]:
        assert record["kind"] == "teacher"
        # Every analytical teacher has a learning rate; a trained optimizer is used as it is.
        field = "path" if record["name"] == "trained" else "lr"
        assert field in record["config_schema"]["properties"]
    assert payload["broken_plugins"] == [] and payload["disabled_plugins"] == []


def test_list_reports_broken_and_disabled_plugins(install_plugin, fresh_registry, monkeypatch):
    install_plugin("amalg-broken", "amalg_broken", "import no_such_module\n", entry_point="broken")
    install_plugin(
        "amalg-signsgd", "amalg_signsgd", SIGN_SGD.format(name="signsgd"), entry_point="signsgd"
    )
    monkeypatch.setenv("AMALG_DISABLE_PLUGINS", "signsgd")
    fresh_registry()
    runner = CliRunner(env=WIDE)

    result = runner.invoke(app, ["list", "teacher"])
    assert result.exit_code == 0, result.output
    assert "broken plugins" in result.output and "No module named 'no_such_module'" in result.output
    assert "Disabled by AMALG_DISABLE_PLUGINS: signsgd" in result.output

    payload = json.loads(runner.invoke(app, ["list", "--json"]).output)
    assert payload["broken_plugins"][0]["plugin"] == "broken"
    assert "Traceback" in payload["broken_plugins"][0]["traceback"]
    assert payload["disabled_plugins"] == [
        {"plugin": "signsgd", "package": "amalg-signsgd", "version": "1.0"}
    ]


def test_list_warns_of_disabled_names_that_match_no_plugin(fresh_registry, monkeypatch):
    monkeypatch.setenv("AMALG_DISABLE_PLUGINS", "amalg.teachrs")
    fresh_registry()
    result = CliRunner(env=WIDE).invoke(app, ["list"])
    assert "AMALG_DISABLE_PLUGINS names no installed plugin: amalg.teachrs" in result.output


def test_list_of_a_kind_with_nothing_installed_says_so(fresh_registry):
    # Every kind has built-in components: disabling a plugin leaves its kind empty.
    fresh_registry(disabled=("amalg.perturbations",))
    result = CliRunner(env=WIDE).invoke(app, ["list", "perturbations"])
    assert result.exit_code == 0
    assert "No perturbations are installed." in result.output


def test_show_gives_fields_types_defaults_bounds_and_descriptions(runner):
    result = runner.invoke(app, ["show", "teacher", "adam"])
    assert result.exit_code == 0, result.output
    assert "torch.optim.Adam" in result.output
    assert re.search(r"│ lr\s+│ float\s+│ 0\.005\s+│ > 0\s+│ Learning rate", result.output)
    assert re.search(r"│ beta2\s+│ float\s+│ 0\.999\s+│ >= 0, < 1\s+│ Decay of v", result.output)
    assert re.search(r"│ eps\s+│ float\s+│ 1e-10\s+│ > 0\s+│ Numerical", result.output)


def test_show_prints_generic_types_whole(fresh_registry):
    from pydantic import Field

    import amalg
    from amalg.core.config import ComponentConfig
    from amalg.core.interfaces import ElementwiseTeacher

    class ListConfig(ComponentConfig):
        layers: list[str] = Field(default_factory=lambda: ["a"], description="Layer names.")

    class Listed(ElementwiseTeacher):
        """A teacher with a list field."""

        name = "listed"
        config_class = ListConfig

        def rule(self, grad, slots, param, step, hyper):
            return grad, {}

    @amalg.hookimpl
    def register_teachers(register):
        register(Listed)

    fresh_registry().add_plugin(type("P", (), {"register_teachers": register_teachers}), "p")
    result = CliRunner(env=WIDE).invoke(app, ["show", "teacher", "listed"])
    assert result.exit_code == 0, result.output
    assert re.search(r"│ layers\s+│ list\[str\]\s+│ \[\"a\"\]", result.output)


def test_show_json(runner):
    result = runner.invoke(app, ["show", "teachers", "nadamw", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    fields = {field["name"]: field for field in payload["fields"]}
    assert fields["horizon"]["type"] == "int | None" and fields["horizon"]["bounds"] == ">= 1"
    assert fields["lr"]["default"] == 0.005 and not fields["lr"]["required"]
    assert "Appendix F" in payload["description"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "teachr"], "error: unknown component kind 'teachr'; did you mean 'teacher'?"),
        (["show", "teacher", "adm"], "error: unknown teacher 'adm'; did you mean 'adam'"),
        (["show", "schem", "minmax"], "error: unknown component kind 'schem'"),
        (["show", "perturbation", "pgdd"], "error: unknown perturbation 'pgdd'; did you mean"),
        (["show", "student", "rnnpro"], "error: unknown student 'rnnpro'; did you mean 'rnnprop'"),
        (["lst"], "error: No such command 'lst'. Did you mean 'list'? (see `amalg --help`)"),
        (["list", "--jsn"], "error: No such option: --jsn"),
        (["show", "teacher"], "error: Missing argument 'name'. (see `amalg show --help`)"),
    ],
)
def test_a_user_mistake_gives_one_line_and_exit_code_2(runner, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_a_duplicate_component_is_reported_and_the_builtin_kept(install_plugin, fresh_registry):
    install_plugin("amalg-adam2", "amalg_adam2", SIGN_SGD.format(name="adam"), entry_point="adam2")
    fresh_registry()
    runner = CliRunner(env=WIDE)
    shown = runner.invoke(app, ["show", "teacher", "adam"])
    assert shown.exit_code == 0 and "torch.optim.Adam" in shown.output
    listed = runner.invoke(app, ["list", "teacher"])
    assert "adam2" in listed.output and "registered by two plugins" in listed.output


def test_amalg_alone_prints_help(runner):
    result = runner.invoke(app, [])
    assert result.exit_code == 0
    assert "list" in result.output and "show" in result.output


def test_tasks_are_listed_as_optimizees_too(runner):
    listed = runner.invoke(app, ["list", "optimizees", "--json"])
    assert listed.exit_code == 0, listed.output
    names = {record["name"] for record in json.loads(listed.output)["components"]}
    assert "digits_cnn" in names and all(
        record["kind"] == "task" for record in json.loads(listed.output)["components"]
    )
    shown = runner.invoke(app, ["show", "optimizee", "digits_cnn"])
    assert shown.exit_code == 0 and "task digits_cnn" in shown.output
