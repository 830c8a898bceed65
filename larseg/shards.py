"""Jobs sharded over a Ray cluster (``simulate --ray``, ``predict --ray``): blocks of event
indices, one task and one output file each, and a manifest listing the shards in event order.

Ray is an optional dependency (``pip install larseg[ray]``): it is imported only here, when a
sharded job runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import LarsegError

MANIFEST = "manifest.json"


def shard_ranges(n_events: int, shard_size: int) -> list[tuple[int, int]]:
    """(first, n) of each block of at most ``shard_size`` event indices."""
    if shard_size < 1:
        raise LarsegError(f"shard size must be at least 1, got {shard_size}")
    return [(a, min(shard_size, n_events - a)) for a in range(0, n_events, shard_size)]


def shard_dir(output: str | Path) -> Path:
    """The directory the shards and the manifest go to (made if needed)."""
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise LarsegError(f"{out} exists and is not a directory: the shards of a Ray job go "
                          "into a directory (-o DIR)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_on_ray(fn: Callable, calls: Sequence[tuple], address: str | None = None,
               num_cpus: int | None = None) -> list:
    """``fn(*args)`` for each ``args`` of ``calls`` as Ray tasks of one CPU each, results in
    order. ``address``: a running cluster, or None / "local" for a local instance with
    ``num_cpus`` CPUs (started and stopped here; an instance already running is used as it
    is). A task's larseg error comes back as its one line, not Ray's traceback."""
    try:
        import ray
    except ImportError:
        raise LarsegError("sharding over Ray needs the optional dependency: "
                          "pip install 'larseg[ray]'") from None
    started = not ray.is_initialized()
    if started:
        kw = {"include_dashboard": False, "log_to_driver": False}
        if address and address != "local":
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count(), **kw)
    try:
        task = ray.remote(num_cpus=1)(fn)
        return ray.get([task.remote(*args) for args in calls])
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, LarsegError):
            raise LarsegError(str(cause)) from None
        raise
    finally:
        if started:
            ray.shutdown()


def write_manifest(out: Path, manifest: dict) -> Path:
    """``out/manifest.json``, written atomically."""
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
