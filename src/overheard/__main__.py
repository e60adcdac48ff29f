"""``python -m overheard`` runs the command line."""

from .cli import main

main()
