"""The training engine on a real network and real simulated files, through `larseg train`:
a run killed with SIGKILL and resumed equals an uninterrupted one, step for step and bit for bit."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LARSEG = str(Path(sys.executable).with_name("larseg"))

CONFIG = """\
model: {name: uresnet, n_classes: 3, filters: 4, depth: 2}
data: {train: %s, planes: [0, 1, 2], target: cosmic, downsample: 2, crop: [64, 96],
       batch_size: 1, seed: 5}
loss: {class_weights: [1.0, 1.5, 10.0]}
optim: {name: adam, lr: 1.0e-3, accumulate: 2, clip_norm: 5.0}
train: {steps: 10, checkpoint_every: 2, threads: 1}
"""


@pytest.fixture(scope="module")
def config(simulated_files, tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    p.write_text(CONFIG % simulated_files["sbnd"])
    return p


def _log(run: Path) -> list[dict]:
    with (run / "log.csv").open() as f:
        return list(csv.DictReader(f))


def test_train_kill_resume_equals_uninterrupted(config, tmp_path):
    a = tmp_path / "a"
    done = subprocess.run([LARSEG, "train", str(config), "-o", str(a)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    log_a = _log(a)
    assert [int(r["step"]) for r in log_a] == list(range(1, 11))
    losses = [float(r["loss"]) for r in log_a]
    assert all(x > 0 for x in losses)
    meta = json.loads((a / "model.json").read_text())
    assert meta["parameters"] > 1000 and len(meta["sha256"]) == 64

    b = tmp_path / "b"
    proc = subprocess.Popen([LARSEG, "train", str(config), "-o", str(b)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 300:
        ck = b / "checkpoint.json"
        if ck.exists() and json.loads(ck.read_text() or "{}").get("step", 0) >= 4:
            break
        if proc.poll() is not None:
            pytest.fail(f"training ended before step 4: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (b / "model.safetensors").exists()
    again = subprocess.run([LARSEG, "train", str(config), "-o", str(b), "--resume"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert _log(b) == log_a                                   # the same loss, step for step
    assert (b / "model.safetensors").read_bytes() == (a / "model.safetensors").read_bytes()


def test_train_refuses_bad_config_and_reused_run(config, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("lr: 1.0e-3", "lrr: 1.0e-3") % "x.h5")
    done = subprocess.run([LARSEG, "train", str(bad), "-o", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "unknown key 'optim.lrr'" in done.stderr and "bad.yaml" in done.stderr
    missing = subprocess.run([LARSEG, "train", str(config), "-o", str(tmp_path / "r"),
                              "--set", "data.train=nowhere.h5"], capture_output=True, text=True)
    assert missing.returncode == 1 and "data.train: file nowhere.h5 does not exist" in missing.stderr


def test_two_ddp_processes_equal_one_with_accumulation(simulated_files, tmp_path):
    """torchrun, 2 CPU processes (gloo), accumulate 1 == 1 process, accumulate 2: the same
    micro-batches, the same BatchNorm statistics per micro-batch, averaged gradients."""
    from safetensors.torch import load_file

    one = tmp_path / "one.yaml"
    one.write_text(CONFIG.replace("steps: 10", "steps: 4") % simulated_files["sbnd"])
    two = tmp_path / "two.yaml"
    two.write_text(CONFIG.replace("steps: 10", "steps: 4").replace("accumulate: 2",
                                                                   "accumulate: 1")
                   % simulated_files["sbnd"])
    a = subprocess.run([LARSEG, "train", str(one), "-o", str(tmp_path / "a")],
                       capture_output=True, text=True, timeout=600)
    assert a.returncode == 0, a.stderr
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    b = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "larseg", "train",
                        str(two), "-o", str(tmp_path / "b")], capture_output=True, text=True,
                       timeout=600)
    assert b.returncode == 0, b.stderr[-3000:]
    la, lb = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in la] == [r["step"] for r in lb] == ["1", "2", "3", "4"]
    for ra, rb in zip(la, lb):
        assert float(rb["loss"]) == pytest.approx(float(ra["loss"]), rel=1e-5)
    wa = load_file(str(tmp_path / "a" / "model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "model.safetensors"))
    params = [k for k in wa if not k.endswith(("running_mean", "running_var",
                                               "num_batches_tracked"))]
    assert len(params) > 10
    for k in params:  # BatchNorm running statistics differ (DDP broadcasts rank 0's)
        assert wb[k].allclose(wa[k], rtol=1e-4, atol=1e-6), k


def test_validation_pass_is_logged(simulated_files, tmp_path):
    cfg = tmp_path / "v.yaml"
    text = (CONFIG.replace("steps: 10", "steps: 4, validate_every: 2")
            .replace("seed: 5}", "seed: 5, validation: %s, validation_events: 2}"))
    cfg.write_text(text % (simulated_files["sbnd"], simulated_files["sbnd"]))
    done = subprocess.run([LARSEG, "train", str(cfg), "-o", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = _log(tmp_path / "r")
    assert [r["val_loss"] == "" for r in rows] == [True, False, True, False]
    for r in rows[1::2]:
        assert float(r["val_loss"]) > 0 and 0.0 <= float(r["val_accuracy"]) <= 1.0


def test_snapshots_keep_the_weights_a_shorter_run_makes(config, tmp_path):
    """train.snapshot_every keeps every N-th step's weights; with a constant schedule the same
    config stopped at that step makes exactly those weights (how a step chosen afterwards on a
    validation file is reproduced by one command)."""
    from safetensors.torch import load_file

    long_cfg = tmp_path / "long.yaml"
    long_cfg.write_text(config.read_text().replace("steps: 10,", "steps: 4, snapshot_every: 2,"))
    done = subprocess.run([LARSEG, "train", str(long_cfg), "-o", str(tmp_path / "long")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    snaps = sorted(p.name for p in (tmp_path / "long" / "snapshots").glob("*.safetensors"))
    assert snaps == ["step_000002.safetensors", "step_000004.safetensors"]
    meta = json.loads((tmp_path / "long" / "snapshots" / "step_000002.json").read_text())
    assert meta["step"] == 2 and meta["complete"] is False
    final = load_file(tmp_path / "long" / "model.safetensors")
    last = load_file(tmp_path / "long" / "snapshots" / "step_000004.safetensors")
    assert final.keys() == last.keys() and all((final[k] == last[k]).all() for k in final)

    done = subprocess.run([LARSEG, "train", str(config), "-o", str(tmp_path / "short"),
                           "--set", "train.steps=2"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    short = load_file(tmp_path / "short" / "model.safetensors")
    snap = load_file(tmp_path / "long" / "snapshots" / "step_000002.safetensors")
    assert any((snap[k] != last[k]).any() for k in snap)  # the run moved between snapshots
    assert all((short[k] == snap[k]).all() for k in snap)
