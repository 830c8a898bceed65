"""Errors that larseg raises for bad input: each names the file, the event and the field."""

from __future__ import annotations


class LarsegError(Exception):
    """Base class: the CLI prints these as one line (no traceback unless --debug)."""


class InvalidEventError(LarsegError, ValueError):
    """An event (read from a file or built in memory) breaks the event model's rules."""

    def __init__(self, message: str, *, event: str | None = None, field: str | None = None,
                 file: str | None = None) -> None:
        self.message = message
        self.event = event
        self.field = field
        self.file = file
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.event:
            where.append(f"event {self.event}")
        if self.field:
            where.append(f"field {self.field}")
        return (", ".join(where) + ": " if where else "") + self.message

    def with_file(self, file: str) -> "InvalidEventError":
        return InvalidEventError(self.message, event=self.event, field=self.field, file=file)


class FileFormatError(LarsegError, OSError):
    """A file that is not a readable larcv3 HDF5 file, or lacks what was asked of it."""


class ProductNotFoundError(LarsegError, KeyError):
    """A product/producer that the file does not hold; the message lists the ones it does."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
