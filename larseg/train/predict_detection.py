"""``larseg predict`` for sMask-RCNN (a model whose ``training_path`` is "detection"): the
predicted instances of every event as a larcv3 cluster2d, their class, score and box as a
particle product of the same producer, and :func:`read_instances` to read them back.

The network's input is the evaluator's (:mod:`larseg.train.evaluate_detection`): the config's
plane (``data.planes``, one entry: the collection plane) at full resolution, the ADC below the
model's ``adc_threshold`` (10) set to 0, made by the instance data's own :func:`~larseg.data.
instances.cut`; the eval-mode forward is the evaluator's :func:`~larseg.train.evaluate_detection.
detect`, on the CPU in fp32. The input's truth labels are not needed (a larcv1 ROOT file of ADC
images will do). The detections are those above the model's ``score_threshold`` (0.4, the
paper's, Sec. III.A; ``--set model.score_threshold=...`` changes it).

The output holds the input's events (as every ``larseg predict`` writes them) plus, with producer
:data:`PRODUCER` (``pred_instances``):

- cluster2d: one projection per plane of the input, in the input's order and with its image
  meta, each holding one cluster per detection (cluster k = detection k, by decreasing score).
  The clusters of the detector's plane hold the pixels of the detection's pasted
  full-resolution mask (binarised at the model's ``mask_threshold``, 0.5) that have ADC >=
  ``adc_threshold``, i.e. the non-zero pixels of the network's input (the paper's metrics count
  only pixels above 10 ADC), each voxel's value the mask probability of the 28 × 28 cell the
  pixel was pasted from (so every value is above 0.5). The clusters of the other planes are
  empty: cluster k is detection k in every projection, as larcv's clusters index particles.
- particle: one row per detection, in the clusters' order: ``id`` = k;
  ``interaction_type`` = the :class:`~larseg.labels.InstanceClass` index (the paper's classes
  are the type of each ancestor interaction); ``process`` = its name
  (:data:`~larseg.metrics.instances.INSTANCE_NAMES`: cosmic, neutrino, proton, electron,
  neutron, other); ``energy_init`` = the score (larcv's particle has no score field); ``first_step``
  (x, y) = the box's (x1, y1) and ``last_step`` (x, y) = its (x2, y2), in pixels of the plane
  (x = wire, y = time row; end-exclusive, as :mod:`larseg.data.instances`), z = that plane's
  projection id in both. The other fields keep larcv's ``Particle()`` defaults.

The mask probabilities are the model's own: the detections' ``mask_probs``, the maps the
pasted masks were cut from (:meth:`~larseg.models.detection.roi_heads.RoIHeads.detect`). Writing is
:func:`larseg.io.jobs.write_job`'s, as for every network (``.partial``, commits, the job's
identity = weights' sha256 + input file + config [+ event range], SIGINT/SIGTERM stop after the
event in progress, a finished output of the same job is left untouched).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..errors import LarsegError
from ..metrics.instances import INSTANCE_NAMES

#: producer of the cluster2d and particle products of the predicted instances
PRODUCER = "pred_instances"


@dataclass(frozen=True, eq=False)
class InstanceRecord:
    """One predicted instance: what the products of one cluster and its particle row hold."""

    label: int                                  # InstanceClass index
    name: str                                   # its name (metrics.instances.INSTANCE_NAMES)
    score: float
    box: tuple[float, float, float, float]      # x1, y1, x2, y2 (wire, row), end-exclusive
    plane: int                                  # projection id of the plane it is on
    coords: np.ndarray = field(repr=False)      # (N, 2) int64 (row, wire), by larcv voxel id
    probability: np.ndarray = field(repr=False)  # (N,) float32 mask probability per pixel


# ----------------------------------------------------------------------- the network
def network_input(img, min_adc: float) -> torch.Tensor:
    """(1, H, W) float32 image of one plane with the ADC below ``min_adc`` set to 0: the
    instance data's :func:`~larseg.data.instances.cut` of the whole plane, the item the
    evaluator's dataset gives (without needing the truth labels)."""
    from ..data.instances import PlaneInstances, cut

    keep = img.values >= min_adc
    n = int(keep.sum())
    pi = PlaneInstances(tag="", category="", shape=img.meta.shape,
                        coords=img.coords[keep].astype(np.int64), values=img.values[keep],
                        instance=np.full(n, -1, np.int64), classes=np.zeros(0, np.int64),
                        group=np.zeros(0, np.int64))
    image, _ = cut(pi, (0, 0), img.meta.shape)
    return image


