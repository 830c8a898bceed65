"""Domain-gap report: its building blocks by hand, and `larseg compare` on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from larseg.validation.domain_gap import hits, ks_distance, run_lengths


def test_hits_are_runs_of_rows_on_one_wire():
    # wire 3: rows 1, 2 (one hit, 10 + 20) and row 5 (another, 7); wire 4: row 2 (5)
    coords = np.array([[2, 4], [5, 3], [1, 3], [2, 3]])
    values = np.array([5.0, 7.0, 10.0, 20.0])
    assert sorted(hits(coords, values).tolist()) == [5.0, 7.0, 30.0]
    assert hits(np.zeros((0, 2), int), np.zeros(0)).size == 0


def test_run_lengths_are_runs_of_wires_in_one_row():
    # row 0: wires 1, 2, 3 (3) and 7 (1); row 1: wire 2 (1)
    coords = np.array([[0, 3], [0, 1], [1, 2], [0, 2], [0, 7]])
    assert sorted(run_lengths(coords).tolist()) == [1.0, 1.0, 3.0]


def test_long_tracks_by_hand():
    from larseg.validation.track_count import long_tracks

    vertical = [(r, 10) for r in range(200)]                 # 200 rows: a track
    dotted = [(r, 50) for r in range(0, 300, 2)]             # 1-pixel gaps are bridged
    blob = [(5, 90), (6, 91)]                                # too short to count
    assert long_tracks(np.array(vertical + dotted + blob), (400, 100)) == 2
    cross = [(r, r) for r in range(150)] + [(r, 149 - r) for r in range(150)]
    assert long_tracks(np.array(cross), (400, 400)) == 1    # crossing tracks merge
    split = [(r, 10) for r in range(100)] + [(r, 10) for r in range(104, 250)]
    assert long_tracks(np.array(split), (400, 100)) == 2    # a 4-row hole splits
    assert long_tracks(np.array(split), (400, 100), gap=5) == 1
    assert long_tracks(np.array(vertical), (400, 100), min_extent=201) == 0
    assert long_tracks(np.zeros((0, 2), int), (10, 10)) == 0


def test_ks_distance_by_hand():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0])
    assert ks_distance(a, b) == pytest.approx(0.5)  # at x = 2: F_a = 0.5, F_b = 0
    assert ks_distance(a, a) == 0.0
    assert ks_distance(a, a + 100) == 1.0


def test_compare_command_reports_distances(simulated_files, tmp_path):
    larseg = str(Path(sys.executable).with_name("larseg"))
    a = simulated_files["microboone"]
    done = subprocess.run([larseg, "compare", str(a), str(a), "--json", "-o", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rep = json.loads(done.stdout)
    assert rep["reference"] == a.name and len(rep["planes"]) == 3
    for plane in rep["planes"]:  # a file against itself: every distance is 0
        d = plane["distance_to_reference"][str(a)]
        assert all(v == 0.0 for v in d.values()), d
        stats = plane["statistics"][a.name]
        assert stats["pixels ≥ 10 ADC (median per event)"] > 0
    assert (tmp_path / "compare.png").stat().st_size > 10_000
    two = subprocess.run([larseg, "compare", str(a), str(simulated_files["sbnd"]), "-o",
                          str(tmp_path)], capture_output=True, text=True)
    assert two.returncode == 0, two.stderr
    assert "plane Y" in two.stdout and "distance" in two.stdout
