"""``larseg info FILE``: what a larcv3 file holds."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .app import app
from .common import console_out, existing_file


@app.command(help=(
    "Summarise a larcv3 file: products, events, planes, pixel counts and label fractions.\n\n"
    "With --json the same summary is printed as one JSON object (keys include n_events and "
    "products, a list of {type, producer, n_planes}) for scripts."))
def info(
    file: Path = typer.Argument(..., help="larcv3 HDF5 file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    max_events: int = typer.Option(200, "--max-events", min=0,
                                   help="Events scanned for pixel counts and label fractions (0: none)."),
) -> None:
    from ..io.summary import summarise_file

    summary = summarise_file(existing_file(file), max_events=max_events)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    out = console_out()
    out.print(f"[bold]{file}[/]: {summary['n_events']} events, detector "
              f"[cyan]{summary['detector']}[/]")
    t = Table(title="products", show_edge=False)
    for col in ("type", "producer", "planes"):
        t.add_column(col)
    for p in summary["products"]:
        t.add_row(p["type"], p["producer"], str(p["n_planes"]))
    out.print(t)
    planes = summary.get("planes", [])
    if planes:
        n = summary["events_scanned"]
        t = Table(title=f"planes (mean over {n} event{'s' if n != 1 else ''})", show_edge=False)
        t.add_column("")
        for p in planes:
            t.add_column(f"{p['plane']} {p['name']}".strip(), justify="right")
        t.add_row("image (ticks × wires)", *(f"{p['n_ticks']} × {p['n_wires']}" for p in planes))
        t.add_row("active pixels", *(f"{p['mean_active_pixels']:.0f}" for p in planes))
        for label in planes[0].get("label_fractions", {}):
            t.add_row(f"{label} fraction",
                      *(f"{100 * p['label_fractions'].get(label, 0.0):.2f} %" for p in planes))
        out.print(t)
    modes = summary.get("interaction_modes")
    if modes:
        out.print("neutrino interactions: " + ", ".join(f"{k} × {v}" for k, v in modes.items()),
                  soft_wrap=True)
    for w in summary.get("warnings", []):
        out.print(f"[yellow]warning:[/] {w}")
