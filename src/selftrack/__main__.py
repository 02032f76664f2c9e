"""``python -m selftrack`` runs the command line."""

from selftrack.cli.main import main

main()
