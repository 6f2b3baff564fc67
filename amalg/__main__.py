"""``python -m amalg`` runs the command line."""

from amalg.cli import main

main()
