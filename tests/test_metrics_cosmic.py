"""The SBND paper's metrics and event selection by hand (larseg.metrics.cosmic), and the
cosmic section of `larseg evaluate` on weights trained by `larseg train`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from larseg.event import Interaction
from larseg.metrics.cosmic import (EventRecord, category, event_record, iou_by_energy, selection,
                                   table2)


def _nu(pdg: int, current: int, energy: float = 800.0) -> list[Interaction]:
    return [Interaction(id=0, nu_pdg=pdg, current=current, mode=1001, energy=energy,
                        vertex=(0.0, 0.0, 0.0, 0.0))]


def test_table2_by_hand():
    # truth rows, prediction columns: background / cosmic / neutrino
    cm = np.array([[90, 5, 1],
                   [2, 20, 0],
                   [0, 3, 9]])
    t = table2(cm)
    assert t["accuracy"] == pytest.approx(119 / 130)
    assert t["non_background_accuracy"] == pytest.approx(29 / 34)   # rows 1 and 2 only
    assert t["cosmic_iou"] == pytest.approx(20 / (22 + 28 - 20))
    assert t["neutrino_iou"] == pytest.approx(9 / (12 + 10 - 9))
    assert t["mean_iou"] == pytest.approx((20 / 30 + 9 / 13) / 2)  # background left out


def test_categories():
    assert category(_nu(12, 0)) == category(_nu(-12, 0)) == "nue_cc"
    assert category(_nu(14, 0)) == category(_nu(-14, 0)) == "numu_cc"
    assert category(_nu(14, 1)) == category(_nu(12, 1)) == "nc"
    assert category([]) == "cosmic_only"


def test_event_record_and_the_cuts():
    label = np.zeros((3, 200, 50), np.int64)
    pred = np.zeros_like(label)
    # 120 neutrino pixels on each plane, rows 10..129 on U and V; Y shifted by 40 rows
    pred[0, 10:130, 5] = pred[1, 10:130, 6] = 2
    pred[2, 50:170, 7] = 2
    label[0, 10:130, 5] = 2                      # U exactly right; V and Y not labelled
    r = event_record(7, _nu(12, 0, 1500.0), label, pred)
    assert r.neutrino_pixels == [120, 120, 120] and r.mean_row == [69.5, 69.5, 109.5]
    assert r.row_separation() == 40.0 and r.selected()              # ≤ 50 px
    assert not r.selected(max_separation=39.0) and not r.selected(min_pixels=121)
    assert r.neutrino_iou == pytest.approx(120 / 360) and r.energy == 1500.0
    empty = event_record(8, [], label, np.zeros_like(pred))
    assert empty.category == "cosmic_only" and not empty.selected()
    assert empty.row_separation() == float("inf")


def _rec(cat, pixels, rows=(10.0, 10.0, 10.0), iou=0.5, energy=800.0):
    return EventRecord(0, cat, energy, list(pixels), list(rows), iou)


def test_selection_efficiency_rejection_and_curve():
    records = [_rec("nue_cc", (200, 300, 150)), _rec("nue_cc", (50, 300, 300)),
               _rec("numu_cc", (500, 500, 500), rows=(10.0, 70.0, 10.0)),
               _rec("nc", (100, 100, 100)),
               _rec("cosmic_only", (0, 0, 0), rows=(np.nan,) * 3),
               _rec("cosmic_only", (120, 130, 140)), _rec("cosmic_only", (5, 5, 5))]
    s = selection(records)
    assert s.efficiency == {"nue_cc": 0.5, "numu_cc": 0.0, "nc": 1.0}
    assert s.counts["cosmic_only"] == (1, 3) and s.rejection == pytest.approx(2 / 3)
    at = {c["min_pixels"]: c for c in s.curve}
    assert at[0]["rejection"] == pytest.approx(1 / 3)  # only the event without pixels fails
    assert at[200]["nue_cc"] == 0.0 and at[200]["rejection"] == 1.0
    assert [c["min_pixels"] for c in s.curve] == sorted(at)


def test_iou_by_energy_bins():
    records = [_rec("nue_cc", (1, 1, 1), iou=0.2, energy=300.0),
               _rec("nue_cc", (1, 1, 1), iou=0.6, energy=400.0),
               _rec("nue_cc", (1, 1, 1), iou=0.9, energy=1200.0)]
    rows = iou_by_energy(records, edges_mev=(0, 500, 1000, 1500))["nue_cc"]
    assert [r["events"] for r in rows] == [2, 0, 1]
    assert rows[0]["mean_iou"] == pytest.approx(0.4) and np.isnan(rows[1]["mean_iou"])


def test_evaluate_adds_the_paper_metrics_and_selection(simulated_files, tmp_path):
    from tests.test_train_engine import CONFIG

    from larseg.sim.simulate import SimulationJob, simulate_to_file

    larseg = str(Path(sys.executable).with_name("larseg"))
    cosmics = tmp_path / "cosmics.h5"
    simulate_to_file(cosmics, SimulationJob("sbnd", "cosmics", seed=21), 2, workers=1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.replace("steps: 10", "steps: 2") % simulated_files["sbnd"])
    run = tmp_path / "run"
    assert subprocess.run([larseg, "train", str(cfg), "-o", str(run)], capture_output=True,
                          timeout=600).returncode == 0
    ev = subprocess.run([larseg, "evaluate", str(run / "config.yaml"), "--weights",
                         str(run / "model.safetensors"), "--data", str(simulated_files["sbnd"]),
                         "--data", str(cosmics), "-o", str(tmp_path / "eval")],
                        capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr
    assert "cosmic-only rejection" in ev.stdout + ev.stderr
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert m["events"] == 5
    ct = m["cosmic_tagger"]
    assert ct["events"]["cosmic_only"] == 2 and sum(ct["events"].values()) == 5
    total = sum(np.asarray(p["confusion"]) for p in m["all"].values())
    assert ct["table2"]["all planes"] == pytest.approx(table2(total))
    sel = ct["selection"]
    assert sum(t for _, t in sel["counts"].values()) == 5
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "Table 2" in report and "cosmic only (rejection)" in report
    for png in ("selection.png", "iou_vs_energy.png", "confusion.png"):
        assert (tmp_path / "eval" / png).stat().st_size > 10_000
    # without --data: the config's eval section names the held-out files
    again = subprocess.run([larseg, "evaluate", str(run / "config.yaml"), "--weights",
                            str(run / "model.safetensors"), "--set",
                            f"eval.data={cosmics},{simulated_files['sbnd']}", "--set",
                            "eval.max_events=1", "-o", str(tmp_path / "eval2")],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    m2 = json.loads((tmp_path / "eval2" / "metrics.json").read_text())
    assert m2["events"] == 2 and m2["data"] == [str(cosmics), str(simulated_files["sbnd"])]
