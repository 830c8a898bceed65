"""``larseg display FILE --event N``: event displays (PNG and interactive HTML)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ..errors import LarsegError
from .app import app, console
from .common import existing_file


@app.command(help=(
    "Draw one event: per plane the ADC image and its truth labels (PNG via matplotlib, and an "
    "interactive HTML page via plotly in which you can zoom into the vertex).\n\n"
    "Fields: adc, cosmic (background/cosmic/neutrino), semantic (HIP/MIP/shower/delta/Michel), "
    "track_shower, instance."))
def display(
    file: Path = typer.Argument(..., help="larcv3 HDF5 file, or larcv1/larcv2 ROOT file (ADC)."),
    event: int = typer.Option(0, "--event", "-e", min=0, help="Entry number in the file."),
    output: Path = typer.Option(Path("displays"), "--output", "-o", help="Output directory."),
    fields: str = typer.Option("", "--fields",
                               help="Comma-separated panels (default: adc + the labels present)."),
    zoom: str = typer.Option("", "--zoom",
                             help="'vertex' or 'row0:row1,col0:col1' to zoom (PNG)."),
    html: bool = typer.Option(True, "--html/--no-html", help="Also write the interactive HTML page."),
    loss_weights: str = typer.Option("", "--loss-weights", metavar="SCHEME",
                                     help="Add the loss-weight panel the training uses: mild, "
                                          "image, full (SBND paper, on cosmic labels), cluster, "
                                          "vertex, cluster+vertex (note 1091, on semantic "
                                          "labels)."),
    prediction: str = typer.Option("", "--prediction", "-p", metavar="PRODUCER",
                                   help="Overlay a prediction product written by larseg predict "
                                        "(e.g. pred_cosmic), beside the truth of the same labels."),
) -> None:
    from ..io import open_events
    from ..viz import render_event_html, render_event_png

    f = open_events(existing_file(file))
    if event >= len(f):
        raise LarsegError(f"file {file} has {len(f)} events; --event {event} is out of range")
    ev = f[event]
    output.mkdir(parents=True, exist_ok=True)
    stem = f"{file.stem}_event{event}"
    kwargs = {}
    if fields:
        kwargs["fields"] = tuple(s.strip() for s in fields.split(",") if s.strip())
    zoom_arg = _parse_zoom(zoom)
    if loss_weights:
        from ..data.weights import event_weights

        try:
            kwargs["weights"] = event_weights(ev, loss_weights)
        except ValueError as e:
            raise LarsegError(f"file {file}: {e}") from None
    if prediction:
        from ..train.predict import read_prediction

        pred = read_prediction(file, prediction, event, ev)
        kwargs["prediction"] = [np.where(np.isnan(p), -1, p).astype(np.int64) for p in pred]
        target = prediction.removeprefix("pred_")
        kwargs["prediction_field"] = "semantic" if target == "track_shower" else target
    png = render_event_png(ev, output / f"{stem}.png", zoom=zoom_arg, **kwargs)
    console.print(f"wrote {png}")
    if html:
        page = render_event_html(ev, output / f"{stem}.html", **kwargs)
        console.print(f"wrote {page}")


def _parse_zoom(zoom: str):
    if not zoom:
        return None
    if zoom == "vertex":
        return "vertex"
    try:
        rows, cols = zoom.split(",")
        r0, r1 = (int(v) for v in rows.split(":"))
        c0, c1 = (int(v) for v in cols.split(":"))
    except ValueError:
        raise LarsegError(f"--zoom '{zoom}': use 'vertex' or 'row0:row1,col0:col1'") from None
    return (r0, r1, c0, c1)
