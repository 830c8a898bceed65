"""``larseg display FILE --event N``: event displays (PNG and interactive HTML)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import LarsegError
from .app import app, console
from .common import existing_file


@app.command(help=(
    "Draw one event: per plane the ADC image and its truth labels (PNG via matplotlib, and an "
    "interactive HTML page via plotly in which you can zoom into the vertex).\n\n"
    "Fields: adc, cosmic (background/cosmic/neutrino), semantic (HIP/MIP/shower/delta/Michel), "
    "track_shower, instance.\n\n"
    "sMask-RCNN's predictions: larseg display OUT --prediction pred_instances draws the "
    "predicted masks, boxes, classes and scores over the ADC of their plane (PNG, and HTML "
    "with one legend entry per instance)."))
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
                                        "(e.g. pred_cosmic), beside the truth of the same labels. "
                                        "pred_instances (sMask-RCNN): the instance display "
                                        "instead, on the instances' plane (or the first of "
                                        "--planes); --fields, --zoom, --loss-weights and "
                                        "--adc-mask do not apply to it."),
    planes: str = typer.Option("", "--planes",
                               help="Comma-separated planes to draw, by name (U,V,Y) or index "
                                    "(default: all)."),
    adc_mask: str = typer.Option("", "--adc-mask", metavar="LOW:HIGH",
                                 help="Draw only the pixels with LOW <= ADC <= HIGH, the input "
                                      "of a sparse network (SparseSSNet: 10:300); the loss "
                                      "weights are then computed on these pixels alone, as in "
                                      "training (which also crops). Note 1091's Fig. 6: "
                                      "--adc-mask 10:300 --fields adc,semantic "
                                      "--loss-weights cluster+vertex --prediction "
                                      "pred_semantic --planes Y."),
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
    if planes:
        kwargs["planes"] = [int(s) if s.strip().isdigit() else s.strip()
                            for s in planes.split(",") if s.strip()]
    if prediction:
        from ..train.predict_detection import is_instance_product

        if is_instance_product(file, prediction):
            _display_instances(file, event, ev, prediction, output / stem, html,
                               kwargs.get("planes"))
            return
    zoom_arg = _parse_zoom(zoom)
    if adc_mask:
        from ..viz.masking import adc_masked_event

        ev = adc_masked_event(ev, *_parse_mask(adc_mask))
    if loss_weights:
        from ..data.weights import event_weights

        try:
            kwargs["weights"] = event_weights(ev, loss_weights)
        except ValueError as e:
            raise LarsegError(f"file {file}: {e}") from None
    if prediction:
        from ..train.predict import display_labels, read_prediction

        # pred_<target> holds the target's classes (SSNet's drawn as track / shower)
        kwargs["prediction_field"], kwargs["prediction"] = display_labels(
            prediction.removeprefix("pred_"), read_prediction(file, prediction, event, ev))
    png = render_event_png(ev, output / f"{stem}.png", zoom=zoom_arg, **kwargs)
    console.print(f"wrote {png}")
    if html:
        page = render_event_html(ev, output / f"{stem}.html", **kwargs)
        console.print(f"wrote {page}")


def _display_instances(file: Path, entry: int, ev, producer: str, stem: Path, html: bool,
                       planes: list | None) -> None:
    """Predicted instances over the ADC of their plane (``--planes``: the first one given;
    default the instances' plane, else the event's last plane, the collection plane)."""
    from ..train.predict_detection import read_instances
    from ..viz.instances import render_instance_png
    from ..viz.instances_html import render_instance_html
    from ..viz.panels import select_planes

    records = read_instances(file, entry, producer)
    if planes:
        img = ev.planes[select_planes(ev, planes)[0]]
    else:
        plane = records[0].plane if records else ev.planes[-1].plane
        img = next(p for p in ev.planes if p.plane == plane)
    on = [r for r in records if r.plane == img.plane]
    title = (f"{file.name} event {entry} ({ev.run}/{ev.subrun}/{ev.event}), plane "
             f"{img.meta.name or img.plane}: {len(on)} predicted instances")
    png = render_instance_png(img, on, Path(f"{stem}.png"), title=title)
    console.print(f"wrote {png}")
    if html:
        page = render_instance_html(img, on, Path(f"{stem}.html"), title=title)
        console.print(f"wrote {page}")


def _parse_mask(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        raise LarsegError(f"--adc-mask '{text}': use LOW:HIGH, e.g. 10:300") from None
    if low > high:
        raise LarsegError(f"--adc-mask '{text}': LOW is above HIGH")
    return low, high


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
