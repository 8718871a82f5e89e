"""The one trainer: strategy, loop, checkpoints, summaries, progress."""
