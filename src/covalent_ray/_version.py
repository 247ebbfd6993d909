"""The package version (one place; ``covalent_ray.__version__`` re-exports it)."""

__version__ = "0.1.0"
