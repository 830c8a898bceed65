"""SSNet and its particle-ID CNN through the shared trainer (larseg.train.paths: the SSNet and
classification paths): SSNet on a simulated MicroBooNE particle-bomb file with the talk's
inverse-frequency weights, the PID CNN on simulated single particles with its validation
accuracy, and the transfer of the PID CNN's encoder (model.init_from)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from larseg.data._torch import torch
from larseg.data.single_particle import SingleParticleConfig, SingleParticleDataset
from larseg.errors import LarsegError
from larseg.models import build
from larseg.models.pid_cnn import PIDCNN, PIDConfig
from larseg.models.ssnet import SSNet, ssnet_training_targets
from larseg.train.config import load_config
from larseg.train.paths import path_for
from larseg.train.trainer import TrainingConfig, init_from, train

CONFIGS = Path(__file__).resolve().parents[1] / "larseg" / "configs"
# one encoder shape for both networks, so that the transfer fits
ENCODER = ["model.filters=2", "model.depth=2", "model.blocks_per_level=1"]
SSNET = ["model.name=ssnet", *ENCODER, "data.target=ssnet", "data.downsample=1",
         "data.crop=[64, 64]", "data.batch_size=3", "data.seed=4", "loss.scheme=inverse_frequency",
         "optim.name=adam", "optim.lr=1e-3", "train.steps=3", "train.checkpoint_every=1"]
PID = ["model.name=pid_cnn", *ENCODER, "data.train=single_particle:10",
       "data.validation=single_particle:5", "data.validation_events=5", "data.target=species",
       "data.planes=[2]", "data.downsample=1", "data.crop=[32, 32]", "data.batch_size=5",
       "data.seed=2", "loss.scheme=none", "optim.name=adam", "optim.lr=1e-2", "train.steps=3",
       "train.checkpoint_every=3", "train.validate_every=3"]


def _ssnet(bomb, *extra):
    return load_config(None, TrainingConfig, [f"data.train={bomb}", *SSNET, *extra])


def _rows(run: Path) -> list[dict]:
    with (run / "log.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def pid_run(tmp_path_factory):
    """A PID CNN trained 3 steps on 10 simulated particles, validated on 5 others."""
    run = tmp_path_factory.mktemp("pid") / "run"
    train(load_config(None, TrainingConfig, PID), run)
    return run


def _first_batch(cfg):
    """The trainer's first micro-batch, rebuilt: the whole 3-event file (batch 3), the crops of
    epoch 0."""
    model = build(cfg.model)
    path = path_for(model, cfg)
    ds = path.dataset(cfg.data.train, "train", training=True)
    ds.set_epoch(0)
    batch = path.collate([ds[i] for i in range(len(ds))])
    assert batch is not None and batch["image"].shape == (3, 3, 64, 64)
    return path, batch


def _by_hand(categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSNet's classes and the talk's weights, per plane image: a labelled pixel of category c
    weighs N / (K · N_c), N the image's labelled pixels, K the categories present."""
    classes = np.select([categories == 0, categories == 1, categories == 2, categories == 3],
                        [0, 0, 1, 2], -1)
    weights = np.zeros(categories.shape)
    for b in range(categories.shape[0]):
        for p in range(categories.shape[1]):
            cat = categories[b, p]
            counts = {c: int((cat == c).sum()) for c in range(4)}
            present = [c for c in counts if counts[c]]
            n = sum(counts.values())
            for c in present:
                weights[b, p][cat == c] = n / (len(present) * counts[c])
    return classes, weights


def _loss(logits, classes: np.ndarray, weights: np.ndarray) -> float:
    """Σ w · CE / (labelled pixels), every plane and event of the batch."""
    flat = logits.permute(0, 1, 3, 4, 2).reshape(-1, logits.shape[2])
    target = torch.from_numpy(classes.reshape(-1))
    keep = target >= 0
    ce = torch.nn.functional.cross_entropy(flat[keep], target[keep], reduction="none")
    w = torch.from_numpy(weights.reshape(-1)[keep.numpy()]).float()
    return float((ce * w).sum() / keep.sum())


