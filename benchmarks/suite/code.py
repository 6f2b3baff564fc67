"""Measuring another version of amalg: ``bench.py --code PATH`` imports the amalg package
of the checkout at PATH (``git worktree add PATH COMMIT``) instead of the installed one, so
a change's before and after are measured by the same suite on the same machine.

Nothing here imports amalg: it must run before anything does.
"""

from __future__ import annotations

import sys
from pathlib import Path


def use_checkout(path: Path) -> None:
    """Make ``import amalg`` load ``path/amalg`` (an editable install's finder, which would
    win over ``sys.path``, is set aside)."""
    if "amalg" in sys.modules:
        raise RuntimeError("amalg is already imported: choose the checkout first")
    if not (path / "amalg" / "__init__.py").is_file():
        raise SystemExit(f"error: --code {path}: no amalg package there (a checkout of amalg)")
    sys.meta_path[:] = [
        finder for finder in sys.meta_path if "editable" not in repr(finder).lower()
    ]
    sys.path.insert(0, str(path.resolve()))


def requested(argv: list[str]) -> Path | None:
    """The ``--code PATH`` of a command line, read before argparse (and amalg) run."""
    for index, value in enumerate(argv):
        if value == "--code" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if value.startswith("--code="):
            return Path(value.split("=", 1)[1])
    return None
