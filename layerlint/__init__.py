"""layerlint: a static linter for neural-network architectures."""

__version__ = "0.1.0"
__all__ = ["__version__"]
