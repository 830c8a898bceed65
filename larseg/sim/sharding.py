"""A large simulation job sharded over a Ray cluster: blocks of event indices, a file each.

Event ``i`` depends only on (seed, detector, ``i``), so a job of N events is cut into blocks of
``shard_size`` indices; each Ray task writes its block with :func:`simulate_to_file` (atomic,
resumable, its identity recording the block's first index) into ``OUTPUT/shard-KKKKK.h5``, and
``OUTPUT/manifest.json`` lists the shards in event order with the job's settings. Read together,
in the manifest's order, the shards are the single-machine file event by event. Rerunning the
same command resumes: finished shards are left as they are, interrupted ones resume.

Ray is an optional dependency (``pip install larseg[ray]``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..shards import MANIFEST, manifest_files, run_on_ray, shard_dir, shard_ranges, write_manifest
from .simulate import SimulationJob, simulate_to_file

__all__ = ["MANIFEST", "manifest_files", "shard_ranges", "simulate_sharded"]


def _simulate_shard(path: str, job: dict, first: int, n: int) -> dict:
    result = simulate_to_file(path, SimulationJob(**job), n, workers=1, first=first)
    return {"file": Path(path).name, "first_event": first, "n_events": result.total}


def simulate_sharded(output: str | Path, job: SimulationJob, n_events: int, *,
                     shard_size: int = 100, address: str | None = None,
                     num_cpus: int | None = None) -> Path:
    """Simulate the job on Ray (``address``: a running cluster, or None / "local" for a local
    instance with ``num_cpus`` workers); returns the manifest's path."""
    out = shard_dir(output)
    calls = [(str(out / f"shard-{k:05d}.h5"), asdict(job), first, n)
             for k, (first, n) in enumerate(shard_ranges(n_events, shard_size))]
    shards = run_on_ray(_simulate_shard, calls, address, num_cpus)
    return write_manifest(out, {"job": job.identity(), "n_events": n_events,
                                "shard_size": shard_size, "shards": shards})
