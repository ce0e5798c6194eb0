"""scorebench: a benchmark suite for score-based generative models."""

__version__ = "0.1.0"
