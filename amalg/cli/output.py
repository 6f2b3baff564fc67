"""Output helpers shared by the commands."""

from __future__ import annotations

import json
from typing import Any

import typer


def echo_json(payload: Any) -> None:
    """Print ``payload`` as JSON with plain echo: rich would wrap long lines and break it."""
    typer.echo(json.dumps(payload, indent=2, default=str))
