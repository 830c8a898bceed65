"""The trainer's options beyond the loop itself: model sections chosen by name, LR schedules,
mixed precision, channels-last, TensorBoard logs, devices, and bad data (empty events skipped
and counted, a non-finite loss stopped with one line)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from larseg.data._torch import torch
from larseg.errors import LarsegError
from larseg.train.config import ConfigError, load_config
from larseg.train.optim import lr_factor
from larseg.train.trainer import OptimConfig, TrainingConfig, train

TINY = ["model.filters=2", "model.depth=2", "data.crop=[32, 64]", "train.steps=3",
        "train.checkpoint_every=3", "optim.name=adam", "optim.lr=1e-3"]


def _cfg(path, *extra):
    return load_config(None, TrainingConfig, [f"data.train={path}", *TINY, *extra])


def _rows(run):
    with (run / "log.csv").open() as f:
        return list(csv.DictReader(f))


def test_model_section_is_chosen_by_name_and_unknown_names_are_listed():
    cfg = load_config(None, TrainingConfig, ["model.name=uresnet", "model.depth=3"])
    assert type(cfg.model).__name__ == "UResNetConfig" and cfg.model.depth == 3
    with pytest.raises(ConfigError, match=r"model.name: unknown 'resnet'; available: "
                                          r"uresnet, cosmic_tagger, sparse_cosmic_tagger, "
                                          r"sparse_ssnet, ssnet, pid_cnn"):
        load_config(None, TrainingConfig, ["model.name=resnet"])
    tagger = load_config(None, TrainingConfig, ["model.name=cosmic_tagger"])
    assert type(tagger.model).__name__ == "CosmicTaggerConfig" and tagger.model.depth == 6
    with pytest.raises(ConfigError, match="unknown key 'model.deep_blocks'"):  # not a uresnet key
        load_config(None, TrainingConfig, ["model.deep_blocks=2"])


def test_cosmic_tagger_trains_with_the_focal_loss(simulated_files, tmp_path):
    cfg = load_config(None, TrainingConfig, [
        f"data.train={simulated_files['sbnd']}", "model.name=cosmic_tagger", "model.filters=2",
        "data.crop=[64, 128]", "loss.name=focal", "train.steps=2", "train.checkpoint_every=2"])
    last = train(cfg, tmp_path / "ct")
    assert last["step"] == 2 and "focal" in last and "cross_entropy" not in last
    assert math.isfinite(last["focal"]) and last["focal"] > 0
    import json
    assert json.loads((tmp_path / "ct" / "model.json").read_text())["config"]["model"][
        "name"] == "cosmic_tagger"


def test_lr_schedules_by_hand():
    warm = OptimConfig(schedule="cosine", warmup_steps=4, min_lr_ratio=0.1)
    assert [lr_factor(warm, 14, s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(warm, 14, 4) == 1.0                         # cosine starts at the top
    assert lr_factor(warm, 14, 9) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: the middle
    assert lr_factor(warm, 14, 14) == pytest.approx(0.1)         # and ends at min_lr_ratio
    step = OptimConfig(schedule="step", step_every=3, step_gamma=0.5)
    assert [lr_factor(step, 10, s) for s in (0, 2, 3, 6, 9)] == [1, 1, 0.5, 0.25, 0.125]
    assert lr_factor(OptimConfig(), 10, 7) == 1.0


def test_schedule_is_applied_and_logged(simulated_files, tmp_path):
    cfg = _cfg(simulated_files["sbnd"], "optim.schedule=step", "optim.step_every=1",
               "optim.step_gamma=0.5")
    train(cfg, tmp_path / "r")
    assert [float(r["lr"]) for r in _rows(tmp_path / "r")] == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_bf16_autocast_trains_and_fp16_on_cpu_is_refused(simulated_files, tmp_path):
    last = train(_cfg(simulated_files["sbnd"], "train.precision=bf16"), tmp_path / "bf16")
    ref = train(_cfg(simulated_files["sbnd"]), tmp_path / "fp32")
    assert math.isfinite(last["loss"]) and last["loss"] > 0
    # the same data and initial weights: bf16 differs from fp32 only by rounding
    assert last["loss"] == pytest.approx(ref["loss"], rel=0.05)
    with pytest.raises(LarsegError, match="fp16 autocast is for CUDA; use bf16"):
        train(_cfg(simulated_files["sbnd"], "train.precision=fp16"), tmp_path / "fp16")


def test_channels_last_is_applied_and_changes_nothing_but_the_layout():
    from larseg.models import build
    from larseg.train import runtime

    cfg = load_config(None, TrainingConfig, ["model.filters=2", "model.depth=2"])
    torch.manual_seed(0)
    plain = build(cfg.model).eval()
    cl = build(cfg.model).eval()
    cl.load_state_dict(plain.state_dict())
    cl, forward = runtime.prepare(cl, channels_last=True, compile=False)
    conv = cl.down[0].conv1.weight  # (2, 2, 3, 3): the two layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    x = torch.rand(1, 3, 32, 64)
    with torch.no_grad():
        a = plain(x)
        b = forward(runtime.to_input(x, torch.device("cpu"), True))
    assert torch.allclose(a, b, atol=1e-5)


def test_tensorboard_log_has_every_term(simulated_files, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(_cfg(simulated_files["sbnd"], "train.tensorboard=true"), tmp_path / "tb")
    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss", "cross_entropy", "lr"} <= tags
    losses = [e.value for e in acc.Scalars("loss")]
    csv_losses = [float(r["loss"]) for r in _rows(tmp_path / "tb")]
    assert [e.step for e in acc.Scalars("loss")] == [1, 2, 3]
    assert losses == pytest.approx(csv_losses, rel=1e-6)


def test_devices(simulated_files):
    from larseg.train.runtime import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(LarsegError, match="this torch has no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(LarsegError, match="'gpu0' is not a device"):
        resolve_device("gpu0")


def test_non_finite_loss_is_one_line_naming_step_events_and_file(simulated_files, tmp_path):
    # RMSProp at lr 1e30: the first step throws the weights out of range, the next loss is
    # not finite
    cfg = _cfg(simulated_files["sbnd"], "optim.name=rmsprop", "optim.lr=1e30",
               "train.steps=6", "train.checkpoint_every=1")
    with pytest.raises(LarsegError) as err:
        train(cfg, tmp_path / "nan")
    msg = str(err.value)
    assert "the loss is nan" in msg or "the loss is inf" in msg
    assert str(simulated_files["sbnd"]) in msg and "on events [" in msg
    step = int(msg.split()[1].rstrip(":"))
    assert 2 <= step <= 6
    # the checkpoint of the last good step is intact and resumable by step
    assert len(_rows(tmp_path / "nan")) == step - 1


def test_empty_events_are_skipped_and_counted(tmp_path):
    from larseg.io import write_events
    from tests.factories import toy_event

    events = [toy_event("sbnd", seed=s, event=s) for s in range(3)]
    empty = toy_event("sbnd", seed=9, event=9, n_tracks=0)
    for p in empty.planes:  # nothing at all on any plane (no noise pixels either)
        p.coords, p.values = np.zeros((0, 2), np.int32), np.zeros(0, np.float32)
        for name in ("cosmic", "semantic", "instance"):
            setattr(p, name, np.zeros(0, np.int32))
    path = tmp_path / "with_empty.h5"
    write_events(path, events[:2] + [empty] + events[2:])
    cfg = _cfg(path, "data.seed=3", "train.steps=8", "train.checkpoint_every=8")
    train(cfg, tmp_path / "r")
    rows = _rows(tmp_path / "r")
    assert len(rows) == 8
    # 8 steps of 1 event over a 4-event file: 2 epochs, the empty event skipped in each
    assert int(rows[-1]["skipped"]) == 2


@pytest.mark.parametrize("pool", ["mean", "sum", "max"])
def test_predict_pools_the_image_as_the_training_data(pool):
    """predict builds its whole-image input itself: it must pool as the dataset does."""
    from larseg.data import DenseDataset
    from larseg.train.predict import pooled_image
    from tests.factories import toy_event

    ev = toy_event("sbnd", seed=4)
    item = DenseDataset([ev], target="cosmic", downsample=2, pool=pool)[0]
    for k, plane in enumerate(ev.planes):
        ours = pooled_image(plane, 2, pool)
        assert ours.shape == tuple(item["image"][k].shape)
        # equal up to float32 summation order
        np.testing.assert_allclose(ours, item["image"][k].numpy(), rtol=1e-6, atol=0)
        assert np.count_nonzero(ours) == np.count_nonzero(item["image"][k].numpy()) > 50


def test_sparse_ssnet_trains_with_note_1091_weights(simulated_files, tmp_path):
    sparse = [f"data.train={simulated_files['microboone']}", "model.name=sparse_ssnet",
              "model.filters=4", "model.levels=3", "model.backend=reference",
              "data.target=semantic", "data.downsample=1", "data.crop=[128, 128]",
              "loss.scheme=cluster+vertex", "optim.name=adam", "optim.lr=1e-3",
              "train.steps=3", "train.checkpoint_every=3", "train.validate_every=3",
              f"data.validation={simulated_files['microboone']}", "data.validation_events=1"]
    last = train(load_config(None, TrainingConfig, sparse), tmp_path / "s")
    assert last["step"] == 3 and math.isfinite(last["cross_entropy"]) and last["loss"] > 0
    assert 0.0 <= last["val_accuracy"] <= 1.0 and math.isfinite(last["val_loss"])
    rows = _rows(tmp_path / "s")
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    with pytest.raises(LarsegError, match="loss.scheme 'image' is not one of"):
        train(load_config(None, TrainingConfig, sparse + ["loss.scheme=image"]), tmp_path / "m")
    with pytest.raises(LarsegError, match="loss.class_weights has 3 weights, the model 5 classes"):
        train(load_config(None, TrainingConfig, sparse + ["loss.scheme=mild"]), tmp_path / "w")
    with pytest.raises(LarsegError, match="data.target 'cosmic' has 3 classes, model.n_classes "
                                          "is 5"):
        train(load_config(None, TrainingConfig, sparse + ["data.target=cosmic"]), tmp_path / "c")


def test_sparse_batch_weights_by_hand():
    from larseg.data.weights import sparse_batch_weights

    # one plane, two events (batch index in coords[:, 0]); event 0: a 2-pixel cluster (7) next
    # to a 1-pixel cluster (8) of another label; event 1: one pixel, one ignored pixel
    coords = np.array([[0, 5, 5], [0, 5, 6], [0, 5, 7], [1, 0, 0], [1, 9, 9]])
    batch = {"coords": [coords], "label": [np.array([1, 1, 2, 3, -1])],
             "cluster": [np.array([7, 7, 8, 4, -1])]}
    w = sparse_batch_weights(batch, "cluster", 5)[0]
    assert w.tolist() == [0.02, 0.02, 0.02, 0.02, 0.0]   # 1/2 and 1/1 clipped to 2e-2
    v = sparse_batch_weights(batch, "vertex", 5)[0]
    assert v.tolist() == [0.02, 0.02, 0.02, 0.0, 0.0]    # all within 3 px of another label
    both = sparse_batch_weights(batch, "cluster+vertex", 5)[0]
    assert both.tolist() == pytest.approx([0.04, 0.04, 0.04, 0.02, 0.0])
    assert sparse_batch_weights(batch, "none", 5)[0].tolist() == [1, 1, 1, 1, 0]


def test_a_run_directory_in_use_is_refused(simulated_files, tmp_path):
    import fcntl

    run = tmp_path / "busy"
    run.mkdir()
    with open(run / "run.lock", "a+") as held:  # as a training running in another process
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LarsegError, match="is in use by another training"):
            train(_cfg(simulated_files["sbnd"]), run)
        assert not (run / "log.csv").exists()
    last = train(_cfg(simulated_files["sbnd"]), run)  # free again: it trains
    assert last["step"] == 3


def test_several_files_train_as_one_sample(simulated_files, tmp_path):
    from larseg.io import EventFile
    from larseg.io.events import ConcatEvents

    a = simulated_files["sbnd"]
    both = ConcatEvents([EventFile(a), EventFile(a)])
    assert len(both) == 6 and both[4].tag == EventFile(a)[1].tag and both[-1].tag == both[2].tag
    cfg = _cfg(f"{a},{a}", "train.steps=2", "train.checkpoint_every=2")
    assert train(cfg, tmp_path / "two")["step"] == 2
    with pytest.raises(LarsegError, match="data.train: file nowhere.h5 does not exist"):
        train(_cfg(f"{a},nowhere.h5"), tmp_path / "bad")


def test_sparse_cosmic_tagger_trains_with_the_mild_weights(simulated_files, tmp_path):
    cfg = load_config(None, TrainingConfig, [
        f"data.train={simulated_files['sbnd']}", "model.name=sparse_cosmic_tagger",
        "model.filters=2", "model.deep_filters=8", "model.backend=reference",
        "data.crop=[64, 128]", "loss.scheme=mild", "train.steps=2", "train.checkpoint_every=2"])
    last = train(cfg, tmp_path / "sct")
    assert last["step"] == 2 and math.isfinite(last["loss"]) and last["loss"] > 0


def test_sparse_cross_entropy_mean_is_the_weighted_pixel_average():
    from larseg.models.losses import SparseCrossEntropy

    logits = [torch.zeros(3, 3), torch.zeros(1, 3)]       # uniform: CE = ln 3 everywhere
    label = [torch.tensor([0, 1, -1]), torch.tensor([2])]
    weight = [torch.tensor([1.0, 1.5, 0.0]), torch.tensor([10.0])]
    mean = SparseCrossEntropy("mean")(logits, label, weight)["cross_entropy"]
    total = SparseCrossEntropy()(logits, label, weight, batch_size=2)["cross_entropy"]
    assert float(mean) == pytest.approx(math.log(3) * 12.5 / 3)   # 3 labelled pixels
    assert float(total) == pytest.approx(math.log(3) * 12.5 / 2)  # summed, per event


def test_an_interrupted_run_leaves_the_weights_of_its_last_step(simulated_files, tmp_path):
    import json
    import os
    import signal

    from larseg.errors import JobInterrupted
    from larseg.models import build
    from larseg.train.evaluate import load_weights

    cfg = _cfg(simulated_files["sbnd"], "train.steps=4", "train.checkpoint_every=4")

    def interrupt_at_2(row):
        if row["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: stop after this step

    with pytest.raises(JobInterrupted, match="weights of step 2"):
        train(cfg, tmp_path / "r", on_step=interrupt_at_2)
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["step"] == 2 and meta["complete"] is False
    load_weights(build(cfg.model), tmp_path / "r" / "model.safetensors")  # hash and shapes
    train(cfg, tmp_path / "r", resume=True)
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["step"] == 4 and meta["complete"] is True


def test_evaluate_and_predict_refuse_an_absent_cuda_device(simulated_files, tmp_path):
    from larseg.train.evaluate import evaluate
    from larseg.train.predict import predict

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = _cfg(simulated_files["sbnd"], "train.steps=1", "train.checkpoint_every=1")
    train(cfg, tmp_path / "r")
    w = tmp_path / "r" / "model.safetensors"
    with pytest.raises(LarsegError, match="this torch has no CUDA device"):
        evaluate(cfg, w, simulated_files["sbnd"], tmp_path / "e", 1, device="cuda")
    with pytest.raises(LarsegError, match="this torch has no CUDA device"):
        predict(cfg, w, simulated_files["sbnd"], tmp_path / "p.h5", device="cuda")
    m = evaluate(cfg, w, simulated_files["sbnd"], tmp_path / "e2", 1, device="auto")
    assert m["events"] == 1
