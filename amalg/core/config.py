"""Pydantic config models: the base every component config derives from, shared field
types, validation that raises :class:`ConfigError`, and a flat description of a model's
fields for ``amalg show``.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from amalg.core.errors import ConfigError

__all__ = [
    "MAX_COUNT",
    "MAX_STEPS",
    "ComponentConfig",
    "ConfigField",
    "Epsilon",
    "FirstMomentDecay",
    "LearningRate",
    "SecondMomentDecay",
    "describe_fields",
    "problems_from_validation_error",
    "validate_config",
]


class ComponentConfig(BaseModel):
    """Base of every component's config: unknown fields, NaN and infinity are refused,
    numbers must be numbers (``true`` or ``"0.1"`` is not a learning rate), instances are
    immutable (a changed config is a new config).

    :meth:`quick` gives the values a smoke run (``amalg run --quick``) uses instead of the
    defaults; a config class whose defaults cost minutes overrides it.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        """Field values for a smoke run of seconds (none by default: the defaults are cheap)."""
        return {}

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads True as 1.0 and "0.1" as 0.1: a flag or a quoted value
        # given where a number belongs is a mistake to report, not to convert.
        field = cls.model_fields.get(info.field_name or "")
        if field is not None:
            problem = _not_a_number(field.annotation, value)
            if problem:
                raise ValueError(problem)
        return value


MAX_STEPS = 10_000_000
"""The longest unroll, truncation or evaluation a config accepts (days of CPU work)."""
MAX_COUNT = 100_000
"""The most trajectories, periods or validation seeds a config accepts."""

LearningRate = Annotated[
    float, Field(gt=0, description="Learning rate: the multiplier of the update direction.")
]
FirstMomentDecay = Annotated[
    float, Field(ge=0, lt=1, description="Decay of m, the moving average of the gradient g.")
]
SecondMomentDecay = Annotated[
    float, Field(ge=0, lt=1, description="Decay of v, the moving average of g^2.")
]
# Positive: with eps = 0 a coordinate whose gradient was always 0 would divide 0 by 0.
Epsilon = Annotated[float, Field(gt=0, description="Numerical stability term.")]

C = TypeVar("C", bound=BaseModel)


def _accepts(annotation: Any) -> set[str]:
    """What a field type takes at its top level: "bool", "number", "text", "none",
    "list:<...>", "other"."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _accepts(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_accepts(arg) for arg in typing.get_args(annotation)))
    if origin is typing.Literal:
        return {"text" if isinstance(arg, str) else "other" for arg in typing.get_args(annotation)}
    if origin in (list, tuple, set, frozenset):
        items = set().union(
            *(_accepts(arg) for arg in typing.get_args(annotation) if arg is not ...)
        )
        return {f"list:{kind}" for kind in items} or {"other"}
    if annotation is None or annotation is type(None):
        return {"none"}
    if annotation is bool:
        return {"bool"}
    if annotation in (int, float):
        return {"number"}
    if annotation is str:
        return {"text"}
    return {"other"}


def _not_a_number(annotation: Any, value: Any) -> str:
    """Why ``value`` is refused for a field of type ``annotation`` ("" when it is not)."""
    accepted = _accepts(annotation) - {"none"}
    if "other" in accepted or value is None:
        return ""
    if accepted == {"bool"} and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if isinstance(value, bool) and "number" in accepted and "bool" not in accepted:
        return f"expected a number, got the boolean {str(value).lower()}"
    if isinstance(value, str) and "number" in accepted and "text" not in accepted:
        return f"expected a number, got the text {value!r}"
    if isinstance(value, list | tuple) and "list:number" in accepted:
        if "list:bool" not in accepted and any(isinstance(item, bool) for item in value):
            return "expected a list of numbers, got a boolean in it"
        if "list:text" not in accepted and any(isinstance(item, str) for item in value):
            return "expected a list of numbers, got text in it"
    return ""


def problems_from_validation_error(
    error: ValidationError, model: type[BaseModel]
) -> list[tuple[str, str]]:
    """(field, message) pairs from a pydantic error, worded for a user."""
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "(config)"
        if item["type"] == "extra_forbidden":
            message = f"unknown field; valid fields: {', '.join(model.model_fields) or 'none'}"
        elif (
            not item["loc"] or item["type"] == "value_error"
        ):  # a check across fields: its message says it all
            message = item["msg"].removeprefix("Value error, ")
        else:
            message = f"{item['msg']} (got {item['input']!r})"
        problems.append((field, message))
    return problems


def validate_config(model: type[C], values: Any, subject: str) -> C:
    """``model`` validated from ``values`` (a mapping or an instance of ``model``).

    Raises :class:`ConfigError` naming each offending field; ``subject`` says whose config
    it is ("teacher 'adam'").
    """
    if isinstance(values, model):
        return values
    if isinstance(values, BaseModel):
        values = values.model_dump()
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ConfigError(subject, problems_from_validation_error(error, model)) from None


@dataclass(frozen=True)
class ConfigField:
    """One config field as ``amalg show`` presents it."""

    name: str
    type: str
    default: Any
    required: bool
    bounds: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "required": self.required,
            "bounds": self.bounds,
            "description": self.description,
        }


def _type_name(annotation: Any) -> str:
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "<="),
    (annotated_types.MinLen, "min_length", "length >="),
    (annotated_types.MaxLen, "max_length", "length <="),
)


def _bounds(metadata: list[Any]) -> str:
    parts = []
    for item in metadata:
        for kind, attribute, symbol in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{symbol} {getattr(item, attribute)}")
    return ", ".join(parts)


def _plain(value: Any) -> Any:
    """A default as plain values: nested models as their non-default fields."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def describe_fields(model: type[BaseModel]) -> tuple[ConfigField, ...]:
    """The fields of a config model: type, default, bounds and description."""
    described = []
    for name, info in model.model_fields.items():
        required = info.is_required()
        default = (
            None if required else info.get_default(call_default_factory=True, validated_data={})
        )
        described.append(
            ConfigField(
                name=name,
                type=_type_name(info.annotation),
                default=_plain(default),
                required=required,
                bounds=_bounds(info.metadata),
                description=info.description or "",
            )
        )
    return tuple(described)
