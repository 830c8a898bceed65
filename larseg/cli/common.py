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
    """A rich progress bar on stderr; yields a function done(n, status="") that sets how many
    are done (an absolute count, so work recovered from an interrupted run shows as done) and a
    short status (a loss, a rate)."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(),
                        TextColumn("{task.fields[status]}"), disable=disable,
                        console=Console(stderr=True))
    with progress:
        task = progress.add_task(description, total=total, status="")

        def done(n: int, status: str | None = None) -> None:
            if status is None:
                progress.update(task, completed=n)
            else:
                progress.update(task, completed=n, status=status)
        yield done