def test_ssnet_trains_with_the_talks_weights(simulated_files, tmp_path):
    bomb = simulated_files["microboone"]
    cfg = _ssnet(bomb, "train.validate_every=3", f"data.validation={bomb}",
                 "data.validation_events=1")
    last = train(cfg, tmp_path / "w")
    assert last["step"] == 3 and math.isfinite(last["cross_entropy"]) and last["loss"] > 0
    assert 0.0 <= last["val_accuracy"] <= 1.0 and math.isfinite(last["val_loss"])

    path, batch = _first_batch(cfg)
    cats = batch["label"].numpy()
    assert set(np.unique(cats)) == {0, 1, 2, 3}  # background, edge band, track, shower
    classes, weights = _by_hand(cats)
    used = path.weights(batch, torch.device("cpu")).numpy()
    np.testing.assert_allclose(used, weights, rtol=1e-6)
    np.testing.assert_allclose(used, ssnet_training_targets(batch["label"])[1].numpy(),
                               rtol=0)
    assert np.array_equal(path.classes(batch).numpy(), classes)
    # the logged loss of step 1 is the weighted loss of the initial network on that batch
    torch.manual_seed(cfg.data.seed)
    with torch.no_grad():
        logits = build(cfg.model)(batch["image"])  # train mode: BatchNorm of the batch
    weighted = _loss(logits, classes, weights)
    flat = _loss(logits, classes, (classes >= 0).astype(float))
    assert abs(weighted - flat) > 0.01 * flat  # the weights change the loss
    step1 = float(_rows(tmp_path / "w")[0]["cross_entropy"])
    assert step1 == pytest.approx(weighted, rel=1e-5)

    # loss.scheme none: every labelled pixel weighs 1
    train(_ssnet(bomb, "loss.scheme=none", "train.steps=1"), tmp_path / "n")
    assert float(_rows(tmp_path / "n")[0]["cross_entropy"]) == pytest.approx(flat, rel=1e-5)


def test_ssnet_class_count_target_and_scheme_are_checked(simulated_files, tmp_path):
    bomb = simulated_files["microboone"]
    with pytest.raises(LarsegError, match=r"data.target 'ssnet' has 3 classes \(4 training "
                                          r"categories: the edge band is background\), "
                                          r"model.n_classes is 4"):
        train(_ssnet(bomb, "model.n_classes=4"), tmp_path / "a")
    with pytest.raises(LarsegError, match="data.target 'cosmic' is not one of SSNet's: ssnet"):
        train(_ssnet(bomb, "data.target=cosmic"), tmp_path / "b")  # 3 classes too
    with pytest.raises(LarsegError, match="loss.scheme 'mild' is not one of SSNet's: "
                                          "inverse_frequency, inverse_frequency_active, "
                                          "inverse_frequency_features, none"):
        train(_ssnet(bomb, "loss.scheme=mild"), tmp_path / "c")
    # a plain dense network cannot take the 4 categories for 3 classes
    with pytest.raises(LarsegError, match="data.target 'ssnet' is not one of a dense "
                                          "network's: cosmic, semantic, track_shower"):
        train(load_config(None, TrainingConfig, [
            f"data.train={bomb}", "model.name=uresnet", "data.target=ssnet",
            "loss.scheme=none"]), tmp_path / "d")
    # and the unchanged check of the other targets
    with pytest.raises(LarsegError, match="data.target 'semantic' has 5 classes, "
                                          "model.n_classes is 3"):
        train(load_config(None, TrainingConfig, [f"data.train={bomb}",
                                                 "data.target=semantic"]), tmp_path / "e")


def test_pid_cnn_trains_and_logs_its_validation_accuracy(pid_run):
    rows = _rows(pid_run)
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert all(math.isfinite(float(r["cross_entropy"])) for r in rows)
    assert float(rows[0]["cross_entropy"]) > 1.2  # about ln 5 = 1.61 at the start
    assert [r["val_accuracy"] == "" for r in rows] == [True, True, False]
    # the logged accuracy is that of the final weights on the 5 held-out particles (seed 2 + 1)
    cfg = load_config(None, TrainingConfig, PID)
    model = PIDCNN(cfg.model)
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(pid_run / "model.safetensors")))
    model.eval()
    held = SingleParticleDataset(5, SingleParticleConfig(size=32), seed=3)
    train_set = SingleParticleDataset(1, SingleParticleConfig(size=32), seed=2)
    assert not torch.equal(held[0]["image"], train_set[0]["image"])  # other particles
    x = torch.stack([held[i]["image"] for i in range(5)])
    y = torch.stack([held[i]["label"] for i in range(5)])
    assert y.tolist() == [0, 1, 2, 3, 4]
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 1]) for i in range(5)])
    accuracy = int((logits.argmax(1) == y).sum()) / 5
    loss = float(torch.nn.functional.cross_entropy(logits, y))
    assert float(rows[-1]["val_accuracy"]) == pytest.approx(accuracy, abs=1e-9)
    assert float(rows[-1]["val_loss"]) == pytest.approx(loss, rel=1e-5)


