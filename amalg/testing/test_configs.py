"""Every registered component of every kind has a config that round-trips through JSON,
refuses bad values naming the field, and describes each field (``amalg show`` prints it)."""

from __future__ import annotations

from amalg.testing import checks


def test_config_round_trips_through_json(
    component: tuple[str, str], amalg_registry: object
) -> None:
    checks.config_round_trips_through_json(*component)


def test_bad_config_values_are_rejected_naming_the_field(
    component: tuple[str, str], amalg_registry: object
) -> None:
    checks.bad_config_values_are_rejected_naming_the_field(*component)


def test_every_config_field_is_described(
    component: tuple[str, str], amalg_registry: object
) -> None:
    checks.every_config_field_is_described(*component)
