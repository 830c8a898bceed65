"""Run trained weights over a file and write the per-pixel predictions into a larcv3 file.

The output holds the input's events (ADC, labels where the input has them) plus, on the same
voxels, sparse2d products ``pred_<target>`` (the predicted class) and
``pred_<target>_score_<class>`` (the softmax score of each class). The network runs at the config's
resolution (``data.downsample``); each full-resolution voxel takes the prediction of the pooled
pixel it falls in. A sparse network (SparseSSNet) sees only the pixels inside its input mask
(``model.adc_min`` ≤ ADC ≤ ``model.adc_max``, note 1091's 10-300 ADC), the whole image in one
pass; the products still cover every voxel of the input, so that they align with its ADC (and
``larseg display --prediction`` overlays them): a voxel outside the mask has class -1 and score
0 for every class (its scores do not sum to 1). Writing is atomic and resumable exactly like
``larseg simulate`` (:func:`larseg.io.jobs.write_job`: ``.partial``, commit markers, job
identity = weights' sha256 + input file + config; SIGINT/SIGTERM stop at the next event with
what is complete kept; a finished output of the same job is left untouched).

SSNet (its ``training_path`` "ssnet") runs on whole planes by tiles of its ``data.crop``
(:mod:`larseg.train.tiling`). Its ``pred_<target>`` holds the predicted class in the target's
encoding, as for every network (:data:`SSNET_PREDICTION_CODES`: for ``ssnet`` the categories
background 0, track 2, shower 3, the edge band never predicted; for ``track_shower`` track 0,
shower 1 and -1 for background), and there is a score product for each of its three outputs
(background, track, shower).

sMask-RCNN (its ``training_path`` "detection") writes instances instead, a cluster2d and a
particle product ``pred_instances``: :mod:`larseg.train.predict_detection`.

:func:`predict_sharded` (``larseg predict --ray``) cuts the input's events into blocks, one Ray
task each writing ``OUTPUT/shard-KKKKK.h5`` with :func:`predict`, and ``OUTPUT/manifest.json``
lists the shards in event order: read in that order they are the single-machine output event by
event (tests/test_predict_ray.py). Every Ray worker must see the weights and the input file at
the same path (a shared file system on a cluster).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..errors import LarsegError
from .config import config_to_dict
from .paths import input_kind
from .trainer import TrainingConfig, size_multiple


#: the value ``pred_<target>`` holds for SSNet's predicted background, track and shower, per
#: target (its encoding, :mod:`larseg.data.targets`)
SSNET_PREDICTION_CODES = {"ssnet": (0, 2, 3), "track_shower": (-1, 0, 1)}


def display_labels(target: str, pred: list[np.ndarray]) -> tuple[str, list[np.ndarray]]:
    """(label field, int64 arrays) that draw a prediction of ``target`` (a class product, NaN =
    no prediction) as the display's label fields do: SSNet's ``ssnet`` categories (background
    0, track 2, shower 3) as ``track_shower`` (track 0, shower 1, -1 elsewhere); the others as
    they are (-1 where NaN)."""
    out = [np.where(np.isnan(p), -1, p).astype(np.int64) for p in pred]
    if target != "ssnet":
        return target, out
    table = np.array([-1, -1, 0, 1], dtype=np.int64)  # background, edge band, track, shower
    return "track_shower", [np.where(p >= 0, table[np.clip(p, 0, 3)], -1) for p in out]


def pooled_image(img, factor: int, pool: str = "mean") -> np.ndarray:
    """Dense (rows / factor, wires / factor) float32 image, the ADC of factor² pixels pooled as
    the training data's ``data.pool`` (sum, mean = sum / factor², or max)."""
    h, w = -(-img.meta.n_ticks // factor), -(-img.meta.n_wires // factor)
    out = np.zeros((h, w), dtype=np.float32)
    at = (img.coords[:, 0] // factor, img.coords[:, 1] // factor)
    if pool == "max":
        np.maximum.at(out, at, img.values)
        return out
    np.add.at(out, at, img.values)
    return out / factor**2 if pool == "mean" else out


def prediction_producers(target: str, class_names) -> tuple[str, list[str]]:
    """(class producer, score producers) of a target."""
    base = f"pred_{target}"
    return base, [f"{base}_score_{n.replace(' ', '_')}" for n in class_names]


def predict(cfg: TrainingConfig, weights: str | Path, data: str | Path, output: str | Path,
            on_event=None, events_range: tuple[int, int] | None = None,
            device: str = "cpu", overwrite: bool = False) -> int:
    """Predict every event of ``data`` into ``output``; returns the events in the output
    (``overwrite``: replace an ``output`` of another job instead of refusing it).

    ``events_range`` = (first, n): only input events first … first + n - 1 (one shard of
    :func:`predict_sharded`); the range is part of the job's identity. ``device`` (cpu, cuda,
    auto) runs a dense network there (sparse networks run on the CPU: larseg's spconv wheel is
    the CPU build)."""
    from ..data.targets import CLASS_NAMES
    from ..io import open_events, prepare_event
    from ..io.jobs import write_job
    from ..io.convert import values_product
    from ..models import build
    from ..models.ssnet import SSNET_CLASSES
    from ..weights import resolve_weights
    from .evaluate import load_weights
    from .tiling import tiling_for

    weights = resolve_weights(weights)
    from .paths import input_kind, path_kind
    from .runtime import resolve_device

    model = build(cfg.model)
    load_weights(model, weights)
    if path_kind(model) == "detection":  # sMask-RCNN: instances as cluster2d, on the CPU
        from .predict_detection import predict_detection

        return predict_detection(cfg, model, weights, data, output, on_event, events_range,
                                 overwrite=overwrite)
    if input_kind(model) == "dense":
        model.to(resolve_device(device))
        if cfg.train.channels_last:  # as trained (SSNet: 1.7x faster on this CPU)
            model.to(memory_format=torch.channels_last)
    model.eval()
    events = open_events(data)
    ssnet = path_kind(model) == "ssnet"
    if ssnet and cfg.data.target not in SSNET_PREDICTION_CODES:
        raise LarsegError(f"data.target '{cfg.data.target}': SSNet predicts for the "
                          f"{' or '.join(SSNET_PREDICTION_CODES)} target")
    names = list(SSNET_CLASSES if ssnet else CLASS_NAMES[cfg.data.target])
    class_producer, score_producers = prediction_producers(cfg.data.target, names)
    identity, first, n_events = job_identity(cfg, weights, data, len(events), events_range)
    if ssnet:  # the tiling shapes the predictions, so it is part of the job
        identity["tiling"] = json.dumps(asdict(tiling_for(cfg)), sort_keys=True)
    producers = output_producers(events)
    score_event = sparse_scores if input_kind(model) == "sparse" else _dense_scores
    if ssnet:
        score_event = ssnet_scores

    def produce(indices: range, stop):
        for i in indices:
            if stop:
                return
            ev = events[first + i]
            prepared = prepare_event(ev, producers)
            by_plane = {img.plane: img for img in ev.planes}
            missing = [p for p in cfg.data.planes if p not in by_plane]
            if missing:
                raise LarsegError(f"file {data}, event {ev.tag}: no plane {missing[0]}, "
                                  f"which the config's data.planes needs")
            classes, scores = score_event(model, cfg, by_plane)
            prepared.sparse2d[class_producer] = [values_product(by_plane[p], classes[p])
                                                 for p in cfg.data.planes]
            for j, prod in enumerate(score_producers):
                prepared.sparse2d[prod] = [values_product(by_plane[p], scores[p][j])
                                           for p in cfg.data.planes]
            yield prepared

    return write_job(output, n_events, producers=producers, identity=identity,
                     produce=produce, on_event=on_event, overwrite=overwrite).total


def _dense_scores(model, cfg: TrainingConfig, by_plane: dict, forward=None
                  ) -> tuple[dict, dict]:
    """(class (N,), scores (C, N)) on every pixel of each plane of ``cfg.data.planes``: the
    whole pooled image through the dense network (``forward(model, image)``, default one
    zero-padded pass), each pixel taking its pooled pixel's."""
    from .evaluate import _padded_forward

    f, pool = cfg.data.downsample, cfg.data.pool
    image = torch.from_numpy(np.stack([pooled_image(by_plane[p], f, pool)
                                       for p in cfg.data.planes]))[None]
    device = next(model.parameters()).device
    from .runtime import autocast

    with torch.no_grad(), autocast(cfg.eval.precision, device):
        logits = (forward(model, image.to(device)) if forward is not None
                  else _padded_forward(model, image.to(device), size_multiple(model))).float()
    prob = torch.softmax(logits, dim=2)[0].cpu().numpy()  # (P, C, H', W')
    scores = {}
    for k, p in enumerate(cfg.data.planes):
        img = by_plane[p]
        scores[p] = prob[k][:, img.coords[:, 0] // f, img.coords[:, 1] // f]
    return {p: s.argmax(axis=0) for p, s in scores.items()}, scores


def ssnet_scores(model, cfg: TrainingConfig, by_plane: dict) -> tuple[dict, dict]:
    """As :func:`_dense_scores`, each whole plane by tiles of ``data.crop``
    (:func:`larseg.train.tiling.tiled_forward` with :func:`~larseg.train.tiling.tiling_for`),
    the classes in the target's encoding (:data:`SSNET_PREDICTION_CODES`), the scores SSNet's
    (background, track, shower); a pixel below ``model.adc_threshold`` (the network's input
    mask, :func:`larseg.models.ssnet.ssnet_input`) gets class -1 and scores 0, as a sparse
    network's pixels outside its mask."""
    from .tiling import tiled_forward, tiling_for

    codes = np.asarray(SSNET_PREDICTION_CODES[cfg.data.target], dtype=np.int64)
    tiling = tiling_for(cfg)
    classes, scores = _dense_scores(model, cfg, by_plane,
                                    lambda m, x: tiled_forward(m, x, tiling))
    threshold = float(getattr(cfg.model, "adc_threshold", 0.0))
    f = cfg.data.downsample
    out = {}
    for p, c in classes.items():
        out[p] = codes[c]
        img = by_plane[p]  # hidden: its pooled pixel, as the network saw it, is below the mask
        hidden = pooled_image(img, f, cfg.data.pool)[img.coords[:, 0] // f,
                                                     img.coords[:, 1] // f] < threshold
        out[p][hidden] = -1
        scores[p][:, hidden] = 0.0
    return out, scores


def sparse_scores(model, cfg: TrainingConfig, by_plane: dict) -> tuple[dict, dict]:
    """(class (N,), scores (C, N)) on every pixel of each plane of ``cfg.data.planes`` from a
    sparse network: the plane pooled as in training (``data.downsample``, ``data.pool``), the
    input mask applied (``model.adc_min`` / ``adc_max``), the whole image in one pass; a pixel
    takes its pooled pixel's scores, or class -1 and scores 0 where that is outside the mask."""
    from ..data import AdcMask, PlaneArrays, downsample_plane
    from ..models.sparse import SparseTensor
    from .evaluate_sparse import input_mask

    f, pool = cfg.data.downsample, cfg.data.pool
    mask = AdcMask(*input_mask(cfg))
    inputs, kept = [], []
    for p in cfg.data.planes:
        img = by_plane[p]
        # pooled, then masked, as the trainer's sparse dataset does
        pa = mask.apply_plane(downsample_plane(
            PlaneArrays(img.plane, img.meta.shape, img.coords, img.values), f, pool))
        kept.append((pa.coords, pa.shape))
        inputs.append(SparseTensor.from_pixels(torch.from_numpy(pa.coords),
                                               torch.from_numpy(pa.values), pa.shape))
    from .runtime import autocast

    with torch.no_grad(), autocast(cfg.eval.precision, torch.device("cpu")):
        prob = [torch.softmax(x.float(), dim=1).numpy() for x in model(inputs)]
    classes, scores = {}, {}
    for (coords, shape), pr, p in zip(kept, prob, cfg.data.planes):
        img = by_plane[p]
        pos = _rows_of(coords, img.coords // f, shape[1])
        hit = pos >= 0
        classes[p] = np.full(len(img), -1, dtype=np.int64)
        classes[p][hit] = pr[pos[hit]].argmax(axis=1)
        scores[p] = np.zeros((pr.shape[1], len(img)), dtype=np.float32)
        scores[p][:, hit] = pr[pos[hit]].T
    return classes, scores


def _rows_of(table: np.ndarray, coords: np.ndarray, n_cols: int) -> np.ndarray:
    """For each (row, column) of ``coords``, its row in ``table`` ((M, 2), unique), or -1."""
    keys = table[:, 0].astype(np.int64) * n_cols + table[:, 1]
    order = np.argsort(keys, kind="stable")
    want = coords[:, 0].astype(np.int64) * n_cols + coords[:, 1]
    pos = np.searchsorted(keys[order], want)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    out = np.full(len(want), -1, dtype=np.int64)
    if len(keys):
        hit = keys[order][pos] == want
        out[hit] = order[pos[hit]]
    return out


def read_prediction(path: str | Path, producer: str, entry: int, event) -> list[np.ndarray]:
    """The values of prediction product ``producer`` at the pixels of each plane of ``event``
    (entry ``entry`` of ``path``); NaN where a pixel has none."""
    from ..io import Larcv3Reader
    from ..io.convert import values_on_pixels

    reader = Larcv3Reader(path)
    try:
        projs = {p.meta.projection_id: p for p in reader.read_sparse2d(producer, entry)}
    finally:
        reader.close()
    if not projs:
        raise LarsegError(f"file {path}, entry {entry}: product '{producer}' is empty")
    out = []
    for img in event.planes:
        proj = projs.get(img.plane)
        out.append(values_on_pixels(img, proj) if proj is not None
                   else np.full(len(img), np.nan, np.float32))
    return out


def output_producers(events):
    """The producer names a prediction output keeps the input's products under: the input
    file's own, else its detector's defaults (MicroBooNE's for an empty file)."""
    from ..io import producers_for_detector

    detector = events[0].detector.name if len(events) else "unknown"
    return getattr(events, "producers", None) or producers_for_detector(
        detector if detector != "unknown" else "microboone")


def job_identity(cfg: TrainingConfig, weights, data, n_input: int,
                 events_range: tuple[int, int] | None) -> tuple[dict, int, int]:
    """(identity, first event, number of events) of a prediction job: the weights' sha256, the
    input file and the resolved config (and the event range, when one is given), which a
    resumed or rerun output must match (:func:`larseg.io.jobs.write_job`)."""
    from ..weights.loading import sha256_of

    identity = {"kind": "predict", "weights_sha256": sha256_of(weights),
                "input": str(Path(data).resolve()),
                "config": json.dumps(config_to_dict(cfg), sort_keys=True)}
    first, n_events = 0, n_input
    if events_range is not None:
        first, n_events = _checked_range(events_range, n_input, data)
        identity["events"] = [first, first + n_events]
    return identity, first, n_events


def _checked_range(events_range: tuple[int, int], n_input: int, data) -> tuple[int, int]:
    first, n = (int(v) for v in events_range)
    if first < 0 or n < 0 or first + n > n_input:
        raise LarsegError(f"file {data} has {n_input} events: no events {first} … "
                          f"{first + n - 1}")
    return first, n


def _predict_shard(cfg: TrainingConfig, weights: str, data: str, path: str, first: int,
                   n: int) -> dict:
    torch.set_num_threads(1)  # one CPU per Ray task
    total = predict(cfg, weights, data, path, events_range=(first, n))
    return {"file": Path(path).name, "first_event": first, "n_events": total}


def predict_sharded(cfg: TrainingConfig, weights: str | Path, data: str | Path,
                    output: str | Path, *, shard_size: int = 100, address: str | None = None,
                    num_cpus: int | None = None) -> Path:
    """Predict every event of ``data`` on Ray (``address``: a running cluster, or None /
    "local" for a local instance with ``num_cpus`` CPUs), a shard file per block of
    ``shard_size`` events in the directory ``output``; returns the manifest's path. Rerunning
    leaves finished shards as they are and resumes interrupted ones."""
    from ..io import open_events
    from ..shards import run_on_ray, shard_dir, shard_ranges, write_manifest
    from ..weights import resolve_weights
    from ..weights.loading import sha256_of

    weights = resolve_weights(weights).resolve()
    data = Path(data).resolve()
    out = shard_dir(output)
    n_events = len(open_events(data))
    calls = [(cfg, str(weights), str(data), str((out / f"shard-{k:05d}.h5").resolve()), first, n)
             for k, (first, n) in enumerate(shard_ranges(n_events, shard_size))]
    shards = run_on_ray(_predict_shard, calls, address, num_cpus)
    return write_manifest(out, {
        "kind": "predict", "weights": str(weights), "weights_sha256": sha256_of(weights),
        "input": str(data), "config": config_to_dict(cfg), "n_events": n_events,
        "shard_size": shard_size, "shards": shards})
