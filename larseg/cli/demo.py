"""``larseg demo``: the main job on a fresh machine — simulate, summarise, draw."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import app, console

# (detector, generator, events): the three samples the papers' networks train on
_SAMPLES = (("microboone", "bomb", 4), ("microboone", "cosmics+neutrino", 4),
            ("sbnd", "cosmics+neutrino", 4))


@app.command(help=(
    "Run the main job: simulate MicroBooNE particle-bomb and cosmics+neutrino events and SBND "
    "cosmics+neutrino events, write them as larcv3 files, and write event displays (PNG + HTML) "
    "and a summary (summary.md, summary.json) to OUTPUT."))
def demo(
    output: Path = typer.Option(Path("demo_output"), "--output", "-o", help="Output directory."),
    seed: int = typer.Option(2026, "--seed", help="Seed of the simulated samples."),
    events: int = typer.Option(0, "--events", "-n", min=0,
                               help="Events per sample (0: the default of each sample)."),
    workers: int = typer.Option(0, "--workers", "-j", min=0, help="Processes (0: one per core)."),
) -> None:
    from ..io.summary import summarise_file
    from ..io import EventFile
    from ..sim.kernel_cache import kernels_ready
    from ..sim.simulate import SimulationJob, default_workers, simulate_to_file
    from ..viz import render_event_html, render_event_png
    from .common import progress_bar

    output.mkdir(parents=True, exist_ok=True)
    workers = workers or default_workers()
    report = {"seed": seed, "samples": []}
    if not kernels_ready():
        console.print("compiling simulation kernels, once, ~1 min…")
    for detector, generator, n_default in _SAMPLES:
        n = events or n_default
        name = f"{detector}_{generator.replace('+', '_')}"
        path = output / f"{name}.h5"
        job = SimulationJob(detector, generator, seed=seed)
        with progress_bar(f"{detector}/{generator}", total=n) as done:
            result = simulate_to_file(path, job, n, workers=workers, overwrite=True,
                                      on_event=done)
        # The first event of a run also loads (or, once, compiles) the numba kernels: the
        # summary times the others, so that it measures the simulator.
        dt = result.seconds - result.startup_seconds
        summary = summarise_file(path)
        f = EventFile(path)
        ev = f[0]
        figures = [render_event_png(ev, output / f"{name}_event0.png")]
        if ev.interactions:
            figures.append(render_event_png(ev, output / f"{name}_event0_vertex.png", zoom="vertex"))
        figures.append(render_event_html(ev, output / f"{name}_event0.html"))
        report["samples"].append({"file": path.name, "detector": detector, "generator": generator,
                                  "events": n, "seconds": round(dt, 2),
                                  "first_event_seconds": round(result.startup_seconds, 2),
                                  "summary": summary,
                                  "figures": [p.name for p in figures]})
        console.print(f"{path}: {n} events in {result.seconds:.1f} s; displays "
                      f"{', '.join(p.name for p in figures)}")
    (output / "summary.json").write_text(json.dumps(report, indent=1))
    (output / "summary.md").write_text(_markdown(report))
    console.print(f"wrote {output / 'summary.md'}")


def _markdown(report: dict) -> str:
    lines = ["# larseg demo", "",
             f"Simulated with seed {report['seed']}. No trained network ships yet: the network "
             "issues add their predictions and metrics here.", ""]
    for s in report["samples"]:
        summ = s["summary"]
        lines += [f"## {s['detector']} / {s['generator']}", "",
                  f"`{s['file']}`: {s['events']} events; events 2–{s['events']} simulated and "
                  f"written in {s['seconds']} s (the first event, which also loads or compiles "
                  f"the numba kernels, took {s['first_event_seconds']} s).", "",
                  "| plane | active pixels (mean) | " +
                  " | ".join(summ["planes"][0].get("label_fractions", {})) + " |",
                  "|---|---|" + "---|" * len(summ["planes"][0].get("label_fractions", {}))]
        for p in summ["planes"]:
            fr = " | ".join(f"{100 * v:.1f} %" for v in p.get("label_fractions", {}).values())
            lines.append(f"| {p['name']} | {p['mean_active_pixels']:.0f} | {fr} |")
        lines.append("")
        lines += [f"![{f}]({f})" for f in s["figures"] if f.endswith(".png")]
        lines.append("")
    return "\n".join(lines)