def instance_records(det: dict, img, min_adc: float) -> list[InstanceRecord]:
    """The records of one image's detections (the evaluator's :func:`~larseg.train.
    evaluate_detection.detect`, with the mask head's ``mask_probs``) on plane image ``img``: each
    mask's pixels with ADC >= ``min_adc``, sorted by larcv voxel id, with their cells' mask
    probabilities."""
    from ..io.convert import voxel_ids
    from ..models.detection.roi_inference import mask_cell  # the cell paste_masks reads a pixel from

    _, order = voxel_ids(img)                        # the pixels in larcv's voxel order
    order = order[img.values[order] >= min_adc]
    rows = img.coords[order, 0].astype(np.int64)
    wires = img.coords[order, 1].astype(np.int64)
    masks = det["masks"].cpu()
    on = masks[:, torch.from_numpy(rows), torch.from_numpy(wires)].numpy()  # (D, N)
    mask_probs = det["mask_probs"]
    s = mask_probs.shape[-1]
    out = []
    for k in range(len(masks)):
        x1, y1, x2, y2 = (float(v) for v in det["boxes"][k].tolist())
        r, w = rows[on[k]], wires[on[k]]
        i = mask_cell(torch.from_numpy(r).double(), y1, y2, s)
        j = mask_cell(torch.from_numpy(w).double(), x1, x2, s)
        label = int(det["labels"][k])
        out.append(InstanceRecord(
            label=label, name=INSTANCE_NAMES[label], score=float(det["scores"][k]),
            box=(x1, y1, x2, y2), plane=int(img.plane), coords=np.stack([r, w], axis=1),
            probability=mask_probs[k].cpu()[i, j].numpy().astype(np.float32)))
    return out


# ----------------------------------------------------------------------- the products
def instance_products(records: list[InstanceRecord], planes) -> tuple[list, np.ndarray]:
    """(cluster2d projections, particle rows) of one event's records; ``planes`` the event's
    plane images (one projection each, in that order)."""
    from ..io import larcv3_schema as S
    from ..io.convert import larcv_meta
    from ..io.products import Cluster2D

    if len(records) >= S.INVALID_USHORT:
        raise LarsegError(f"{len(records)} detections: larcv's particle id holds fewer than "
                          f"{S.INVALID_USHORT}")
    projections = []
    for img in planes:
        meta = larcv_meta(img.meta)
        clusters = []
        for k, rec in enumerate(records):
            if rec.plane == img.plane:
                ids = meta.index(rec.coords[:, 1], rec.coords[:, 0])  # wire-major voxel ids
                clusters.append((k, ids, rec.probability))
            else:
                clusters.append((k, np.zeros(0, np.uint64), np.zeros(0, np.float32)))
        projections.append(Cluster2D.from_clusters(meta, clusters))
    rows = S.empty_particles(len(records))
    for k, rec in enumerate(records):
        rows[k]["id"] = k
        rows[k]["interaction_type"] = rec.label
        rows[k]["process"] = rec.name.encode("ascii")
        rows[k]["energy_init"] = rec.score
        x1, y1, x2, y2 = rec.box
        rows[k]["first_step"] = (x1, y1, float(rec.plane), 0.0)
        rows[k]["last_step"] = (x2, y2, float(rec.plane), 0.0)
    return projections, rows


