"""The documentation stays true: the README's plugin example is the tested example package,
every hook is documented, every kind has a hook."""

from __future__ import annotations

import inspect
from pathlib import Path

from amalg.core import hookspecs
from amalg.core.registry import KINDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_shows_the_example_plugin_package_verbatim():
    for name in ("pyproject.toml", "amalg_adagrad.py"):
        text = (ROOT / "examples" / "amalg-adagrad" / name).read_text().rstrip()
        assert text in README, f"README's copy of {name} is out of date"


def test_every_kind_has_a_documented_hook_taking_register():
    specs = {
        name: function
        for name, function in vars(hookspecs).items()
        if callable(function) and hasattr(function, "amalg_spec")
    }
    assert set(specs) == {spec.hook for spec in KINDS.values()}
    for name, function in specs.items():
        assert inspect.getdoc(function), f"{name} has no docstring"
        assert list(inspect.signature(function).parameters) == ["register"]


def test_every_module_the_architecture_names_exists():
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:core|plugins|cli|testing)/[\w/]+(?:\.py|/))`", text))
    assert len(named) > 20
    missing = sorted(path for path in named if not (ROOT / "amalg" / path).exists())
    assert missing == []


def test_every_core_module_is_described_in_the_architecture():
    text = (ROOT / "docs" / "architecture.md").read_text()
    modules = [
        path.relative_to(ROOT / "amalg").as_posix()
        for path in (ROOT / "amalg" / "core").rglob("*.py")
        if path.name != "__init__.py" and "interfaces" not in path.parts
    ]
    undocumented = [module for module in modules if f"`{module}`" not in text]
    assert undocumented == []


def test_the_readme_training_loop_with_a_shipped_optimizer_runs_as_written(capsys):
    import re

    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    (example,) = [block for block in blocks if 'amalg.optim.load("rnnprop-mean-digits"' in block]
    exec(compile(example, "README.md", "exec"), {})
    loss = float(capsys.readouterr().out.split("final loss ")[1].split()[0])
    assert loss < 0.5  # it starts near log(3) = 1.1
