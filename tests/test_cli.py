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
                 "evaluate", "predict", "export", "compare", "agree", "occlusion", "curves"):
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
    from larseg.io import EventFile

    collection = [ev.planes[2] for ev in EventFile(simulated_files["sbnd"])]
    total = sum(len(img) for img in collection)
    for code, name in enumerate(("background", "cosmic", "neutrino")):
        n = sum(int((img.cosmic == code).sum()) for img in collection)
        assert abs(fractions[name] - n / total) < 1e-9, name
    assert fractions["cosmic"] > 0 and fractions["neutrino"] > 0


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


CONSOLE_SCRIPT = str(__import__("pathlib").Path(sys.executable).with_name("larseg"))


@pytest.mark.parametrize("args,code,says", [
    (["train", "config.yaml"], 1, "file config.yaml does not exist"),
    (["evaluate", "c.yaml"], 2, "Missing option"),
    (["evaluate", "c.yaml", "--weights", "w", "--data", "d"], 1, "file c.yaml does not exist"),
    (["predict", "c.yaml", "f.h5"], 2, "Missing option"),
    (["info", "missing.h5"], 1, "file missing.h5 does not exist"),
    (["display", "missing.h5"], 1, "missing.h5"),
    (["simulate", "--bogus"], 2, "No such option: --bogus"),
    (["simulate", "-n", "0", "-o", "x.h5"], 2, "-n"),
    (["nosuchverb"], 2, "No such command"),
])
def test_failing_verbs_exit_non_zero_from_the_console_script(args, code, says, tmp_path):
    """Through the installed script (the path a shell takes), not typer's in-process runner."""
    proc = subprocess.run([CONSOLE_SCRIPT, *args], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr


def test_failed_physics_check_exits_1_through_main(monkeypatch, tmp_path, capsys):
    """validate-physics signals a failed check with typer.Exit(1): main() must pass it on."""
    from larseg.cli.app import main
    from larseg.validation import report
    from larseg.validation.checks import Check

    def one_failing_check(output, seed, quick, on_check):
        c = Check("a check that fails", measured="1", reference="2", source="test", passed=False)
        on_check(c)
        return [c]

    monkeypatch.setattr(report, "run_all", one_failing_check)
    monkeypatch.setattr(sys, "argv", ["larseg", "validate-physics", "-o", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    assert "1 check(s) failed" in capsys.readouterr().err


def test_display_event_out_of_range(simulated_files, tmp_path):
    proc = subprocess.run(LARSEG + ["display", str(simulated_files["sbnd"]), "--event", "7",
                                    "--output", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and "3 events" in proc.stderr


def test_error_lines_are_plain_text_not_markup(tmp_path):
    """A message with brackets (pip extras) is printed as it is."""
    import subprocess

    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: {tensorboard: [yes]}\n")
    done = subprocess.run([*LARSEG, "train", str(cfg), "-o", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "train.tensorboard must be true or false, got [True]" in done.stderr, done.stderr


def test_config_argument_takes_a_shipped_networks_name():
    """CONFIG of train / evaluate / predict: a file, a shipped config's name, or a shipped
    network's name whose config lives with its weights (mask_rcnn_dense has no YAML of its own:
    it is mask_rcnn.yaml with the dense backbone), with --set applied on top."""
    from pathlib import Path

    from larseg.cli.networks import network_config
    from larseg.errors import LarsegError

    dense = network_config(Path("mask_rcnn_dense"), ["eval.max_events=3"])
    assert dense.model.name == "mask_rcnn" and dense.model.backbone == "dense"
    assert dense.eval.max_events == 3
    assert network_config(Path("mask_rcnn"), []).model.backbone == "sparse"  # the YAML first
    with pytest.raises(LarsegError, match="no_such_network"):
        network_config(Path("no_such_network"), [])
