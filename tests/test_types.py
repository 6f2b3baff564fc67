"""amalg type-checks: components are generic in their config, so ``self.config.hidden`` is an
int to the checker without asserts or casts."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_type_checks():
    api = pytest.importorskip("mypy.api", reason="mypy comes with amalg[dev]")
    stdout, stderr, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "amalg")]
    )
    assert status == 0, stdout[-3000:] + stderr[-1000:]
