"""``larseg curves``: training curves of several runs read from log.csv files written by the
trainer's own :class:`larseg.train.logs.RunLog`, summarised and drawn."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from larseg.errors import LarsegError
from larseg.train.logs import RunLog
from larseg.viz.curves import (compare_steps, curves_figure, panels, read_log, running_mean,
                               summarise)

runner = CliRunner()


def _rows(steps: int, terms: tuple[str, ...], seed: int, validate_every: int = 0) -> list[dict]:
    """Rows as the trainer logs them: step, loss (the sum of the terms), terms, lr, skipped and,
    with validation, val_* (empty between validations)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, steps + 1):
        named = {t: float(rng.uniform(0.1, 2.0)) / s for t in terms}
        row = {"step": s, "loss": sum(named.values()), **named, "lr": 1e-3 * 0.9 ** s,
               "skipped": s // 5}
        if validate_every:
            due = s % validate_every == 0
            row |= ({"val_loss": float(rng.uniform(0.2, 1.0)),
                     "val_accuracy": float(rng.uniform(0.5, 0.9))} if due
                    else {"val_loss": "", "val_accuracy": ""})
        rows.append(row)
    return rows


def _write_run(run: Path, rows: list[dict]) -> Path:
    """log.csv written in two chunks, as two checkpoints of a run write it."""
    run.mkdir(parents=True)
    log = RunLog(run, tensorboard=False)
    half = len(rows) // 2
    log.write(0, rows[:half])
    log.write(half, rows[half:])
    log.close()
    return run


@pytest.fixture
def two_runs(tmp_path):
    a = _rows(12, ("rpn", "mask"), seed=1, validate_every=4)
    b = _rows(8, ("cross_entropy",), seed=2)  # one term (= loss), no validation
    return (_write_run(tmp_path / "detector", a), a), (_write_run(tmp_path / "single", b), b)


def test_summary_equals_the_numbers_computed_from_the_rows(two_runs):
    (run, rows), _ = two_runs
    curves = read_log(run)
    assert curves.label == "detector" and curves.steps.tolist() == list(range(1, 13))
    summary = summarise([curves], window=3)
    assert summary.steps == (1, 3, 6, 12)  # 10, 25, 50, 100 % of 12 steps
    r = summary.runs[0]
    loss = [row["loss"] for row in rows]
    # running mean over the last 3 steps up to each step, fewer at the start
    assert r.smoothed_loss[1] == pytest.approx(loss[0], rel=1e-12)
    assert r.smoothed_loss[3] == pytest.approx(np.mean(loss[0:3]), rel=1e-12)
    assert r.smoothed_loss[6] == pytest.approx(np.mean(loss[3:6]), rel=1e-12)
    assert r.smoothed_loss[12] == pytest.approx(np.mean(loss[9:12]), rel=1e-12)
    assert r.last == {k: rows[-1][k] for k in ("loss", "rpn", "mask", "lr", "skipped",
                                               "val_loss", "val_accuracy")}
    val = [row for row in rows if row["val_loss"] != ""]
    assert [v["step"] for v in val] == [4, 8, 12]
    low = min(val, key=lambda v: v["val_loss"])
    high = max(val, key=lambda v: v["val_accuracy"])
    assert r.best == {"val_loss": (low["val_loss"], low["step"]),
                      "val_accuracy": (high["val_accuracy"], high["step"])}
    assert (r.last_step, r.logged_steps) == (12, 12)


def test_running_mean_by_hand_and_window_one():
    v = np.array([4.0, 2.0, np.nan, 6.0, 1.0])
    np.testing.assert_allclose(running_mean(v, 2), [4.0, 3.0, 2.0, 6.0, 3.5])
    np.testing.assert_array_equal(running_mean(v[[0, 1, 3]], 1), [4.0, 2.0, 6.0])
    with pytest.raises(ValueError):
        running_mean(v, 0)


def test_max_step_cuts_the_run(two_runs):
    (run, rows), _ = two_runs
    r = summarise([read_log(run, max_step=7)], window=2).runs[0]
    assert r.last_step == 7 and r.last["loss"] == rows[6]["loss"]
    assert r.last["val_loss"] == rows[3]["val_loss"]  # the one validation before step 7
    assert r.best["val_loss"] == (rows[3]["val_loss"], 4)
    assert summarise([read_log(run, max_step=7)], window=2).steps == (1, 2, 4, 7)


def test_two_runs_with_different_columns(two_runs):
    (run_a, rows_a), (run_b, rows_b) = two_runs
    a, b = read_log(run_a), read_log(run_b, label="ce run")
    assert a.terms == ("rpn", "mask") and b.terms == ("cross_entropy",)
    assert b.validation == ()  # its val_* columns do not exist at all
    # the single term equals the loss at every step: not a panel of its own
    assert panels([a, b]) == ["loss", "rpn", "mask", "lr", "val_loss", "val_accuracy"]
    summary = summarise([a, b], window=2, at=[4, 10])
    sa, sb = summary.runs
    assert summary.steps == (4, 10) and summary.window == 2
    assert sb.label == "ce run" and sb.best == {} and "val_loss" not in sb.last
    assert sb.smoothed_loss == {4: pytest.approx((rows_b[2]["loss"] + rows_b[3]["loss"]) / 2,
                                                 rel=1e-12),
                                10: None}  # run b ended at step 8
    assert sa.smoothed_loss[10] == pytest.approx((rows_a[8]["loss"] + rows_a[9]["loss"]) / 2,
                                                 rel=1e-12)
    assert compare_steps([a, b]) == (1, 2, 4, 8)  # fractions of the shorter run
    fig = curves_figure([a, b], window=2)
    drawn = {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_visible()}
    assert list(drawn) == ["loss (= cross_entropy for ce run)", "rpn", "mask", "lr",
                           "val_loss", "val_accuracy"]
    # loss: raw + mean per run; a term only run a has: its two lines; validation: its points
    assert [len(drawn[k].lines) for k in drawn] == [4, 2, 2, 2, 1, 1]
    np.testing.assert_array_equal(drawn["val_loss"].lines[0].get_xdata(), [4, 8, 12])
    assert drawn["lr"].get_yscale() == "log" and fig.axes[0].get_yscale() == "linear"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["detector", "ce run"]


def test_cli_writes_the_figure_and_the_json(two_runs, tmp_path):
    from larseg.cli.app import register_all

    (run_a, _), (run_b, _) = two_runs
    png = tmp_path / "out" / "curves.png"
    args = ["curves", str(run_a), str(run_b / "log.csv"), "-o", str(png), "--label", "A",
            "--label", "B", "--smooth", "2"]
    result = runner.invoke(register_all(), [*args, "--json"])
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout)
    assert [r["label"] for r in rep["runs"]] == ["A", "B"]
    assert rep["window"] == 2 and rep["compare_steps"] == [1, 2, 4, 8]
    assert rep["quantities"] == ["loss", "rpn", "mask", "lr", "val_loss", "val_accuracy",
                                 "skipped"]
    assert rep["runs"][0]["best"]["val_loss"]["step"] in (4, 8, 12)
    assert rep["runs"][1]["best"] == {} and rep["figure"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    table = runner.invoke(register_all(), args)
    assert table.exit_code == 0, table.output
    assert "loss, mean of 2 up to step 8" in table.stdout and "val_loss, best" in table.stdout


def test_bad_logs_name_the_file_and_the_line(tmp_path):
    run = _write_run(tmp_path / "run", _rows(6, ("cross_entropy",), seed=3))
    log = run / "log.csv"
    where = re.escape(f"file {log}, line 8: ")
    good = log.read_text()
    with log.open("a") as f:
        f.write("7,abc,1.0,0.001,0\n")
    with pytest.raises(LarsegError, match=where + "column 'loss' holds 'abc', not a number"):
        read_log(run)
    log.write_text(good + "7,1.0\n")
    with pytest.raises(LarsegError, match=where + "2 cells, the header has 5"):
        read_log(run)
    log.write_text(good + "3,1.0,1.0,0.001,0\n")
    with pytest.raises(LarsegError, match=where + "step 3 after step 6; steps must increase"):
        read_log(run)
    log.write_text("epoch,loss\n1,2.0\n")
    with pytest.raises(LarsegError, match=re.escape(f"file {log}, line 1: no 'step' column")):
        read_log(log)
    with pytest.raises(LarsegError, match=r"holds no logged step up to step 0"):
        read_log(_write_run(tmp_path / "r2", _rows(3, ("x",), seed=4)), max_step=0)


def test_cli_error_for_a_run_without_log_names_the_path(tmp_path):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "larseg", "curves", str(empty), "-o",
                           str(tmp_path / "c.png")], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {empty / 'log.csv'}: no such file")
    assert not (tmp_path / "c.png").exists()
