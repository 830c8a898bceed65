"""Run trained weights over a file and write the per-pixel predictions into a larcv3 file.

The output holds the input's events (ADC, labels where the input has them) plus, on the same
voxels, sparse2d products ``pred_<target>`` (the predicted class) and
``pred_<target>_score_<class>`` (the softmax score of each class). The network runs at the config's
resolution (``data.downsample``); each full-resolution voxel takes the prediction of the pooled
pixel it falls in. Writing is atomic and resumable exactly like ``larseg simulate``
(:func:`larseg.io.jobs.write_job`: ``.partial``, commit markers, job identity = weights' sha256 +
input file + config; SIGINT/SIGTERM stop at the next event with what is complete kept; a finished
output of the same job is left untouched).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..errors import LarsegError
from .config import config_to_dict
from .trainer import TrainingConfig, size_multiple


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
            on_event=None) -> int:
    """Predict every event of ``data`` into ``output``; returns the events in the output."""
    from ..data.targets import CLASS_NAMES
    from ..io import open_events, prepare_event, producers_for_detector
    from ..io.jobs import write_job
    from ..io.convert import values_product
    from ..models import build
    from .evaluate import _padded_forward, load_weights

    weights = Path(weights)
    model = build(cfg.model)
    load_weights(model, weights)
    model.eval()
    events = open_events(data)
    names = list(CLASS_NAMES[cfg.data.target])
    class_producer, score_producers = prediction_producers(cfg.data.target, names)
    identity = {"kind": "predict", "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                "input": str(Path(data).resolve()),
                "config": json.dumps(config_to_dict(cfg), sort_keys=True)}
    detector = events[0].detector.name if len(events) else "unknown"
    producers = getattr(events, "producers", None) or producers_for_detector(
        detector if detector != "unknown" else "microboone")
    ds_factor, pool = cfg.data.downsample, cfg.data.pool

    def produce(indices: range, stop):
        for i in indices:
            if stop:
                return
            ev = events[i]
            prepared = prepare_event(ev, producers)
            by_plane = {img.plane: img for img in ev.planes}
            missing = [p for p in cfg.data.planes if p not in by_plane]
            if missing:
                raise LarsegError(f"file {data}, event {ev.tag}: no plane {missing[0]}, "
                                  f"which the config's data.planes needs")
            image = torch.from_numpy(np.stack([pooled_image(by_plane[p], ds_factor, pool)
                                               for p in cfg.data.planes]))[None]
            with torch.no_grad():
                logits = _padded_forward(model, image, size_multiple(model))
            prob = torch.softmax(logits, dim=2)[0].numpy()  # (P, C, H', W')
            scores = {}
            for k, p in enumerate(cfg.data.planes):
                img = by_plane[p]
                scores[p] = prob[k][:, img.coords[:, 0] // ds_factor, img.coords[:, 1] // ds_factor]
            prepared.sparse2d[class_producer] = [
                values_product(by_plane[p], scores[p].argmax(axis=0)) for p in cfg.data.planes]
            for j, prod in enumerate(score_producers):
                prepared.sparse2d[prod] = [values_product(by_plane[p], scores[p][j])
                                           for p in cfg.data.planes]
            yield prepared

    return write_job(output, len(events), producers=producers, identity=identity,
                     produce=produce, on_event=on_event).total


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
