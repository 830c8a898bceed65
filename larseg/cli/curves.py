"""``larseg curves RUN [RUN ...] -o FIGURE.png``: the training curves of several runs side by
side (:mod:`larseg.viz.curves`), and a table comparing them at equal steps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.table import Table

from ..errors import LarsegError
from .app import app, console
from .common import console_out

FORMATS = (".png", ".pdf", ".svg")


def _fmt(value: float | None, whole: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.0f}" if whole else f"{value:#.4g}"


def _rows(summary) -> list[tuple[str, list[str]]]:
    """(quantity, one cell per run) in the order the table shows them."""
    runs = summary.runs
    rows = [("last step (logged steps)", [f"{r.last_step} ({r.logged_steps})" for r in runs])]
    for s in summary.steps:
        rows.append((f"loss, mean of {summary.window} up to step {s}",
                     [_fmt(r.smoothed_loss[s]) for r in runs]))
    for k in summary.quantities:
        rows.append((f"{k}, last", [_fmt(r.last.get(k), k == "skipped") for r in runs]))
        if k.startswith("val_"):
            rows.append((f"{k}, best (step)", [
                f"{_fmt(r.best[k][0])} ({r.best[k][1]})" if k in r.best else "–"
                for r in runs]))
    return rows


def _print_table(summary) -> None:
    t = Table(title=f"training curves, loss smoothed over {summary.window} steps",
              show_edge=False)
    t.add_column("quantity", no_wrap=True)
    for r in summary.runs:
        t.add_column(r.label, justify="right", no_wrap=True)
    for name, cells in _rows(summary):
        t.add_row(name, *cells)
    console_out().print(t)


@app.command(help=(
    "Training curves of one or more runs side by side, from each run's log.csv (what larseg "
    "train writes: one row per step with the loss, every loss term, lr, skipped, and val_* "
    "columns on validation steps). The figure has one panel per quantity, step on the x axis: "
    "the total loss (every step, light, and its running mean over the last --smooth steps), "
    "each loss term (a term equal to the loss, as with a single cross-entropy, is not drawn "
    "twice), lr on a log scale, and each validation column as points joined by lines. Every "
    "run has its colour and its name in the legend (the run directory's name, or --label); a "
    "run without a column has no line in that panel.\n\n"
    "The table printed (--json: as JSON) compares the runs: per run the last step, the loss's "
    "running mean at equal steps (by default 10, 25, 50 and 100 % of the shortest run; "
    "--at STEP chooses them), the last value of every column, and the best value of each "
    "validation column with its step (lowest for losses, highest for accuracies). The running "
    "mean at a step uses only steps up to it, so two runs' values there saw the same number "
    "of updates. --max-step cuts every run at that step.\n\n"
    "Example, SSNet with and without the PID CNN transfer (two runs of the same config, one "
    "with model.init_from set), compared over the 500 steps both have:\n\n"
    "larseg curves runs/ssnet runs/ssnet_scratch --label 'PID CNN transfer' "
    "--label 'from scratch' --max-step 500 -o docs/figures/ssnet_transfer.png\n\n"
    "What to read: a transfer that helps shows as a lower smoothed loss at the early equal "
    "steps (the encoder starts from learned features) and as a better validation value "
    "reached sooner; if the rows at 50 and 100 % agree, the two runs have met. One run's "
    "noise sets the scale of a meaningful difference: compare it with the spread of the "
    "light per-step curve."))
def curves(
    runs: list[Path] = typer.Argument(..., metavar="RUN", help="Run directories (holding "
                                      "log.csv), or log.csv files."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="The figure: FIGURE.png (or .pdf, .svg)."),
    smooth: int = typer.Option(None, "--smooth", min=1, help="Running-mean window in steps "
                               "(default: 2 % of the longest run's steps, at least 1)."),
    labels: list[str] = typer.Option([], "--label", "-l", help="Name of a run in the legend "
                                     "and the table, once per RUN in their order."),
    max_step: int = typer.Option(None, "--max-step", min=1,
                                 help="Use only the steps up to this one."),
    at: list[int] = typer.Option([], "--at", min=1, help="Step at which to compare the "
                                 "smoothed loss; repeat for more."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as one JSON object."),
) -> None:
    from ..viz.curves import read_log, summarise, write_curves

    if labels and len(labels) != len(runs):
        raise typer.BadParameter(f"{len(labels)} --label for {len(runs)} runs: give one per "
                                 "run, or none")
    if output.suffix.lower() not in FORMATS:
        raise LarsegError(f"--output {output}: the figure's name must end in "
                          f"{', '.join(FORMATS)}")
    curves_ = [read_log(run, labels[i] if labels else None, max_step)
               for i, run in enumerate(runs)]
    summary = summarise(curves_, smooth, at)
    write_curves(curves_, output, summary.window)
    if as_json:
        typer.echo(json.dumps({**summary.to_dict(), "figure": str(output)}))
        return
    _print_table(summary)
    console.print(f"wrote {output}", soft_wrap=True, markup=False)
