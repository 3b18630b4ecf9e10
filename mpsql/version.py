"""mpsql's version (a leaf module: lower layers read it without importing the package's entry points)."""

__version__ = "0.1.0"
