"""Training: loss, loop, metrics, evaluation and experiment tracking."""