def test_evaluate_gives_the_pid_cnns_accuracy_and_species_confusion(pid_run, tmp_path):
    """`larseg evaluate` of a PID CNN: its held-out particles (data.validation by default),
    the 5 x 5 confusion matching the logged validation accuracy, the report and picture."""
    from typer.testing import CliRunner

    from larseg.cli.app import register_all

    out = tmp_path / "eval"
    result = CliRunner().invoke(register_all(), [
        "evaluate", str(pid_run / "config.yaml"), "--weights", str(pid_run / "model.safetensors"),
        "-o", str(out)])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    cm = np.asarray(m["confusion"])
    assert m["data"] == ["single_particle:5"] and m["particles"] == 5 == cm.sum()
    assert cm.sum(axis=1).tolist() == [1, 1, 1, 1, 1]       # one particle of each species
    assert m["accuracy"] == pytest.approx(np.trace(cm) / 5)
    assert m["accuracy"] == pytest.approx(float(_rows(pid_run)[-1]["val_accuracy"]), abs=1e-9)
    assert (out / "confusion_species.png").stat().st_size > 5_000
    assert "| truth \\ prediction | e | gamma | mu | pi | p |" in (out / "report.md").read_text()


def test_pid_data_settings_are_checked(tmp_path):
    def fails(match, *extra):
        with pytest.raises(LarsegError, match=match):
            train(load_config(None, TrainingConfig, [*PID, *extra]),
                  tmp_path / str(len(list(tmp_path.iterdir()))))

    fails("seed 2 is the training particles' seed", "data.validation=single_particle:5@2")
    fails(r"data.train: 'p.h5' is not a single-particle source; the PID CNN trains on "
          r"single_particle:N or single_particle:N@SEED", "data.train=p.h5")
    fails(r"data.planes: single-particle images are of one plane, got \[0, 2\]",
          "data.planes=[0, 2]")
    fails("data.downsample: single-particle images are at full resolution", "data.downsample=2")
    fails(r"data.crop: the image side 30 must be a multiple of 4", "data.crop=[30, 30]")
    fails("data.target 'cosmic' has 3 classes, model.n_classes is 5", "data.target=cosmic")
    fails("loss.scheme 'mild' is not one of a classification network's: none",
          "loss.scheme=mild")


def test_init_from_copies_the_pid_encoder_at_step_0(simulated_files, pid_run, tmp_path):
    from safetensors.torch import load_file

    pid = load_file(str(pid_run / "model.safetensors"))
    weights = str(pid_run / "model.safetensors")
    cfg = _ssnet(simulated_files["microboone"], f"model.init_from={weights}")
    torch.manual_seed(0)
    model = build(cfg.model)
    torch.manual_seed(0)
    plain = build(cfg.model)
    rng = torch.get_rng_state()
    record = init_from(model, cfg)
    # building the PID CNN drew no numbers from the global stream
    assert torch.equal(torch.get_rng_state(), rng)
    enc = model.encoder.state_dict()
    # every encoder tensor (parameters and BatchNorm statistics) is the PID run's
    assert record["tensors"] == len(enc) == 48 and len(pid) == len(enc) + 2  # + the PID head
    assert all(torch.equal(enc[k], pid[f"encoder.{k}"]) for k in enc)
    assert not torch.equal(plain.encoder.stem.weight, model.encoder.stem.weight)
    # the decoder is untouched: the same as without the transfer
    assert all(torch.equal(v, plain.decoder.state_dict()[k])
               for k, v in model.decoder.state_dict().items())
    assert record["sha256"] == json.loads((pid_run / "model.json").read_text())["sha256"]

    # through the trainer: with lr 0 the parameters stay where the transfer put them
    train(_ssnet(simulated_files["microboone"], f"model.init_from={weights}",
                 "optim.lr=0.0", "train.steps=1"), tmp_path / "t")
    out = load_file(str(tmp_path / "t" / "model.safetensors"))
    params = [k for k, _ in SSNet(cfg.model).encoder.named_parameters()]
    assert len(params) == 30 and all(torch.equal(out[f"encoder.{k}"], pid[f"encoder.{k}"])
                                     for k in params)
    assert json.loads((tmp_path / "t" / "init_from.json").read_text())["tensors"] == 48
    meta = json.loads((tmp_path / "t" / "model.json").read_text())
    assert meta["config"]["model"]["init_from"] == weights and meta["init_from"]["tensors"] == 48


