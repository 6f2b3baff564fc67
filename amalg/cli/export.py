"""``amalg export``: a finished run's student as a portable optimizer file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from amalg.cli.errors import reports_errors


def register(app: typer.Typer) -> None:
    app.command("export")(export)


@reports_errors
def export(
    run: Annotated[Path, typer.Argument(help="A finished run's folder.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="A NAME.safetensors file, or a folder (RUN_NAME.safetensors inside)."
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="The optimizer's name (default: the run's).")
    ] = None,
    description: Annotated[
        str, typer.Option("--description", help="A line saying what it is for.")
    ] = "",
) -> None:
    """Write a run's trained student as safetensors weights with a JSON card (student, config,
    how it was trained); `amalg.optim.load(FILE, params)` uses it in any training loop."""
    from amalg.core.export import export_run

    path = export_run(run, out, name=name, description=description)
    Console().print(Text(f"optimizer written to {path} ({path.stat().st_size:,} bytes)"))
