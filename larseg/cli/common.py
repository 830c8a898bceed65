"""Small helpers shared by the CLI verbs."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from ..errors import LarsegError


def console_out() -> Console:
    return Console()


def existing_file(path: Path) -> Path:
    if not path.exists():
        raise LarsegError(f"file {path} does not exist")
    if path.is_dir():
        raise LarsegError(f"{path} is a directory, not a larcv3 file")
    return path


@contextmanager
def progress_bar(description: str, total: int, *, disable: bool = False):
    """A rich progress bar on stderr; yields a function done(n) that sets how many are done
    (an absolute count, so work recovered from an interrupted run shows as done)."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), disable=disable,
                        console=Console(stderr=True))
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.update(task, completed=n)
