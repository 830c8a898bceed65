"""The typer application and the error handling every verb shares.

Errors are printed as one line (no traceback unless ``--debug``) and exit with a non-zero code:
1 for bad input or a failed job, 2 for usage errors (typer's own), 130 when interrupted.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ..errors import LarsegError

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
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def main() -> None:
    try:
        register_all()(standalone_mode=False)
    except typer.Exit as exc:  # raised by fail() and by --help
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors (bad option, missing argument)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a line
        if _state["debug"]:
            raise
        kind = "" if isinstance(exc, LarsegError) else f"{type(exc).__name__}: "
        console.print(f"[bold red]error:[/] {kind}{exc}", highlight=False, soft_wrap=True)
        if not isinstance(exc, LarsegError):
            console.print("(run with --debug for the traceback)", style="dim")
        sys.exit(1)


def register_all() -> typer.Typer:
    """The app with every verb registered (imported here so `import larseg.cli` stays light)."""
    from . import bench, demo, display, info, networks, simulate, validate  # noqa: F401

    return app
