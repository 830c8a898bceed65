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


class JobInterrupted(LarsegError):
    """A job stopped by SIGINT/SIGTERM at a safe point; what was complete is kept.

    ``exit_code`` is 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, *, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class JobMismatchError(LarsegError):
    """An output file holds events of another job (other detector, generator, seed...)."""


class WorkerError(LarsegError):
    """A worker process failed or died; the message says which task and how."""


class FileWriteError(LarsegError, OSError):
    """Writing a file failed (disk full, quota, I/O error); what was committed before is kept."""
