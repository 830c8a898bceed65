"""sMask-RCNN assembled (larseg.models.detection.mask_rcnn) and its training path
(larseg.train.detection_path): built through the registry with either backbone, the training
and eval contracts, a few optimisation steps on one tiny image with one planted track that
find it, determinism, and the path on simulated MicroBooNE crops."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import larseg

from larseg.errors import LarsegError
from larseg.models import build
from larseg.models.detection.roi_heads import paste_masks
from larseg.models.detection.backbones import ResNetBackbone, SparseResNetBackbone
from larseg.models.detection.boxes import box_iou
from larseg.models.detection.mask_rcnn import LOSS_TERMS, MaskRCNN, MaskRCNNConfig

H, W = 64, 96
# a small network for a 64 × 96 image: stride-8 map, anchors of 16-64 pixels
TINY = MaskRCNNConfig(
    backbone="dense", backend="reference", stem_filters=4, stem_kernel=3, widths=(8, 16, 16),
    blocks=(1, 1, 1), return_strides=(8,), anchor_sizes=((16.0, 32.0, 64.0),),
    aspect_ratios=(0.25, 0.5, 1.0, 2.0, 4.0), rpn_pre_nms_top_n_train=300,
    rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=50,
    rpn_batch_size_per_image=64, roi_batch_size_per_image=64, representation=32,
    mask_channels=8, mask_convs=2)


def planted() -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """A (1, 1, 64, 96) image holding one two-pixel-thick track of 50 ADC, a cosmic."""
    image = torch.zeros(1, 1, H, W)
    masks = torch.zeros(1, H, W, dtype=torch.bool)
    for c in range(20, 76):
        r = 16 + (c - 20) * 24 // 56
        masks[0, r:r + 2, c] = True
    image[0, 0][masks[0]] = 50.0
    box = torch.tensor([[20.0, 16.0, 76.0, 41.0]])  # end exclusive, as the dataset's
    return image, [{"boxes": box, "labels": torch.tensor([0]), "masks": masks}]


def train(cfg: MaskRCNNConfig, steps: int, lr: float = 3e-3, seed: int = 0
          ) -> tuple[MaskRCNN, list[float]]:
    torch.manual_seed(seed)
    net = build(cfg)
    image, targets = planted()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    totals = []
    for _ in range(steps):
        losses = net(image, targets)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(float(total.detach()))
    return net, totals


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine's cores are shared: steady, comparable timings
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------- building
@pytest.mark.parametrize("backbone, cls", [("dense", ResNetBackbone),
                                           ("sparse", SparseResNetBackbone)])
def test_registry_builds_both_backbones(backbone, cls):
    torch.manual_seed(0)
    net = build(replace(TINY, backbone=backbone))
    assert isinstance(net, MaskRCNN) and isinstance(net.backbone, cls)
    assert net.training_path == "detection" and net.size_multiple == 8
    # the RPN reads the backbone's width; 3 sizes × 5 ratios per position
    assert net.rpn.head.conv.in_channels == 16 and net.rpn.head.objectness.out_channels == 15
    assert net.roi_heads.strides == (8,)
    assert net.roi_heads.box_head.cls_score.out_features == 7  # background + 6 classes
    assert net.roi_heads.mask_head.logits.out_channels == 6
    # the sparse backbone has the dense one's parameters, name for name
    dense = build(TINY)
    assert [k for k, _ in net.named_parameters()] == [k for k, _ in dense.named_parameters()]


def test_default_config_is_the_papers():
    cfg = MaskRCNNConfig()
    assert (cfg.name, cfg.n_classes, cfg.backbone, cfg.adc_threshold) == \
        ("mask_rcnn", 6, "sparse", 10.0)
    assert cfg.class_weights == (1.0, 20.0, 0.0, 0.0, 0.0, 0.0) and cfg.score_threshold == 0.4
    assert min(cfg.aspect_ratios) == 1 / 16 and max(cfg.aspect_ratios) == 16
    assert (cfg.roi_batch_size_per_image, cfg.roi_positive_fraction) == (512, 0.25)
    assert cfg.mask_target == "overlap" and cfg.mask_dilation == 1
    with pytest.raises(LarsegError, match="class_weights"):
        MaskRCNNConfig(class_weights=(1.0, 20.0))
    with pytest.raises(LarsegError, match="anchor_sizes"):
        MaskRCNNConfig(anchor_sizes=((32.0,), (64.0,)))


def test_loss_weights_scale_the_named_terms():
    image, targets = planted()
    torch.manual_seed(0)
    net = build(TINY).train()
    torch.manual_seed(1)
    base = net(image, targets)
    assert tuple(base) == LOSS_TERMS
    scaled = build(replace(TINY, loss_weights=(2.0, 3.0, 0.5, 4.0, 0.0)))
    scaled.load_state_dict(net.state_dict())
    scaled.train()
    torch.manual_seed(1)
    out = scaled(image, targets)
    for k, w in zip(LOSS_TERMS, (2.0, 3.0, 0.5, 4.0, 0.0)):
        assert torch.allclose(out[k], w * base[k], rtol=1e-5, atol=1e-7), k


# ---------------------------------------------------------------------------- training
@pytest.mark.parametrize("backbone, steps", [("dense", 80), ("sparse", 100)])
def test_few_steps_find_the_planted_track(backbone, steps):
    net, totals = train(replace(TINY, backbone=backbone), steps)
    assert all(np.isfinite(totals))
    assert np.mean(totals[-5:]) < 0.3 * np.mean(totals[:5])
    image, targets = planted()
    net.eval()
    with torch.no_grad():
        det, = net(image)
    assert set(det) == {"boxes", "labels", "scores", "masks", "mask_probs"}
    assert len(det["boxes"]) >= 1 and det["masks"].shape == (len(det["boxes"]), H, W)
    s = det["mask_probs"].shape[-1]
    assert det["mask_probs"].shape == (len(det["boxes"]), s, s)
    assert torch.equal(det["masks"], paste_masks(det["mask_probs"], det["boxes"], (H, W)))
    assert bool((det["scores"] > 0.4).all())
    iou = box_iou(det["boxes"], targets[0]["boxes"])[:, 0]
    best = int(iou.argmax())
    assert float(iou[best]) > 0.5 and int(det["labels"][best]) == 0  # a cosmic
    track = targets[0]["masks"][0]
    assert int((det["masks"][best] & track).sum()) > 0.6 * int(track.sum())  # and its pixels


def test_training_is_deterministic():
    _, a = train(TINY, 4)
    _, b = train(TINY, 4)
    assert a == b
    assert a[-1] < a[0]


def test_training_needs_targets_and_eval_handles_an_empty_image():
    torch.manual_seed(0)
    net = build(TINY).train()
    with pytest.raises(ValueError, match="target"):
        net(torch.zeros(1, 1, H, W))
    net.eval()
    with torch.no_grad():
        det, = net(torch.zeros(1, 1, H, W))
    assert all(len(det[k]) == len(det["boxes"]) for k in det)
    assert det["masks"].shape[1:] == (H, W)


def test_validation_forward_gives_losses_and_detections_and_keeps_the_rng():
    net, _ = train(TINY, 40)
    net.eval()
    image, targets = planted()
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    losses, (det,) = net.validation_forward(image, targets)
    after = torch.rand(3)
    assert torch.equal(before, after)  # the validation's sampling did not draw from it
    assert tuple(losses) == LOSS_TERMS and all(torch.isfinite(v) for v in losses.values())
    assert not net.training and not net.rpn.training
    with torch.no_grad():
        plain, = net(image)
    assert torch.equal(det["boxes"], plain["boxes"]) and torch.equal(det["masks"],
                                                                     plain["masks"])


def test_batch_with_padding_clips_to_each_real_size():
    torch.manual_seed(0)
    net = build(TINY).eval()
    image = torch.zeros(2, 1, H, W)
    with torch.no_grad():
        dets = net(image, image_sizes=[(H, W), (48, 64)])
    assert dets[0]["masks"].shape[1:] == (H, W) and dets[1]["masks"].shape[1:] == (48, 64)
    with pytest.raises(ValueError, match="image sizes"):
        net(image, image_sizes=[(H, W)])


# ------------------------------------------------------------------------- the path
@pytest.fixture(scope="module")
def nu_file(tmp_path_factory):
    from larseg.io import write_events
    from larseg.sim.simulate import SimulationJob, simulate_event

    job = SimulationJob("microboone", "cosmics+neutrino", seed=21)
    path = tmp_path_factory.mktemp("mask_rcnn") / "cosmics_nu.h5"
    write_events(path, [simulate_event(job, i) for i in range(5)])
    return path


def path_config(nu_file, **data):
    """A real training config of the shapes the trainer passes (its model union and target
    names are the lead's to extend: see the report)."""
    from larseg.train.trainer import DataConfig, LossConfig, TrainingConfig

    model = replace(TINY, return_strides=(8,), anchor_sizes=((16.0, 64.0, 256.0),))
    fields = dict(train=str(nu_file), validation=str(nu_file), planes=(2,),
                  target="instances", downsample=1, crop=(128, 192), seed=3)
    fields.update(data)
    return TrainingConfig(model=model, data=DataConfig(**fields),
                          loss=LossConfig(scheme="none"))


def test_detection_path_trains_and_validates_on_simulated_crops(nu_file):
    from larseg.train.detection_path import DetectionPath, class_counts

    cfg = path_config(nu_file)
    path = DetectionPath(cfg)
    train_ds = path.dataset(cfg.data.train, "train", training=True)
    held_out = path.dataset(cfg.data.validation, "validation", training=False)
    # the paper's 80 / 20 split of one sample: 4 events train (10 crops each), 1 held out
    assert len(train_ds) == 40 and len(held_out) == 1
    assert not set(train_ds.events.tolist()) & set(held_out.events.tolist())
    counts = class_counts(train_ds, 10)
    assert counts[0] > 0 and counts.sum() > 0  # cosmics in every window of a cosmic readout
    torch.manual_seed(0)
    net = build(cfg.model)
    batch = path.collate([train_ds[0], train_ds[1]])
    assert batch["image"].shape == (2, 1, 128, 192)
    net.train()
    out = path.forward(net, batch, torch.device("cpu"))
    named = path.loss(None, out, batch, path.weights(batch, "cpu"), "cpu")
    assert tuple(named) == LOSS_TERMS and all(torch.isfinite(v) for v in named.values())
    sum(named.values()).backward()
    net.eval()
    batch = path.collate([held_out[0]])
    out = path.forward(net, batch, torch.device("cpu"))
    truth, pred, active = path.predictions(out, batch)
    n_truths = sum(int((batch["image"][0, 0][m] > 10).any()) for m in batch["targets"][0]["masks"])
    assert len(truth) == len(pred) == n_truths and bool(active.all())
    assert set(pred.tolist()) <= set(range(6)) | {-1}


def test_detection_path_trains_on_whole_images(nu_file):
    """data.crop null: one item per event, the whole collection plane (the paper trained on
    crops and on full images, Sec. II.A); the other paths refuse it with the key's name."""
    from larseg.train.detection_path import DetectionPath
    from larseg.train.paths import path_for

    cfg = path_config(nu_file, crop=None)
    path = DetectionPath(cfg)
    train_ds = path.dataset(cfg.data.train, "train", training=True)
    assert len(train_ds) == 4  # the 80 % of 5 events, one whole image each
    batch = path.collate([train_ds[0]])
    assert batch["image"].shape == (1, 1, 1008, 3456)
    torch.manual_seed(0)
    net = build(cfg.model).train()
    named = path.loss(None, path.forward(net, batch, torch.device("cpu")), batch,
                      path.weights(batch, "cpu"), "cpu")
    assert all(torch.isfinite(v) for v in named.values())
    from larseg.models.uresnet import UResNetConfig

    dense = replace(cfg, model=UResNetConfig(), data=replace(cfg.data, target="cosmic"))
    with pytest.raises(LarsegError, match="data.crop is null"):
        path_for(build(dense.model), dense)


def test_detection_path_checks_its_data_settings(nu_file):
    from larseg.train.detection_path import DetectionPath

    with pytest.raises(LarsegError, match="one plane"):
        DetectionPath(path_config(nu_file, planes=(0, 2)))
    with pytest.raises(LarsegError, match="full-resolution"):
        DetectionPath(path_config(nu_file, downsample=2))
    path = DetectionPath(path_config(nu_file, validation=""))
    assert len(path.dataset(str(nu_file), "train", training=True)) == 50  # no split: all 5
    with pytest.raises(LarsegError, match="does not exist"):
        path.dataset(str(nu_file) + ".missing", "train", training=True)


def test_shipped_config_is_a_valid_mask_rcnn_config(tmp_path):
    """larseg/configs/mask_rcnn.yaml: its model section is a MaskRCNNConfig (unknown keys and
    bad types are errors), its data section the trainer's with the target ``instances``, and
    the path accepts it."""
    from larseg.train.config import load_config
    from larseg.train.detection_path import DetectionPath
    from larseg.train.trainer import DataConfig, LossConfig, TrainingConfig

    text = yaml.safe_load((Path(larseg.__file__).parent / "configs" / "mask_rcnn.yaml")
                          .read_text())
    assert set(text) == {"model", "data", "loss", "optim", "train", "eval"}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(text["model"]))
    model = load_config(tmp_path / "model.yaml", MaskRCNNConfig)
    assert model.name == "mask_rcnn" and model.backbone == "sparse"
    assert model.class_weights[0] == 1.0 and model.class_weights[2:] == (0.0,) * 4
    assert 15.0 <= model.class_weights[1] <= 25.0  # the training set's cosmic / neutrino ratio
    data = dict(text["data"])
    assert data.pop("target") == "instances"
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    data_cfg = load_config(tmp_path / "data.yaml", DataConfig)
    assert data_cfg.crop == (512, 832) and data_cfg.planes == (2,)
    assert data_cfg.validation == data_cfg.train  # the paper's 80 / 20 split of one sample
    assert text["loss"] == {"scheme": "none"}
    DetectionPath(TrainingConfig(model=model, data=replace(data_cfg, target="instances"),
                                 loss=LossConfig(scheme="none")))


