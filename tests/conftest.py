"""Shared fixtures: an isolated registry, and plugins installed as real distributions."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from amalg.core.registry import Registry, set_registry
from amalg.core.training.launch import usable_cores


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n N``) each test process takes its share of the cores: N
    processes of all-cores thread pools oversubscribe the machine, and a meta-training test
    then runs ten times slower (measured: 2 processes of 16 threads on 2 cores)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        torch.set_num_threads(max(1, usable_cores() // int(workers)))


@pytest.fixture(scope="session", autouse=True)
def _session_data_dir(amalg_data_dir: Path) -> Path:
    """Datasets go to a folder of the test session, never the user's own: digits is
    prepared there once, and nothing else is (the tests run offline)."""
    return amalg_data_dir


@pytest.fixture
def mocked_datasets(amalg_mocked_datasets: Path) -> Path:
    """tensorflow-datasets serves MOCK_EXAMPLES random examples of the real shapes per split
    of every dataset, from an empty folder of this test (plumbing, not learning)."""
    return amalg_mocked_datasets


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Registry]]:
    """Make a new process-wide registry (from the installed entry points by default)."""
    monkeypatch.delenv("AMALG_DISABLE_PLUGINS", raising=False)
    previous = set_registry(None)

    def make(**kwargs: object) -> Registry:
        registry = Registry(**kwargs)  # type: ignore[arg-type]
        set_registry(registry)
        return registry

    yield make
    set_registry(previous)


@pytest.fixture
def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., None]]:
    """Install a plugin as a real distribution: a module plus a ``.dist-info`` folder with an
    ``entry_points.txt``, on ``sys.path``, so ``importlib.metadata`` finds it as it finds any
    pip-installed package."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(
        package: str, module: str, source: str, *, entry_point: str, version: str = "1.0"
    ) -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        dist_info = site / f"{package.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
        )
        (dist_info / "entry_points.txt").write_text(f"[amalg]\n{entry_point} = {module}\n")
        modules.append(module)
        importlib.invalidate_caches()

    yield install
    for module in modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()
