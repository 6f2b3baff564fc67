"""The pytest plugin of amalg's contract suites (loaded through the ``pytest11`` entry point).

It adds ``--amalg-plugin``, parametrizes the suites' ``<kind>_name`` fixtures with the
installed components of that kind (and ``component`` with ``(kind, name)`` of every kind),
and provides the fixtures the suites share. Importing it imports
neither torch nor amalg's components: a pytest session that runs no suite pays nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

KIND_FIXTURES = {
    "teacher_name": "teacher",
    "student_name": "student",
    "scheme_name": "scheme",
    "estimator_name": "estimator",
    "strategy_name": "strategy",
    "perturbation_name": "perturbation",
    "task_name": "task",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("amalg", "amalg contract suites")
    group.addoption(
        "--amalg-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="Run amalg's contract suites over this plugin's components only (its "
        "entry-point name; repeat for several). Default: every installed component.",
    )


def installed(kind: str, plugins: list[str] | None = None) -> list[str]:
    """The names of the installed components of ``kind`` (of ``plugins`` only, when given),
    whatever ``AMALG_DISABLE_PLUGINS`` says."""
    from amalg.core.registry import Registry

    registry = Registry(disabled=())
    return [
        info.name for info in registry.components(kind) if not plugins or info.plugin in plugins
    ]


_NOTHING_TO_CHECK = pytest.StashKey[set[str]]()
_SUITES = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    wanted = config.getoption("amalg_plugin", default=[]) or []
    if not wanted:
        return
    from amalg.core.registry import Registry

    registry = Registry(disabled=())
    loaded = {plugin.name for plugin in registry.plugins()}
    broken = {problem.plugin: problem.error for problem in registry.broken()}
    for name in wanted:
        if name in broken:
            raise pytest.UsageError(f"--amalg-plugin {name}: the plugin is broken: {broken[name]}")
        if name not in loaded:
            raise pytest.UsageError(
                f"--amalg-plugin {name}: no plugin of that name is installed (installed: "
                f"{', '.join(sorted(loaded)) or 'none'}); the name is the entry point's, as "
                "`amalg list` shows it"
            )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Only amalg's own suites: this plugin is active in every pytest session of the
    # environment, and other projects' tests may use these names for their own things.
    if Path(str(metafunc.module.__file__)).resolve().parent != _SUITES:
        return
    plugins = metafunc.config.getoption("amalg_plugin", default=[]) or []
    for fixture, kind in KIND_FIXTURES.items():
        if fixture in metafunc.fixturenames:
            names = installed(kind, plugins)
            if not names:  # no component of this kind to check: the test is deselected
                metafunc.config.stash.setdefault(_NOTHING_TO_CHECK, set()).add(
                    metafunc.definition.nodeid
                )
            metafunc.parametrize(fixture, names, ids=names)
    if "component" in metafunc.fixturenames:
        pairs = [
            (kind, name) for kind in KIND_FIXTURES.values() for name in installed(kind, plugins)
        ]
        if not pairs:
            metafunc.config.stash.setdefault(_NOTHING_TO_CHECK, set()).add(
                metafunc.definition.nodeid
            )
        metafunc.parametrize("component", pairs, ids=[f"{kind}-{name}" for kind, name in pairs])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    empty = config.stash.get(_NOTHING_TO_CHECK, set())
    if not empty:
        return
    kept = [item for item in items if item.nodeid.partition("[")[0] not in empty]
    deselected = [item for item in items if item.nodeid.partition("[")[0] in empty]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture
def amalg_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh process-wide registry of every installed plugin (none disabled)."""
    from amalg.core.registry import Registry, set_registry

    monkeypatch.delenv("AMALG_DISABLE_PLUGINS", raising=False)
    registry = Registry(disabled=())
    previous = set_registry(registry)
    yield registry
    set_registry(previous)


@pytest.fixture(scope="session")
def amalg_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A dataset folder and a tuning store of the test session, so that the suites never
    touch the user's own (the offline digits are prepared there once)."""
    folder = tmp_path_factory.mktemp("amalg-datasets")
    settings = {"AMALG_DATA_DIR": folder, "AMALG_TUNING_DIR": folder / "tuning"}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update({name: str(value) for name, value in settings.items()})
    yield folder
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


MOCK_EXAMPLES = 16


@pytest.fixture
def amalg_mocked_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tensorflow-datasets serves MOCK_EXAMPLES random examples of the real shapes per split
    of every dataset, from an empty folder of this test (plumbing, not learning)."""
    import tensorflow_datasets as tfds

    folder = tmp_path / "mocked-datasets"
    monkeypatch.setenv("AMALG_DATA_DIR", str(folder))
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        yield folder
