"""``larseg simulate``: write labelled events of the physics-grounded simulator to a larcv3 file."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .app import app, console
from .common import progress_bar

_GENERATORS = "bomb, bomb-lowe, cosmics, neutrino, cosmics+neutrino"


@app.command(help=(
    "Simulate labelled wire-plane events and write them as a larcv3 HDF5 file.\n\n"
    f"Generators: {_GENERATORS}. The particle bomb is MicroBooNE note 1091's training sample "
    "(1-6 particles from one vertex + 5-10 cosmic muons); 'cosmics' is a surface cosmic-ray window; "
    "'neutrino' a BNB-like interaction; 'cosmics+neutrino' both (the cosmic tagger's sample).\n\n"
    "Events are reproducible: event i depends only on (--seed, i). An interrupted job leaves "
    "FILE.partial; running the same command again resumes it."))
def simulate(
    detector: str = typer.Option("microboone", "--detector", "-d", help="microboone or sbnd."),
    generator: str = typer.Option("cosmics+neutrino", "--generator", "-g", help=_GENERATORS + "."),
    n_events: int = typer.Option(10, "-n", "--n-events", min=1, help="Number of events in the file."),
    seed: int = typer.Option(0, "--seed", "-s", min=0, help="Job seed."),
    output: Path = typer.Option(..., "-o", "--output", help="larcv3 file to write."),
    workers: int = typer.Option(0, "--workers", "-j", min=0,
                                help="Processes (0: one per core)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh instead of resuming."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from ..detectors import get_detector
    from ..sim.generators import get_generator
    from ..sim.simulate import SimulationJob, default_workers, simulate_to_file

    get_detector(detector)          # fail early, with the list of valid names
    get_generator(generator)
    if output.exists() and not overwrite:
        console.print(f"{output} exists: resuming/appending up to {n_events} events "
                      "(--overwrite to start afresh)")
    job = SimulationJob(detector=detector, generator=generator, seed=seed)
    workers = workers or default_workers()
    t0 = time.perf_counter()
    with progress_bar(f"simulating {detector}/{generator}", total=n_events, disable=quiet) as done:
        written, total = simulate_to_file(output, job, n_events, workers=workers,
                                          overwrite=overwrite, on_event=done)
    dt = time.perf_counter() - t0
    rate = written / dt if dt > 0 else float("nan")
    console.print(f"wrote {written} events ({total} in {output}) in {dt:.1f} s "
                  f"({rate:.1f} events/s, {workers} worker{'s' if workers > 1 else ''})")
