"""The ``emc`` command line (entry point :func:`main`)."""

from streams.cli.main import main

__all__ = ["main"]
