"""`larseg simulate --ray`: shards on a local Ray instance with 2 workers equal the
single-machine file event by event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from larseg.sim.sharding import manifest_files, shard_ranges
from tests.interrupting import datasets

pytest.importorskip("ray")


def test_shard_ranges():
    assert shard_ranges(7, 3) == [(0, 3), (3, 3), (6, 1)]
    assert shard_ranges(6, 3) == [(0, 3), (3, 3)]


def test_ray_shards_equal_the_single_file(tmp_path):
    larseg = str(Path(sys.executable).with_name("larseg"))
    job = ["-d", "microboone", "-g", "bomb", "-n", "7", "--seed", "13"]
    single = tmp_path / "single.h5"
    done = subprocess.run([larseg, "simulate", *job, "-o", str(single), "-q", "-j", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    shards = tmp_path / "shards"
    done = subprocess.run([larseg, "simulate", *job, "-o", str(shards), "-q", "-j", "2",
                           "--ray", "local", "--shard-size", "3"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((shards / "manifest.json").read_text())
    assert [(s["first_event"], s["n_events"]) for s in manifest["shards"]] == [(0, 3), (3, 3),
                                                                                (6, 1)]
    assert manifest["job"]["seed"] == 13 and manifest["n_events"] == 7
    from larseg.io import EventFile

    got = [ev for f in manifest_files(shards / "manifest.json") for ev in EventFile(f)]
    want = list(EventFile(single))
    assert len(got) == len(want) == 7
    from tests.test_simulate import _same_event

    for a, b in zip(got, want):
        _same_event(a, b)
    # the voxel tables too, row for row
    ref = datasets(single)
    joined = b"".join(datasets(f)["Data/sparse2d_wire_group/voxels"]
                      for f in manifest_files(shards / "manifest.json"))
    assert joined == ref["Data/sparse2d_wire_group/voxels"]
