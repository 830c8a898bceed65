"""The ``larseg`` command line: one typer app, one module per group of verbs.

``main`` (the console script) installs its signal handlers before importing anything heavy.
Outside a long job, Ctrl-C (SIGINT) and SIGTERM end the command at once with one line and exit
code 130 / 143: no traceback, and no exception thrown into whatever code was running (a signal
raised as an exception inside a C extension's import can crash the interpreter). Long jobs
(``simulate``) replace these handlers with :func:`larseg.interrupt.graceful_stop` while they run,
so that they stop at a safe point and keep what is complete.
"""

from __future__ import annotations

import os
import signal
import sys


def _exit_now(signum: int, frame) -> None:
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    try:
        sys.stderr.write(f"{word} ({signal.Signals(signum).name})\n")
        if sys.stderr.isatty():
            sys.stderr.write("\x1b[?25h")  # a progress bar may have hidden the cursor
        sys.stderr.flush()
    finally:
        os._exit(128 + signum)


def main() -> None:
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _exit_now)
    from .app import main as run

    run()


def __getattr__(name: str):
    if name == "app":
        from .app import app

        return app
    raise AttributeError(name)


__all__ = ["app", "main"]
