"""Config checks every component kind's contract tests share."""

from __future__ import annotations

import json
import math

import pytest

import amalg
from amalg.core.errors import ConfigError


def bad_values(schema: dict) -> list[object]:
    """Values the JSON schema of one field forbids: out of bounds, NaN, the wrong type."""
    options = schema.get("anyOf", [schema])
    types = {option.get("type") for option in options}
    bad: list[object] = ["not-a-value"] if "string" not in types else []
    if "enum" in schema or "const" in schema:
        bad.append("not-an-option")
    for option in options:
        if option.get("type") in ("number", "integer"):
            for bound, step in (("minimum", -1), ("maximum", 1)):
                if bound in option:
                    bad.append(option[bound] + step)
            for bound in ("exclusiveMinimum", "exclusiveMaximum"):
                if bound in option:
                    bad.append(option[bound])
            if option["type"] == "number":
                bad.append(math.nan)
    return bad


def config_round_trips_through_json(kind: str, name: str) -> None:
    component = amalg.create(kind, name)
    text = component.config.model_dump_json()
    assert type(component.config).model_validate_json(text) == component.config
    assert amalg.create(kind, name, **json.loads(text)).config == component.config


def bad_config_values_are_rejected_naming_the_field(kind: str, name: str) -> None:
    schema = type(amalg.create(kind, name).config).model_json_schema()
    checked = 0
    for field, field_schema in schema["properties"].items():
        for value in bad_values(field_schema):
            with pytest.raises(ConfigError, match=rf"{kind} '{name}': {field}: "):
                amalg.create(kind, name, **{field: value})
            checked += 1
    assert checked >= len(schema["properties"])
    with pytest.raises(ConfigError, match="no_such_field: unknown field"):
        amalg.create(kind, name, no_such_field=1)


def every_config_field_is_described(kind: str, name: str) -> None:
    schema = type(amalg.create(kind, name).config).model_json_schema()
    undocumented = [f for f, spec in schema["properties"].items() if not spec.get("description")]
    assert undocumented == []
