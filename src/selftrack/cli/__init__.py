"""Top layer: the command line."""
