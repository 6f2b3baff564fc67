"""The Typer application: one module per command group registers its commands here."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from amalg.cli import components, data, evaluate, export, report, run, tune


class _OneLineErrors(TyperGroup):
    """Click's usage errors (an unknown command or option) as one line on stderr, exit 2,
    like every other user mistake, instead of a usage panel."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        run = super().main
        if not standalone_mode:
            return run(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        try:
            result = run(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except typer.TyperException as error:  # click's usage errors derive from it
            context = getattr(error, "ctx", None)
            hint = f" (see `{context.command_path} --help`)" if context is not None else ""
            typer.echo(f"error: {error.format_message()}{hint}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        # Without standalone mode click returns the exit code of a typer.Exit.
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="amalg",
    cls=_OneLineErrors,
    help="Optimizer amalgamation and learned optimizers for PyTorch.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
components.register(app)
data.register(app)
run.register(app)
tune.register(app)
evaluate.register(app)
report.register(app)
export.register(app)


def _print_version(value: bool) -> None:
    if value:
        from amalg import __version__

        typer.echo(f"amalg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def main() -> None:
    """Console-script entry point."""
    app()
