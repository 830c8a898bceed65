"""``larseg simulate``: write labelled events of the physics-grounded simulator to a larcv3 file."""

from __future__ import annotations

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
    "FILE.partial; running the same command again resumes it. Ctrl-C (or SIGTERM) stops at the "
    "next event, keeps every complete event and says so; the job's settings are stored in the "
    "file, so a resume with other settings is refused (--overwrite starts afresh). An existing "
    "file that larseg's simulate did not write is never replaced without --overwrite.\n\n"
    "Generator options: -O KEY=VALUE (repeatable; a wrong key lists the generator's options). "
    "The neutrino's: mix (balanced | bnb), fsi, and selections for the SSNet talk's samples: "
    "category (numu_cc | nue_cc | nc), min_energy / max_energy (MeV, E_ν from the spectrum "
    "truncated), topology (1e1p | 1mu1p). The options are part of the job stored in the file.\n\n"
    "Example: larseg simulate -d sbnd -g cosmics+neutrino -n 100 --seed 1 -o sbnd.h5\n\n"
    "Example: larseg simulate -d microboone -g neutrino -O topology=1e1p -O max_energy=500 "
    "-n 40 --seed 8000 -o 1e1p_lowe.h5"))
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
    ray: str = typer.Option("", "--ray", metavar="ADDRESS",
                            help="Shard the job over a Ray cluster at ADDRESS ('local': a local "
                                 "instance with --workers CPUs): -o is then a directory of "
                                 "shard files plus manifest.json (pip install 'larseg\\[ray]')."),
    shard_size: int = typer.Option(100, "--shard-size", min=1,
                                   help="Events per shard with --ray."),
    gen_options: list[str] = typer.Option([], "--option", "-O", metavar="KEY=VALUE",
                                          help="A generator option, e.g. mix=bnb (repeatable)."),
) -> None:
    from ..detectors import get_detector
    from ..errors import LarsegError
    from ..sim.generators import parse_generator_options
    from ..sim.kernel_cache import kernels_ready
    from ..sim.simulate import SimulationJob, default_workers, simulate_to_file

    get_detector(detector)          # fail early, with the list of valid names
    # fail early: an unknown generator or option names the valid ones
    options = parse_generator_options(generator, gen_options)
    if output.is_dir() and not ray:
        raise LarsegError(f"{output} is a directory; give -o a file name, e.g. {output / 'events.h5'}")
    job = SimulationJob(detector=detector, generator=generator, seed=seed,
                        options=tuple(options.items()))
    workers = workers or default_workers()
    if ray:
        from ..sim.sharding import simulate_sharded

        manifest = simulate_sharded(output, job, n_events, shard_size=shard_size, address=ray,
                                    num_cpus=workers)
        console.print(f"wrote {n_events} events in shards of {shard_size}; manifest {manifest}",
                      soft_wrap=True)
        return
    if not kernels_ready():
        console.print("compiling simulation kernels, once, ~1 min…")

    def opened(n_in_file: int, resumed: bool) -> None:
        if resumed:
            console.print(f"resuming an interrupted run: {n_in_file} events kept in "
                          f"{output}.partial", soft_wrap=True)
        elif n_in_file >= n_events:
            console.print(f"{output} already holds all {n_in_file} events of this job: "
                          "nothing to do (--overwrite to start afresh)", soft_wrap=True)
        elif n_in_file:
            console.print(f"{output} holds {n_in_file} events of this job: adding up to "
                          f"{n_events} (--overwrite to start afresh)", soft_wrap=True)

    with progress_bar(f"simulating {job.describe()}", total=n_events, disable=quiet) as done:
        result = simulate_to_file(output, job, n_events, workers=workers, overwrite=overwrite,
                                  on_event=done, on_open=opened)
    rate = result.steady_rate
    speed = (f", {rate:.1f} events/s after the first" if rate == rate else "")
    console.print(f"wrote {result.written} events ({result.total} in {output}) in "
                  f"{result.seconds:.1f} s ({workers} worker{'s' if workers > 1 else ''}{speed})",
                  soft_wrap=True)