def is_instance_product(path: str | Path, producer: str) -> bool:
    """Whether larcv3 file ``path`` holds predicted instances (cluster2d and particle
    ``producer``)."""
    from ..io import Larcv3Reader
    from ..io.root import is_root_file

    if is_root_file(path):
        return False
    with Larcv3Reader(path) as r:
        return r.has_product("cluster2d", producer) and r.has_product("particle", producer)


def read_instances(path: str | Path, entry: int, producer: str = PRODUCER
                   ) -> list[InstanceRecord]:
    """The predicted instances of entry ``entry`` of a ``larseg predict`` output (module doc),
    in the order they were written."""
    from ..io import Larcv3Reader

    with Larcv3Reader(path) as r:
        if not (r.has_product("cluster2d", producer) and r.has_product("particle", producer)):
            raise LarsegError(f"file {path}: no predicted instances '{producer}' (cluster2d "
                              "and particle products of that name)")
        projections = {p.meta.projection_id: p for p in r.read_cluster2d(producer, entry)}
        rows = r.read_particles(producer, entry)
    out = []
    for k, row in enumerate(rows):
        plane = int(row["first_step"]["z"])
        proj = projections.get(plane)
        if proj is None or proj.n_clusters != len(rows) or int(row["id"]) != k:
            raise LarsegError(f"file {path}, entry {entry}: particle {k} of '{producer}' has no "
                              f"cluster {k} on plane {plane}")
        ids, values = proj.cluster(k)
        c = proj.meta.coordinates(ids)  # (wire, row)
        first, last = row["first_step"], row["last_step"]
        out.append(InstanceRecord(
            label=int(row["interaction_type"]), name=bytes(row["process"]).decode("ascii"),
            score=float(row["energy_init"]),
            box=(float(first["x"]), float(first["y"]), float(last["x"]), float(last["y"])),
            plane=plane, coords=np.stack([c[:, 1], c[:, 0]], axis=1),
            probability=np.asarray(values, np.float32)))
    return out


# ----------------------------------------------------------------------- the job
def predict_detection(cfg, model, weights: Path, data: str | Path, output: str | Path,
                      on_event=None, events_range: tuple[int, int] | None = None,
                      overwrite: bool = False) -> int:
    """Predict the instances of every event of ``data`` (or of ``events_range`` = (first, n))
    into ``output`` with the loaded ``model``; returns the events in the output."""
    from ..io import open_events, prepare_event
    from ..io.jobs import write_job
    from .evaluate_detection import detect
    from .predict import job_identity, output_producers

    if len(cfg.data.planes) != 1:
        raise LarsegError(f"data.planes: sMask-RCNN predicts on one plane, got "
                          f"{list(cfg.data.planes)} (the paper's: [2], the collection plane)")
    plane = int(cfg.data.planes[0])
    min_adc = float(getattr(cfg.model, "adc_threshold", 10.0))
    model.cpu().eval()
    events = open_events(data)
    identity, first, n_events = job_identity(cfg, weights, data, len(events), events_range)
    producers = output_producers(events)

    def produce(indices: range, stop):
        for i in indices:
            if stop:
                return
            ev = events[first + i]
            prepared = prepare_event(ev, producers)
            img = next((p for p in ev.planes if p.plane == plane), None)
            if img is None:
                raise LarsegError(f"file {data}, event {ev.tag}: no plane {plane}, which the "
                                  "config's data.planes needs")
            det = detect(model, network_input(img, min_adc))
            clusters, rows = instance_products(instance_records(det, img, min_adc),
                                               ev.planes)
            prepared.cluster2d[PRODUCER] = clusters
            prepared.particles[PRODUCER] = rows
            yield prepared

    return write_job(output, n_events, producers=producers, identity=identity,
                     produce=produce, on_event=on_event, overwrite=overwrite).total


__all__ = ["InstanceRecord", "PRODUCER",
           "instance_products", "instance_records",
           "is_instance_product", "network_input", "predict_detection", "read_instances"]
