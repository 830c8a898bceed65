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
    "cosmics+neutrino events, write them as larcv3 files, write event displays (PNG + HTML), run "
    "every network shipped in the package on its sample (evaluation report, predictions drawn "
    "over the truth) and write a summary (summary.md, summary.json) to OUTPUT."))
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
    report["networks"] = run_shipped_networks(output)
    (output / "summary.json").write_text(json.dumps(report, indent=1))
    (output / "summary.md").write_text(_markdown(report))
    console.print(f"wrote {output / 'summary.md'}")


#: the demo sample each shipped network runs on, by its training target
_SAMPLE_FOR_TARGET = {"cosmic": "sbnd_cosmics_neutrino", "semantic": "microboone_bomb",
                      "ssnet": "microboone_bomb", "track_shower": "microboone_bomb",
                      "instances": "microboone_cosmics_neutrino"}


def run_shipped_networks(output: Path, folder: Path | None = None) -> list[dict]:
    """Each shipped network (in ``folder``, default the package's) on its demo sample in
    ``output``: evaluation (metrics + report) and predictions drawn over the truth of the first
    event."""
    from ..io import EventFile
    from ..train.evaluate import evaluate
    from ..train.predict import display_labels, predict, read_prediction
    from ..viz import render_event_png
    from ..weights import WEIGHTS_DIR, available, shipped
    from ..weights.loading import config_of

    folder = WEIGHTS_DIR if folder is None else folder
    out = []
    for name in available(folder):
        weights = shipped(name, folder)
        cfg = config_of(weights)
        sample = _SAMPLE_FOR_TARGET.get(cfg.data.target)
        data = output / f"{sample}.h5"
        if sample is None or not data.is_file():
            continue
        ev_dir = output / f"{name}_evaluation"
        m = evaluate(cfg, weights, data, ev_dir)
        pred_file = output / f"{sample}_{name}.h5"
        predict(cfg, weights, data, pred_file, overwrite=True)  # the demo folder is its own
        ev = EventFile(pred_file)[0]
        png = output / f"{sample}_{name}_event0.png"
        entry = {"network": name, "sample": f"{sample}.h5", "report": f"{ev_dir.name}/report.md",
                 "display": png.name}
        if cfg.data.target == "instances":  # sMask-RCNN: masks, boxes, classes, scores
            from ..train.predict_detection import read_instances
            from ..viz.instances import render_instance_png

            records = read_instances(pred_file, 0)
            plane = int(cfg.data.planes[0])
            img = next(p for p in ev.planes if p.plane == plane)
            render_instance_png(img, [r for r in records if r.plane == plane], png,
                                title=f"{name}: {len(records)} predicted instances, event 0")
            entry["instances"] = {k: m[k] for k in ("efficiency", "purity", "coverage")}
            summary = ", ".join(f"{k} {v:.3f}" for k, v in entry["instances"].items())
        else:
            field, pred = display_labels(cfg.data.target, read_prediction(
                pred_file, f"pred_{cfg.data.target}", 0, ev))
            render_event_png(ev, png, prediction=pred, prediction_field=field)
            entry["active"] = {p: {"accuracy": v["accuracy"], "mean_iou": v["mean_iou"]}
                               for p, v in m["active"].items()}
            summary = ", ".join(f"{p} accuracy {v['accuracy']:.3f}"
                                for p, v in entry["active"].items())
        if "cosmic_tagger" in m:
            entry["table2"] = m["cosmic_tagger"]["table2"]["all planes"]
        out.append(entry)
        console.print(f"{name} on {data.name}: {summary}; report {ev_dir / 'report.md'}")
    return out


def _markdown(report: dict) -> str:
    nets = report.get("networks") or []
    lines = ["# larseg demo", "", f"Simulated with seed {report['seed']}."
             + ("" if nets else " No trained network is shipped in this install."), ""]
    for n in nets:
        lines += [f"## {n['network']} on `{n['sample']}`", ""]
        if "instances" in n:  # sMask-RCNN: the paper's instance metrics
            lines += ["| average efficiency | average purity | interaction coverage |",
                      "|---|---|---|", "| " + " | ".join(
                          f"{100 * n['instances'][k]:.1f} %"
                          for k in ("efficiency", "purity", "coverage")) + " |"]
        else:
            lines += ["| plane | active-pixel accuracy | mean IoU |", "|---|---|---|"]
            lines += [f"| {p} | {v['accuracy']:.3f} | {v['mean_iou']:.3f} |"
                      for p, v in n["active"].items()]
        if "table2" in n:
            t = n["table2"]
            lines += ["", f"SBND paper metrics (all planes): non-background accuracy "
                      f"{t['non_background_accuracy']:.3f}, cosmic IoU {t['cosmic_iou']:.3f}, "
                      f"neutrino IoU {t['neutrino_iou']:.3f}."]
        lines += ["", f"Full report: [{n['report']}]({n['report']})", "",
                  f"![{n['display']}]({n['display']})", ""]
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
