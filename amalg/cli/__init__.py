"""The ``amalg`` command line: a thin edge over the core. The only place that prints."""

from amalg.cli.app import app, main

__all__ = ["app", "main"]
