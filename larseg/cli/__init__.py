"""The ``larseg`` command line: one typer app, one module per group of verbs."""

from .app import app, main

__all__ = ["app", "main"]
