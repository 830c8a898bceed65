"""The typer application and the error handling every verb shares.

Errors are printed as one line (no traceback unless ``--debug``) and exit with a non-zero code
(listed in the README): 0 success; 1 bad input or a failed job; 2 usage errors (bad option,
missing argument, a verb that is not available); 130 interrupted by Ctrl-C (SIGINT); 143 stopped
by SIGTERM. Long jobs stop at a safe point on either signal and say what they kept.
"""

from __future__ import annotations

import signal
import sys

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import JobInterrupted, LarsegError

app = typer.Typer(
    name="larseg",
    help=("Deep-learning segmentation of LArTPC wire-plane images (MicroBooNE, SBND): simulate "
          "labelled events, read/write larcv3 HDF5 files, look at events, train and run networks."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    _state["debug"] = debug


def fail(message: str, code: int = 1) -> None:
    """Print one error line and exit non-zero."""
    console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def main() -> None:
    """Run the app and turn its outcome into one line and an exit code (signal handling: see
    :mod:`larseg.cli`)."""
    try:
        # With standalone_mode=False typer *returns* the exit code of typer.Exit (fail(), --help)
        # instead of exiting: it must be passed on, or every failure would exit 0.
        code = register_all()(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except JobInterrupted as exc:
        console.print(f"[yellow]{escape(str(exc))}[/]", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        console.print("[yellow]interrupted[/]")
        sys.exit(128 + signal.SIGINT)
    except typer.TyperException as exc:  # usage errors (bad option, missing argument)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a line
        if _state["debug"]:
            raise
        kind = "" if isinstance(exc, LarsegError) else f"{type(exc).__name__}: "
        # messages are plain text: "pip install 'larseg[ray]'" must not read as rich markup
        console.print(f"[bold red]error:[/] {kind}{escape(str(exc))}", highlight=False,
                      soft_wrap=True)
        if not isinstance(exc, LarsegError):
            console.print("(run with --debug for the traceback)", style="dim")
        sys.exit(1)


def register_all() -> typer.Typer:
    """The app with every verb registered (imported here so `import larseg.cli` stays light)."""
    from . import (  # noqa: F401
        agree, bench, compare, curves, demo, display, info, networks, occlusion, simulate,
        validate)

    return app
