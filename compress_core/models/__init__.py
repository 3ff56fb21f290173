"""Models: the built-in architectures and helpers that find their prunable layers."""
