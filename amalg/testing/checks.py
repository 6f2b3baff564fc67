"""Checks shared by the contract suites of several kinds (configs, functional updates)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

import amalg
from amalg.core.errors import ConfigError
from amalg.core.functional import Params, State, tree_leaves, tree_map
from amalg.core.interfaces import UpdateRule
from amalg.testing.problems import random_params

__all__ = [
    "bad_config_values_are_rejected_naming_the_field",
    "bad_values",
    "config_round_trips_through_json",
    "every_config_field_is_described",
    "update_mutates_nothing",
]


def bad_values(schema: dict[str, Any]) -> list[object]:
    """Values the JSON schema of one field forbids: out of bounds, NaN, the wrong type, a
    boolean for a number."""
    options = schema.get("anyOf", [schema])
    types = {option.get("type") for option in options}
    bad: list[object] = ["not-a-value"] if "string" not in types else []
    if "enum" in schema or "const" in schema:
        bad.append("not-an-option")
    for option in options:
        if option.get("type") in ("number", "integer"):
            if "boolean" not in types:
                bad.append(True)
            for bound, step in (("minimum", -1), ("maximum", 1)):
                if bound in option:
                    bad.append(option[bound] + step)
            for bound in ("exclusiveMinimum", "exclusiveMaximum"):
                if bound in option:
                    bad.append(option[bound])
            if option["type"] == "number":
                bad.append(math.nan)
    return bad


def example(kind: str, name: str, folder: Path) -> dict[str, Any]:
    """The config values the suites build a component with (its ``example_config``: none
    for a component whose defaults are usable)."""
    from amalg.core.registry import get_registry

    return get_registry().get(kind, name).component.example_config(folder)


def make(kind: str, name: str, folder: Path, **fields: Any) -> Any:
    """``amalg.create(kind, name)`` with the component's example config under ``fields``."""
    return amalg.create(kind, name, **{**example(kind, name, folder), **fields})


def config_round_trips_through_json(kind: str, name: str, folder: Path) -> None:
    component = make(kind, name, folder)
    text = component.config.model_dump_json()
    assert type(component.config).model_validate_json(text) == component.config
    assert amalg.create(kind, name, **json.loads(text)).config == component.config


def bad_config_values_are_rejected_naming_the_field(kind: str, name: str, folder: Path) -> None:
    base = example(kind, name, folder)
    schema = type(make(kind, name, folder).config).model_json_schema()
    for field, field_schema in schema.get("properties", {}).items():
        for value in bad_values(field_schema):
            with pytest.raises(ConfigError, match=rf"{kind} '{name}': {field}: "):
                amalg.create(kind, name, **{**base, field: value})
    with pytest.raises(ConfigError, match="no_such_field: unknown field"):
        amalg.create(kind, name, **base, no_such_field=1)


def every_config_field_is_described(kind: str, name: str, folder: Path) -> None:
    schema = type(make(kind, name, folder).config).model_json_schema()
    properties = schema.get("properties", {})
    undocumented = [f for f, spec in properties.items() if not spec.get("description")]
    assert undocumented == [], f"config fields without a description: {undocumented}"


def update_mutates_nothing(rule: UpdateRule[Any], params: Params, grads: Params) -> None:
    """``rule.update`` leaves its grads, state and params exactly as they were (values and
    in-place version counters), so an unroll can be differentiated through every step."""
    state: State = rule.init(params)
    with torch.no_grad():
        _, state = rule.update(grads, state, params, 0)
    inputs = [*params.values(), *grads.values(), *tree_leaves(state)]
    tensors = [tensor for tensor in inputs if isinstance(tensor, torch.Tensor)]
    versions = [tensor._version for tensor in tensors]
    copies = [tensor.detach().clone() for tensor in tensors]
    with torch.no_grad():
        rule.update(grads, state, params, 1)
    assert [tensor._version for tensor in tensors] == versions
    assert all(torch.equal(a, b) for a, b in zip(tensors, copies, strict=True))


def steps_on(rule: UpdateRule[Any], device: str, steps: int) -> tuple[list[Any], torch.Tensor]:
    """``steps`` float64 steps of ``rule`` (its own tensors already on ``device``) from the
    contract problems' parameters and gradients: each step's update and state, moved to the
    CPU, and the sum of the squared updates (differentiable where grad mode kept a graph)."""
    params = {key: value.to(device) for key, value in random_params(torch.float64).items()}
    state, seen = rule.init(params), []
    total = torch.zeros((), dtype=torch.float64)
    for step in range(steps):
        grads = {k: v.to(device) for k, v in random_params(torch.float64, step + 1).items()}
        delta, state = rule.update(grads, state, params, step)
        params = rule.apply(params, delta)
        total = total + sum(value.square().sum().cpu() for value in delta.values())
        seen.append(tree_map(lambda t: t.detach().cpu(), (delta, state)))
    return seen, total


def steps_in_place_on(
    rule: UpdateRule[Any], device: str, steps: int, scale: float
) -> tuple[Params, Any]:
    """``steps`` float64 :meth:`~amalg.core.interfaces.UpdateRule.step_in_place` calls of
    ``rule`` on the contract problems (an optimizer's steps): the parameters and the state
    at the end, on the CPU."""
    params = {key: value.to(device) for key, value in random_params(torch.float64).items()}
    state = rule.init(params)
    for step in range(steps):
        grads = {k: v.to(device) for k, v in random_params(torch.float64, step + 1).items()}
        state = rule.step_in_place(grads, state, params, step, scale)
    return tree_map(lambda t: t.cpu(), (params, state))


def compiled_path_matches_eager(
    eager: UpdateRule[Any], compiled: UpdateRule[Any], device: str = "cpu"
) -> None:
    """Four graph-free float64 steps of ``compiled`` (on its compiled path, its tensors on
    ``device``: Triton's code on a GPU) agree with those of ``eager`` on the CPU to float
    rounding (a compiler may reorder arithmetic), through ``update`` and through
    ``step_in_place`` (a scaled step, as a learning-rate multiplier gives); skips, naming
    why, where a compilation failed in this process (the eager path would run twice)."""
    from amalg.core.compiled import CompilerUnavailableWarning, failures

    runs, written = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompilerUnavailableWarning)  # on record: failures()
        for rule, where in ((eager, "cpu"), (compiled, device)):
            with torch.no_grad():
                runs.append(steps_on(rule, where, 4)[0])
                written.append(steps_in_place_on(rule, where, 4, 0.5))
    if failures():
        pytest.skip(f"no working compiler here: {failures()}")
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(written[1], written[0], rtol=1e-9, atol=1e-12)


def agree(actual: Any, expected: Any, device: str, rtol: float, atol: float) -> None:
    """``actual`` (computed on ``device``) against ``expected`` (computed on the CPU), any
    nesting of tensors: to ``rtol``/``atol`` on another device, whose kernels may round
    differently, and exactly when ``device`` is the CPU (the same computation twice must
    give the same bits)."""
    exact = torch.device(device).type == "cpu"
    torch.testing.assert_close(
        actual, expected, rtol=0 if exact else rtol, atol=0 if exact else atol
    )
