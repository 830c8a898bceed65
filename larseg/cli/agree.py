"""``larseg agree PRED_FILE --reference PRODUCT[,PRODUCT]``: larseg's track/shower output
against another network's output stored in a file, pixel by pixel.

What it does
    Reads, for every event of PRED_FILE, the ADC image, the prediction products and the
    reference products of each plane (:mod:`larseg.io.image_products`: larcv3 and larcv1/2
    ROOT files in any combination, events of two files matched by (run, subrun, event)), turns
    both into track / shower / undecided decisions and counts on the pixels with ADC ≥
    ``--threshold`` (default 10) the 2 × 2 table prediction × reference per plane, and over
    all planes (:mod:`larseg.metrics.agreement`). It prints the table, writes
    ``OUTPUT/agreement.json`` (the numbers, per plane and per event),
    ``OUTPUT/disagreements.csv`` (every pixel the two decide differently) and
    ``OUTPUT/agreement_event<N>.png`` (:mod:`larseg.viz.agreement`: ADC, the two decisions,
    where they differ; by default the event with the most disagreeing pixels). Without
    ``--reference-file`` the reference comes from PRED_FILE too. The product syntax
    (``NAME#K``, ``{plane}``) is :mod:`larseg.io.image_products`'s; the conventions
    (``--*-kind``, ``--*-labels``) and presets (``ssnet``, ``uburn``, ``sparseuresnet``) are
    :func:`larseg.metrics.agreement.source_spec`'s.

Why a verb of its own, not options of ``larseg compare``
    ``compare`` reports distribution distances between the images of several files (a domain
    gap); agreement needs two named sources on the same events, pixel by pixel, and options of
    its own (products, conventions, encodings) that would mean nothing to ``compare``.

Tested (tests/test_cli_agree.py, tests/test_metrics_agreement.py, tests/test_io_image_products.py)
    On files written in the tests: larcv1 ROOT files in MicroBooNE's member layout (flat
    branches with larcv's names; uproot cannot write larcv's nested branches) and larcv3 files
    written by ``larseg predict`` and by larseg's writer, events in another order. Not tested:
    larcv2 ROOT input, and a real MicroBooNE file with stored SSNet / SparseSSNet scores (none
    is available here), so whether those files follow the layouts of the presets, and their
    row (time) orientation, is unverified: ``--time-reversed`` flips the rows of ROOT images
    (the file does not record it), and must match how the prediction's input was read.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from rich.table import Table

from ..io.image_products import ADC_PRODUCERS, EventReader, ProductFile, find_adc
from ..metrics.agreement import (DEFAULT_ADC_THRESHOLD, DEFAULT_SHOWER_THRESHOLD,
                                 DISAGREEMENT_COLUMNS, LABEL_ENCODINGS, AgreementAccumulator,
                                 EventArrays, SourceSpec, decide, disagreement_rows,
                                 event_agreement, source_spec)
from .app import app, console
from .common import console_out, existing_file

__all__ = ["agree", "parse_source", "SourceSpec", "EventArrays", "agreement_figure"]


def __getattr__(name: str):
    # the display needs matplotlib (over a second to import): loaded only when asked for
    if name == "agreement_figure":
        from ..viz.agreement import agreement_figure
        return agreement_figure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_source(text: str, kind: str = "auto", encoding: str | None = None) -> SourceSpec:
    """:func:`larseg.metrics.agreement.source_spec`, its refusals as bad option values."""
    try:
        return source_spec(text, kind, encoding)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _read(reader: EventReader, entry: int, specs: tuple[SourceSpec, SourceSpec],
          shower_threshold: float) -> EventArrays:
    """The event of PRED_FILE's ``entry``: ADC and both sides' decisions per plane."""
    im = reader.read(entry)
    pred, ref = ({p: decide(spec, images[p], shower_threshold) for p in im.planes}
                 for spec, images in zip(specs, im.sources))
    return EventArrays(im.entry, *im.key, im.planes, im.adc, pred, ref)


def _print_table(rep: dict) -> None:
    t = Table(title=f"track/shower agreement, pixels with ADC ≥ {rep['adc_threshold']:g}, "
                    f"{rep['n_events']} events", show_edge=False,
              caption="T·S: prediction track, reference shower; undecided: pixels one side "
                      "says nothing of (prediction / reference)")
    for c in ("plane", "agreement", "T·T", "T·S", "S·T", "S·S", "undecided"):
        t.add_column(c, justify="left" if c == "plane" else "right", no_wrap=True)
    for name, s in list(rep["planes"].items()) + [("all", rep["all_planes"])]:
        a = "–" if s["agreement"] is None else f"{s['agreement']:.4f}"
        t.add_row(name, a, *(str(v) for row in s["table"] for v in row),
                  f"{s['prediction_undecided']} / {s['reference_undecided']}")
    console_out().print(t)


@app.command(help=(
    "Pixel agreement of larseg's track/shower output with another network's output stored in a "
    "file (MicroBooNE's SSNet / SparseSSNet products), on the pixels with ADC ≥ --threshold: "
    "the 2 × 2 table prediction × reference per plane and over all planes. Writes "
    "OUTPUT/agreement.json, OUTPUT/disagreements.csv (every pixel decided differently) and "
    "OUTPUT/agreement_event<N>.png (ADC, both decisions and where they differ). larcv3 and "
    "larcv1/2 ROOT files; events of two files are matched by run/subrun/event. A product list "
    "is PRODUCT[,PRODUCT] (PRODUCT#K: its K-th image of a plane; {plane} in a name: one product "
    "per plane), or a preset: ssnet (ssnettrack,ssnetshower scores), uburn, sparseuresnet.\n\n"
    "Example: larseg agree pred.h5 --reference-file ub_dl.root --reference ssnet "
    "--prediction pred_semantic -o agree_out"))
def agree(
    pred_file: Path = typer.Argument(..., help="File with the prediction (and the ADC)."),
    reference: str = typer.Option(..., "--reference", "-r",
                                  help="Reference products (PRODUCT[,PRODUCT]) or a preset."),
    reference_file: Path = typer.Option(None, "--reference-file",
                                        help="File with the reference (default: PRED_FILE)."),
    prediction: str = typer.Option("pred_semantic", "--prediction", "-p",
                                   help="Prediction products (PRODUCT[,PRODUCT])."),
    reference_kind: str = typer.Option("auto", help="auto, labels, scores or shower-score."),
    reference_labels: str = typer.Option(None, help="Label encoding of a labels reference: "
                                         + ", ".join(LABEL_ENCODINGS) + "."),
    prediction_kind: str = typer.Option("auto", help="auto, labels, scores or shower-score."),
    prediction_labels: str = typer.Option(None, help="Label encoding of a labels prediction "
                                          "(auto: from pred_<target>)."),
    adc: str = typer.Option(None, "--adc", help="ADC product (default: the first of "
                            + ", ".join(ADC_PRODUCERS) + " in PRED_FILE, then the reference)."),
    threshold: float = typer.Option(DEFAULT_ADC_THRESHOLD, "--threshold", "-t",
                                    help="Pixels with ADC at least this are compared."),
    shower_threshold: float = typer.Option(DEFAULT_SHOWER_THRESHOLD, "--shower-threshold",
                                           help="A single shower-score image: shower above."),
    max_events: int = typer.Option(None, "--max-events", "-n", min=1,
                                   help="Compare only the first N events of PRED_FILE."),
    display: int = typer.Option(None, "--display", "-e", min=0, help="Entry of PRED_FILE to "
                                "draw (default: the one with the most disagreeing pixels)."),
    no_display: bool = typer.Option(False, "--no-display", help="Do not draw the PNG."),
    time_reversed: bool = typer.Option(False, "--time-reversed",
                                       help="ROOT files: flip the rows (time) of their images."),
    output: Path = typer.Option(Path("agree_output"), "--output", "-o",
                                help="Directory for agreement.json, the CSV and the PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    specs = (parse_source(prediction, prediction_kind, prediction_labels),
             parse_source(reference, reference_kind, reference_labels))
    pred = ProductFile(existing_file(pred_file), time_reversed)
    same = reference_file is None or existing_file(reference_file).resolve() == \
        pred_file.resolve()
    ref = pred if same else ProductFile(reference_file, time_reversed)
    try:
        reader = EventReader([(pred, specs[0].products), (ref, specs[1].products)],
                             find_adc(adc, pred, ref))
        n = len(reader) if max_events is None else min(max_events, len(reader))
        if display is not None and display >= n:
            raise typer.BadParameter(f"--display {display}: PRED_FILE has {n} events compared")
        output.mkdir(parents=True, exist_ok=True)
        acc = AgreementAccumulator(threshold)
        worst, most = 0, -1
        with open(output / "disagreements.csv", "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(DISAGREEMENT_COLUMNS)
            for i in range(n):
                ev = _read(reader, i, specs, shower_threshold)
                results = event_agreement(ev, threshold)
                acc.add(results, {"entry": i, "run": ev.run, "subrun": ev.subrun,
                                  "event": ev.event})
                out.writerows(disagreement_rows(ev, results))
                k = sum(len(r.disagreeing) for r in results)
                if k > most:
                    worst, most = i, k
        shown = None if no_display or not n else _read(
            reader, worst if display is None else display, specs, shower_threshold)
        rep = {"prediction": {"file": str(pred.path), **specs[0].describe()},
               "reference": {"file": str(ref.path), **specs[1].describe()},
               "adc": {"file": str(reader.adc[0].path), "product": reader.adc[1]},
               "shower_threshold": shower_threshold, **acc.report(),
               "disagreements": str(output / "disagreements.csv")}
        if shown is not None:
            from ..viz.agreement import agreement_figure

            png = output / f"agreement_event{shown.entry}.png"
            agreement_figure(shown, threshold, tuple(", ".join(s.products) for s in specs))\
                .savefig(png, dpi=100, facecolor="white")
            rep["display"] = {"entry": shown.entry, "figure": str(png)}
    finally:
        pred.close()
        if ref is not pred:
            ref.close()
    (output / "agreement.json").write_text(json.dumps(rep, indent=1))
    if as_json:
        typer.echo(json.dumps(rep))
        return
    _print_table(rep)
    console.print(f"wrote {output / 'agreement.json'}, {output / 'disagreements.csv'}"
                  + (f", {rep['display']['figure']}" if "display" in rep else ""),
                  soft_wrap=True)
