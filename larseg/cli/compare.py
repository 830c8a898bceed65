"""``larseg compare A B [...]``: a domain-gap report between files (larcv3 or larcv1/2 ROOT)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .app import app, console
from .common import console_out, existing_file


@app.command(help=(
    "Compare the images of two or more files plane by plane: pixel counts above 5 / 10 / 50 ADC, "
    "the number of long tracks (clusters spanning ≥ 100 pixels; cosmic-labelled ones apart), "
    "ADC quantiles (overall and per label class), background fraction, track width across wires "
    "and the charge a wire collects from a track (hit charge), each with a distance to the first "
    "file: the Kolmogorov-Smirnov distance of the distributions, or the relative difference of "
    "per-event medians. Writes OUTPUT/compare.png (side-by-side histograms) and, with --json, "
    "prints the report as JSON.\n\n"
    "Example: larseg compare my_data.root larseg_sim.h5 --threshold 10"))
def compare(
    files: list[Path] = typer.Argument(..., help="Files; the first is the reference."),
    threshold: float = typer.Option(10.0, "--threshold", "-t",
                                    help="ADC above which pixels enter the distributions."),
    max_events: int = typer.Option(20, "--max-events", "-n", min=1, help="Events read per file."),
    output: Path = typer.Option(Path("compare_output"), "--output", "-o",
                                help="Directory for compare.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    from ..io import open_events
    from ..validation.domain_gap import accumulate, figure, report

    if len(files) < 2:
        raise typer.BadParameter("give at least two files")
    sets = {}
    for f in files:
        name = f.name if f.name not in sets else str(f)
        sets[name] = accumulate(open_events(existing_file(f)), threshold, max_events)
    rep = report(sets)
    output.mkdir(parents=True, exist_ok=True)
    png = figure(sets, output / "compare.png")
    rep["figure"] = str(png)
    if as_json:
        typer.echo(json.dumps(rep))
        return
    out = console_out()
    ref = rep["reference"]
    for plane in rep["planes"]:
        t = Table(title=f"plane {plane['name']} (distance to {ref})", show_edge=False)
        t.add_column("statistic")
        for name in rep["sets"]:
            t.add_column(name, justify="right")
        t.add_column("distance", justify="right")
        stats = plane["statistics"]
        keys = list(next(iter(stats.values())))
        for k in keys:
            cells = [f"{stats[n].get(k, float('nan')):.4g}" if n in stats else "–"
                     for n in rep["sets"]]
            dist = [plane["distance_to_reference"].get(n, {}).get(k) for n in rep["sets"][1:]]
            t.add_row(k, *cells, " / ".join("–" if d is None else f"{d:.2f}" for d in dist))
        out.print(t)
    console.print(f"wrote {png}")
