"""The `larseg` command line, through typer's runner and as the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from larseg.cli.app import register_all

runner = CliRunner()
app = register_all()
LARSEG = [sys.executable, "-m", "larseg"]


def test_help_lists_every_verb():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in ("info", "display", "simulate", "validate-physics", "bench", "demo", "train",
                 "evaluate", "predict"):
        assert verb in result.output


def test_info_json(simulated_files):
    result = runner.invoke(app, ["info", str(simulated_files["sbnd"]), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_events"] == 3
    assert summary["detector"] == "sbnd"
    products = {(p["type"], p["producer"]): p["n_planes"] for p in summary["products"]}
    assert products[("sparse2d", "sbndwire")] == 3
    assert products[("sparse2d", "sbnd_cosmicseg")] == 3
    assert ("particle", "sbndneutrino") in products
    fractions = summary["planes"][2]["label_fractions"]
    assert abs(fractions["background"] + fractions["cosmic"] + fractions["neutrino"] - 1) < 1e-6
    assert fractions["cosmic"] > 0


def test_info_table(simulated_files):
    result = runner.invoke(app, ["info", str(simulated_files["microboone"])])
    assert result.exit_code == 0, result.output
    assert "microboone" in result.output and "1008 × 3456" in result.output


def test_display_writes_a_picture_and_a_page(simulated_files, tmp_path):
    import matplotlib.image as mpimg

    result = runner.invoke(app, ["display", str(simulated_files["microboone"]), "--event", "1",
                                 "--output", str(tmp_path), "--zoom", "vertex"])
    assert result.exit_code == 0, result.output
    png = tmp_path / "microboone_event1.png"
    img = mpimg.imread(png)
    assert img.shape[0] > 400 and img.std() > 0.05  # not blank
    html = (tmp_path / "microboone_event1.html").read_text()
    assert "plotly" in html.lower() and "wire" in html


def test_simulate_writes_a_file(tmp_path):
    out = tmp_path / "s.h5"
    result = runner.invoke(app, ["simulate", "--detector", "microboone", "--generator", "bomb",
                                 "-n", "2", "--seed", "1", "-o", str(out), "-j", "1", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert summary["n_events"] == 2


@pytest.mark.parametrize("args", [["simulate", "--detector", "dune", "-o", "x.h5"],
                                  ["simulate", "--generator", "cosmic", "-o", "x.h5"]])
def test_bad_names_fail_with_the_valid_ones(args, tmp_path):
    proc = subprocess.run(LARSEG + args, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "choose one of" in proc.stderr


def test_errors_are_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)  # an HDF5 signature, then nothing
    proc = subprocess.run(LARSEG + ["info", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("error:") and "broken.h5" in lines[0]
    debug = subprocess.run(LARSEG + ["--debug", "info", str(bad)], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_network_verbs_say_they_are_not_available():
    result = runner.invoke(app, ["train", "config.yaml"])
    assert result.exit_code == 2
    assert "not available" in result.output or "no network" in result.output


def test_display_event_out_of_range(simulated_files, tmp_path):
    proc = subprocess.run(LARSEG + ["display", str(simulated_files["sbnd"]), "--event", "7",
                                    "--output", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and "3 events" in proc.stderr
