"""The registry finds plugins through entry points, isolates broken ones and refuses clashes."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import amalg
from amalg.core.errors import (
    ConfigError,
    UnknownComponentError,
    UnknownKindError,
)
from amalg.core.registry import KINDS, Registry, normalize_kind

SIGN_SGD = """
    from amalg import hookimpl
    from amalg.core.config import ComponentConfig, LearningRate
    from amalg.core.interfaces import ElementwiseTeacher


    class SignSGDConfig(ComponentConfig):
        lr: LearningRate = 0.01


    class SignSGD(ElementwiseTeacher):
        '''Sign descent: delta = lr * sign(g).'''

        name = "{name}"
        config_class = SignSGDConfig

        def rule(self, grad, slots, param, step, hyper):
            return hyper["lr"] * grad.sign(), {{}}


    @hookimpl
    def register_teachers(register):
        register(SignSGD)
"""


def test_a_third_party_plugin_is_found_through_its_entry_point(install_plugin, fresh_registry):
    install_plugin(
        "amalg-signsgd",
        "amalg_signsgd",
        SIGN_SGD.format(name="signsgd"),
        entry_point="signsgd",
        version="2.1",
    )
    registry = fresh_registry()

    info = registry.get("teacher", "signsgd")
    assert (info.plugin, info.package, info.version) == ("signsgd", "amalg-signsgd", "2.1")
    assert info.summary == "Sign descent: delta = lr * sign(g)."
    teacher = amalg.create("teacher", "signsgd", lr=0.5)
    assert teacher.config.lr == 0.5
    assert registry.broken() == []


def test_builtin_teachers_come_through_amalgs_own_entry_point(fresh_registry):
    registry = fresh_registry()
    builtin = [plugin for plugin in registry.plugins() if plugin.builtin]
    assert sorted(plugin.name for plugin in builtin) == [
        "amalg.estimators",
        "amalg.perturbations",
        "amalg.schemes",
        "amalg.strategies",
        "amalg.students",
        "amalg.tasks",
        "amalg.teachers",
    ]
    names = {info.name for info in registry.components("teacher")}
    assert {"sgd", "momentum", "rmsprop", "adam", "addsign", "powersign", "nadamw"} <= names


def test_a_plugin_that_raises_on_import_is_recorded_and_the_rest_still_load(
    install_plugin, fresh_registry
):
    install_plugin(
        "amalg-broken", "amalg_broken", "raise RuntimeError('no GPU here')\n", entry_point="broken"
    )
    registry = fresh_registry()

    assert registry.get("teacher", "adam").name == "adam"
    [problem] = registry.broken()
    assert (problem.plugin, problem.package) == ("broken", "amalg-broken")
    assert "RuntimeError: no GPU here" in problem.error
    assert "Traceback" in problem.traceback and "amalg_broken.py" in problem.traceback
    with pytest.raises(UnknownComponentError, match="plugins with problems: broken"):
        registry.get("teacher", "fancy")


def test_a_duplicate_name_is_refused_naming_both_plugins(install_plugin, fresh_registry):
    install_plugin("amalg-adam2", "amalg_adam2", SIGN_SGD.format(name="adam"), entry_point="adam2")
    registry = fresh_registry()

    assert registry.get("teacher", "adam").plugin == "amalg.teachers"  # the built-in keeps it
    [problem] = registry.broken()
    assert problem.plugin == "adam2"
    assert "teacher 'adam' is registered by two plugins" in problem.error
    assert "amalg.teachers (amalg" in problem.error and "adam2 (amalg-adam2 1.0)" in problem.error


def test_disabled_plugins_are_skipped(install_plugin, fresh_registry, monkeypatch):
    install_plugin(
        "amalg-signsgd", "amalg_signsgd", SIGN_SGD.format(name="signsgd"), entry_point="signsgd"
    )
    monkeypatch.setenv("AMALG_DISABLE_PLUGINS", " signsgd ,amalg.teachers")
    registry = fresh_registry()

    assert registry.components("teacher") == []
    assert sorted(plugin.name for plugin in registry.disabled()) == ["amalg.teachers", "signsgd"]
    assert registry.broken() == []
    with pytest.raises(UnknownComponentError, match="disabled by AMALG_DISABLE_PLUGINS: "):
        registry.get("teacher", "adam")


def _plugin(**hooks: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hooks)


def _teacher_class(**attributes: object) -> type:
    from amalg.core.config import ComponentConfig
    from amalg.core.interfaces import ElementwiseTeacher

    def rule(self, grad, slots, param, step, hyper):
        return grad, {}

    body = {
        "name": "fake",
        "__doc__": "A fake teacher.",
        "rule": rule,
        "config_class": ComponentConfig,
        **attributes,
    }
    return type("Fake", (ElementwiseTeacher,), {k: v for k, v in body.items() if v is not ...})


class _TensorConfig:
    """A config pydantic cannot turn into a JSON schema (a tensor field)."""

    @staticmethod
    def make() -> type:
        import torch
        from pydantic import ConfigDict

        from amalg.core.config import ComponentConfig

        class TensorConfig(ComponentConfig):
            model_config = ConfigDict(arbitrary_types_allowed=True)
            scale: torch.Tensor | None = None

        return TensorConfig


@pytest.mark.parametrize(
    ("component", "error"),
    [
        (int, "is not a subclass of amalg.core.interfaces.teacher.Teacher"),
        (_teacher_class(name="Not Valid"), "needs a class attribute `name`"),
        (_teacher_class(__doc__=None), "needs a docstring"),
        (_teacher_class(config_class=dict), "needs `config_class`"),
        (_teacher_class(config_class=...), "needs `config_class`"),
        (_teacher_class(config_class=_TensorConfig.make()), "has a config amalg cannot describe"),
    ],
)
def test_an_invalid_component_breaks_only_its_plugin(component, error):
    registry = Registry([], disabled=())

    @amalg.hookimpl
    def register_teachers(register):
        register(component)

    registry.add_plugin(_plugin(register_teachers=register_teachers), "bad")
    assert registry.components("teacher") == []
    [problem] = registry.broken()
    assert problem.plugin == "bad" and error in problem.error


def test_an_abstract_component_is_refused():
    from amalg.core.interfaces import ElementwiseTeacher

    abstract = type("Half", (ElementwiseTeacher,), {"name": "half", "__doc__": "Half done."})
    registry = Registry([], disabled=())

    @amalg.hookimpl
    def register_teachers(register):
        register(abstract)

    registry.add_plugin(_plugin(register_teachers=register_teachers), "half")
    [problem] = registry.broken()
    assert "does not implement rule" in problem.error


def test_a_hook_that_raises_loses_only_what_it_registered():
    registry = Registry([], disabled=())
    good = _teacher_class(name="good")

    @amalg.hookimpl
    def register_teachers(register):
        register(good)
        raise ValueError("half-way failure")

    registry.add_plugin(_plugin(register_teachers=register_teachers), "flaky")
    assert registry.components("teacher") == []
    [problem] = registry.broken()
    assert "register_teachers failed: ValueError: half-way failure" in problem.error


def test_a_plugin_calling_sys_exit_on_import_is_recorded(install_plugin, fresh_registry):
    install_plugin("amalg-exit", "amalg_exit", "import sys\nsys.exit(3)\n", entry_point="exits")
    registry = fresh_registry()
    assert registry.get("teacher", "adam").name == "adam"
    [problem] = registry.broken()
    assert problem.plugin == "exits" and "SystemExit: 3" in problem.error


def test_adding_a_plugin_later_does_not_repeat_old_problems():
    registry = Registry([], disabled=())

    @amalg.hookimpl
    def register_teachers(register):
        raise ValueError("always fails")

    registry.add_plugin(_plugin(register_teachers=register_teachers), "failing")
    assert len(registry.broken()) == 1
    registry.add_plugin(_plugin(register_teachers=lambda register: None), "empty")
    errors = [problem.error for problem in registry.broken()]
    assert errors.count("register_teachers failed: ValueError: always fails") == 1


def test_a_hook_wrapper_is_refused():
    registry = Registry([], disabled=())

    @amalg.hookimpl(wrapper=True)
    def register_teachers(register):
        return (yield)

    registry.add_plugin(_plugin(register_teachers=register_teachers), "wrapping")
    [problem] = registry.broken()
    assert "as a hook wrapper" in problem.error


def test_the_same_module_under_two_names_is_refused():
    registry = Registry([], disabled=())
    plugin = _plugin(register_teachers=amalg.hookimpl(lambda register: None))
    registry.add_plugin(plugin, "first")
    registry.add_plugin(plugin, "second")
    [problem] = registry.broken()
    assert problem.plugin == "second"
    assert problem.error == "its module is already registered as plugin 'first'"


def test_a_misspelled_hook_or_missing_decorator_is_reported():
    registry = Registry([], disabled=())

    @amalg.hookimpl
    def register_teacher(register):
        """Misspelled: the hook is register_teachers."""

    def register_teachers(register):
        """Not decorated with @hookimpl."""

    registry.add_plugin(_plugin(register_teacher=register_teacher), "typo")
    registry.add_plugin(_plugin(register_teachers=register_teachers), "plain")
    errors = {problem.plugin: problem.error for problem in registry.broken()}
    assert "unknown hook(s) register_teacher" in errors["typo"]
    assert "implements no amalg hook" in errors["plain"]


def test_kinds_accept_singular_or_plural_and_suggest_close_matches():
    assert normalize_kind("Teachers") == "teacher"
    assert normalize_kind("estimator") == "estimator"
    with pytest.raises(UnknownKindError, match="did you mean 'teacher'"):
        normalize_kind("teachr")


def test_an_unknown_name_lists_close_matches(fresh_registry):
    fresh_registry()
    with pytest.raises(UnknownComponentError, match="unknown teacher 'adm'; did you mean 'adam'"):
        amalg.create("teacher", "adm")
    with pytest.raises(UnknownComponentError, match="unknown perturbation 'x'; known: cgd, fgsm"):
        amalg.create("perturbation", "x")


def test_an_unknown_name_of_an_empty_kind_says_none_is_installed(fresh_registry):
    fresh_registry(disabled=("amalg.perturbations",))
    with pytest.raises(UnknownComponentError, match="unknown perturbation 'x'; none is installed"):
        amalg.create("perturbation", "x")


def test_a_bad_config_value_names_the_field(fresh_registry):
    fresh_registry()
    with pytest.raises(ConfigError, match=r"teacher 'adam': lr: Input should be greater than 0"):
        amalg.create("teacher", "adam", lr=-1.0)
    with pytest.raises(ConfigError, match=r"momentum: unknown field; valid fields: lr$"):
        amalg.create("teacher", "sgd", momentum=0.9)


def test_list_components_returns_typed_records_with_schemas(fresh_registry):
    fresh_registry()
    [adam] = [info for info in amalg.list_components("teachers") if info.name == "adam"]
    record = adam.to_dict()
    assert set(record) == {
        "kind",
        "name",
        "summary",
        "plugin",
        "package",
        "version",
        "config_schema",
    }
    assert record["config_schema"]["properties"]["lr"]["exclusiveMinimum"] == 0
    assert record["config_schema"]["additionalProperties"] is False
    kinds = [info.kind for info in amalg.list_components()]
    assert kinds == sorted(kinds, key=list(KINDS).index)


def test_importing_amalg_loads_no_plugin():
    code = (
        "import amalg, sys; print('amalg.plugins.teachers' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