def test_init_from_of_another_architecture_is_one_line(simulated_files, pid_run, tmp_path):
    weights = pid_run / "model.safetensors"
    wider = _ssnet(simulated_files["microboone"], f"model.init_from={weights}",
                   "model.filters=4")
    with pytest.raises(LarsegError) as err:
        train(wider, tmp_path / "a")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"model.init_from: weights {weights} are for "
                                              "another architecture: 'encoder.stem.weight' is "
                                              "(2, 1, 7, 7) in the file, (4, 1, 7, 7) in the "
                                              "model")
    with pytest.raises(LarsegError, match="model.init_from: weights nowhere.safetensors do not "
                                          "exist"):
        train(_ssnet(simulated_files["microboone"], "model.init_from=nowhere.safetensors"),
              tmp_path / "b")


def test_resume_after_a_stop_equals_the_uninterrupted_run(simulated_files, pid_run, tmp_path):
    """Stopped after step 2 (checkpoint at step 1), resumed without the PID file: the weights
    come from the checkpoint, and the run equals the uninterrupted one."""
    import shutil

    copy = tmp_path / "pid" / "model.safetensors"
    copy.parent.mkdir()
    shutil.copy(pid_run / "model.safetensors", copy)
    shutil.copy(pid_run / "model.json", copy.with_suffix(".json"))
    cfg = _ssnet(simulated_files["microboone"], f"model.init_from={copy}")
    train(cfg, tmp_path / "a")

    class Stop(Exception):
        pass

    def stop_at_2(row):
        if row["step"] == 2:
            raise Stop

    with pytest.raises(Stop):
        train(cfg, tmp_path / "b", on_step=stop_at_2)
    assert json.loads((tmp_path / "b" / "checkpoint.json").read_text())["step"] == 1
    copy.unlink()
    train(cfg, tmp_path / "b", resume=True)
    assert _rows(tmp_path / "b") == _rows(tmp_path / "a")
    assert ((tmp_path / "b" / "model.safetensors").read_bytes()
            == (tmp_path / "a" / "model.safetensors").read_bytes())
    saved = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    assert saved["model"]["init_from"] == str(copy)


def test_shipped_configs_fit_together():
    pid = load_config(CONFIGS / "pid_cnn.yaml", TrainingConfig)
    ssnet = load_config(CONFIGS / "ssnet.yaml", TrainingConfig)
    assert type(pid.model) is PIDConfig and type(ssnet.model).__name__ == "SSNetConfig"
    fields = ("filters", "depth", "blocks_per_level", "stem_kernel")
    assert [getattr(pid.model, f) for f in fields] == [getattr(ssnet.model, f) for f in fields]
    assert ssnet.model.init_from == "runs/pid_cnn/model.safetensors"
    assert ssnet.data.target == "ssnet" and ssnet.loss.scheme == "inverse_frequency_features"
    assert ssnet.model.adc_threshold == 10.0  # MicroBooNE's noise floor, as SparseSSNet's mask
    assert ssnet.data.crop == (512, 512) and ssnet.data.downsample == 1  # the talk's crops
    assert pid.data.target == "species" and pid.data.train.startswith("single_particle:")
    for cfg in (pid, ssnet):
        multiple = build(cfg.model).size_multiple
        assert cfg.data.crop[0] % multiple == 0 and cfg.data.crop[1] % multiple == 0
