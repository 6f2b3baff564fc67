"""The Typer application: one module per command group registers its commands here."""

from __future__ import annotations

import typer

from amalg.cli import components

app = typer.Typer(
    name="amalg",
    help="Optimizer amalgamation and learned optimizers for PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
components.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
