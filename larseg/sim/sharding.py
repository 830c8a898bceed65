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

import json
import os
from dataclasses import asdict
from pathlib import Path

from ..errors import LarsegError
from .simulate import SimulationJob, simulate_to_file

MANIFEST = "manifest.json"


def shard_ranges(n_events: int, shard_size: int) -> list[tuple[int, int]]:
    """(first, n) of each block of at most ``shard_size`` event indices."""
    if shard_size < 1:
        raise LarsegError(f"shard size must be at least 1, got {shard_size}")
    return [(a, min(shard_size, n_events - a)) for a in range(0, n_events, shard_size)]


def _simulate_shard(path: str, job: dict, first: int, n: int) -> dict:
    result = simulate_to_file(path, SimulationJob(**job), n, workers=1, first=first)
    return {"file": Path(path).name, "first_event": first, "n_events": result.total}


def simulate_sharded(output: str | Path, job: SimulationJob, n_events: int, *,
                     shard_size: int = 100, address: str | None = None,
                     num_cpus: int | None = None) -> Path:
    """Simulate the job on Ray (``address``: a running cluster, or None / "local" for a local
    instance with ``num_cpus`` workers); returns the manifest's path."""
    try:
        import ray
    except ImportError:
        raise LarsegError("sharding over Ray needs the optional dependency: "
                          "pip install 'larseg[ray]'") from None
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise LarsegError(f"{out} exists and is not a directory: the shards of a Ray job go "
                          "into a directory (-o DIR)")
    out.mkdir(parents=True, exist_ok=True)
    ranges = shard_ranges(n_events, shard_size)
    started = not ray.is_initialized()
    if started:
        kw = {"include_dashboard": False, "log_to_driver": False}
        if address and address != "local":
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count(), **kw)
    try:
        task = ray.remote(num_cpus=1)(_simulate_shard)
        refs = [task.remote(str(out / f"shard-{k:05d}.h5"), asdict(job), first, n)
                for k, (first, n) in enumerate(ranges)]
        shards = ray.get(refs)
    finally:
        if started:
            ray.shutdown()
    manifest = {"job": job.identity(), "n_events": n_events, "shard_size": shard_size,
                "shards": shards}
    path = out / MANIFEST
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)
    return path


def manifest_files(manifest: str | Path) -> list[Path]:
    """The shard files of a manifest, in event order."""
    manifest = Path(manifest)
    data = json.loads(manifest.read_text())
    shards = sorted(data["shards"], key=lambda s: s["first_event"])
    return [manifest.parent / s["file"] for s in shards]
