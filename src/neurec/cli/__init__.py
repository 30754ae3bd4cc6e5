"""Command-line entry points; the only layer that sees Hydra configs."""
