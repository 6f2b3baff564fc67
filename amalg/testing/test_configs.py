"""Every registered component of every kind has a config that round-trips through JSON,
refuses bad values naming the field, and describes each field (``amalg show`` prints it)."""

from __future__ import annotations

from pathlib import Path

from amalg.testing import checks


def test_config_round_trips_through_json(
    component: tuple[str, str], amalg_registry: object, tmp_path: Path
) -> None:
    checks.config_round_trips_through_json(*component, tmp_path)


def test_bad_config_values_are_rejected_naming_the_field(
    component: tuple[str, str], amalg_registry: object, tmp_path: Path
) -> None:
    checks.bad_config_values_are_rejected_naming_the_field(*component, tmp_path)


def test_every_config_field_is_described(
    component: tuple[str, str], amalg_registry: object, tmp_path: Path
) -> None:
    checks.every_config_field_is_described(*component, tmp_path)