def _detection_registered() -> bool:
    from larseg.train.paths import PATHS

    return "detection" in PATHS


@pytest.mark.skipif(not _detection_registered(),
                    reason="the trainer's PATHS has no 'detection' entry yet (lead's line)")
def test_trainer_runs_and_resumes_exactly(nu_file, tmp_path):
    """Through the shared trainer: 4 steps in one go equal 3 steps, a stop, and a resume
    (checkpoint every 2 steps), validation included."""
    from larseg.train import trainer

    base = path_config(nu_file, validation_events=1)
    cfg = replace(base, model=replace(base.model, backbone="sparse"),
                  optim=trainer.OptimConfig(name="adam", lr=1e-3),
                  train=trainer.RunConfig(steps=4, checkpoint_every=2, validate_every=2))
    whole = trainer.train(cfg, tmp_path / "whole")

    class Stop(Exception):
        pass

    def stop(row):
        if row["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        trainer.train(cfg, tmp_path / "parts", on_step=stop)
    resumed = trainer.train(cfg, tmp_path / "parts", resume=True)
    assert set(LOSS_TERMS) <= set(whole) and np.isfinite(whole["val_loss"])
    assert resumed == whole


def test_trainer_transfers_a_dense_runs_backbone_into_the_sparse_one(nu_file, tmp_path):
    """model.init_from (the paper's Sec. II.B transfer): a dense run trained through the
    trainer, then a sparse run that starts from its backbone: before any step the sparse
    backbone gives the dense one's maps on a fully active image, the heads start where a run
    without the transfer starts, and the record names the file; weights of the sparse network
    itself fine-tune the whole of it."""
    import json

    from larseg.train import trainer
    from larseg.weights.loading import sha256_of

    base = path_config(nu_file, validation_events=1)
    run = trainer.RunConfig(steps=2, checkpoint_every=2)
    dense_cfg = replace(base, optim=trainer.OptimConfig(name="adam", lr=1e-3), train=run)
    trainer.train(dense_cfg, tmp_path / "dense")
    weights = tmp_path / "dense" / "model.safetensors"

    sparse_cfg = replace(dense_cfg, model=replace(base.model, backbone="sparse",
                                                  init_from=str(weights)),
                         train=replace(run, steps=1))
    moved = trainer._Trainer(sparse_cfg, tmp_path / "sparse", torch.device("cpu"), 0, 1)
    record = trainer.init_from(moved.model, sparse_cfg)
    assert record["file"] == str(weights) and record["sha256"] == sha256_of(weights)
    dense = build(dense_cfg.model)
    from larseg.train.evaluate import load_weights

    load_weights(dense, weights)
    dense.eval()
    moved.model.eval()
    assert record["tensors"] == len(dense.backbone.state_dict())
    # on a fully active image (every pixel above the threshold) the sparse backbone computes
    # what the dense one does (.backbones' module docstring), so the transfer shows as equality
    image = 15.0 + 80.0 * torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = dense.backbone(image), moved.model.backbone(image)
    for key in want:
        np.testing.assert_allclose(got[key].numpy(), want[key].numpy(), atol=1e-4)
    # the heads are not transferred: they equal a fresh sparse model's (the trainer seeds both)
    fresh = trainer._Trainer(replace(sparse_cfg, model=replace(sparse_cfg.model, init_from="")),
                             tmp_path / "fresh", torch.device("cpu"), 0, 1)
    for (k, a), (_, b) in zip(moved.model.roi_heads.state_dict().items(),
                              fresh.model.roi_heads.state_dict().items()):
        assert torch.equal(a, b), k
    # through train(): the record is written into the run
    trainer.train(sparse_cfg, tmp_path / "sparse_run")
    saved = json.loads((tmp_path / "sparse_run" / "init_from.json").read_text())
    assert saved["sha256"] == record["sha256"] and saved["tensors"] == record["tensors"]
    # weights of the model's own backbone: fine-tuning, every tensor of the network taken
    sparse_weights = tmp_path / "sparse_run" / "model.safetensors"
    tuned = trainer._Trainer(sparse_cfg, tmp_path / "tuned", torch.device("cpu"), 0, 1)
    record = trainer.init_from(tuned.model, replace(sparse_cfg, model=replace(
        sparse_cfg.model, init_from=str(sparse_weights))))
    assert record["tensors"] == len(tuned.model.state_dict())
    source = build(sparse_cfg.model)
    load_weights(source, sparse_weights)
    for (k, a), (_, b) in zip(tuned.model.state_dict().items(), source.state_dict().items()):
        assert torch.equal(a, b), k
    # a sparse run's backbone has no way into a dense one
    with pytest.raises(LarsegError, match="model.init_from .*initialises a sparse backbone; "
                                          "this model's is dense"):
        trainer.init_from(moved.model, replace(dense_cfg, model=replace(
            dense_cfg.model, init_from=str(sparse_weights))))
    with pytest.raises(LarsegError, match="model.init_from 'cosmic_tagger': not mask_rcnn weights"):
        trainer.init_from(moved.model, replace(sparse_cfg, model=replace(
            sparse_cfg.model, init_from="cosmic_tagger")))
