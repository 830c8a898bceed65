"""What an event display shows, independent of how it is drawn (matplotlib or plotly).

Resolves the panels (ADC, label fields, prediction, loss weights) into per-plane arrays aligned
with each plane's sparse ``coords``, the plane selection, and the zoom region of every plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import LarsegError
from ..event import Event, PlaneImage
from ..labels import CosmicLabel, Origin, interaction_mode_name, semantic_to_track_shower
from .colors import LABEL_FIELDS, LabelScheme, scheme_for

#: (row0, row1, col0, col1), half-open, in image pixels (rows = time, columns = wires).
Region = tuple[int, int, int, int]

DETECTOR_TITLES = {"microboone": "MicroBooNE", "sbnd": "SBND"}


class DisplayError(LarsegError, ValueError):
    """Bad display request (unknown field, zoom outside the image, misaligned prediction)."""


@dataclass
class Panel:
    """One column of the display: a quantity drawn for every selected plane."""

    key: str                               # "adc", a label field, "prediction" or "weights"
    kind: str                              # "adc" | "label" | "weight"
    title: str
    per_plane: list[np.ndarray | None]     # aligned with each selected plane's coords
    scheme: LabelScheme | None = None      # label panels only


def plane_field(img: PlaneImage, field: str) -> np.ndarray | None:
    """Per-pixel array of a display field ("adc" = the charge); None if the plane lacks it."""
    if field == "adc":
        return img.values
    if field == "track_shower":
        return None if img.semantic is None else semantic_to_track_shower(img.semantic)
    if field in ("cosmic", "semantic", "instance"):
        return getattr(img, field)
    raise DisplayError(f"unknown display field '{field}'; choose from adc, "
                       f"{', '.join(LABEL_FIELDS)}")


def signal_mask(img: PlaneImage) -> np.ndarray | None:
    """Pixels that some truth label attributes to a particle; None if the plane has no labels."""
    masks = []
    if img.cosmic is not None:
        masks.append(img.cosmic > 0)
    for f in ("semantic", "instance"):
        if getattr(img, f) is not None:
            masks.append(getattr(img, f) >= 0)
    return np.logical_or.reduce(masks) if masks else None


def default_fields(event: Event) -> tuple[str, ...]:
    """ADC plus every label field that at least one plane of the event carries."""
    present = [f for f in ("cosmic", "semantic", "instance")
               if any(getattr(p, f) is not None for p in event.planes)]
    return ("adc", *present)


def select_planes(event: Event, planes: Sequence[int | str] | None) -> list[int]:
    """Plane indices to draw: all by default; ints or plane names ("U", "V", "Y")."""
    if planes is None:
        return list(range(len(event.planes)))
    names = {p.meta.name.upper(): i for i, p in enumerate(event.planes) if p.meta.name}
    out = []
    for p in planes:
        if isinstance(p, str) and p.upper() in names:
            out.append(names[p.upper()])
        elif isinstance(p, (int, np.integer)) and 0 <= int(p) < len(event.planes):
            out.append(int(p))
        else:
            raise DisplayError(f"event {event.tag}: no plane {p!r} (planes: "
                               f"{', '.join(map(str, range(len(event.planes))))} "
                               f"{'/ ' + ', '.join(names) if names else ''})")
    if not out:
        raise DisplayError(f"event {event.tag}: no plane selected")
    return out


def _per_plane_input(event: Event, data: Any, name: str, idx: list[int]) -> list[Any]:
    """Split ``data`` (Event, mapping plane -> array, or sequence over all planes) by plane."""
    if isinstance(data, Event):
        return [data.planes[i] for i in idx]
    if isinstance(data, Mapping):
        return [data.get(i, data.get(event.planes[i].meta.name)) for i in idx]
    if isinstance(data, np.ndarray) and data.dtype != object and len(event.planes) == 1:
        return [data]
    seq = list(data)
    if len(seq) != len(event.planes):
        raise DisplayError(f"event {event.tag}, field {name}: {len(seq)} arrays for "
                           f"{len(event.planes)} planes (give one per plane or a dict)")
    return [seq[i] for i in idx]


def align_to_coords(img: PlaneImage, arr: Any, *, event: str, name: str,
                    labels: bool) -> np.ndarray:
    """Bring a per-plane array to the plane's pixels.

    Accepts an (N,) array aligned with coords, a dense (n_ticks, n_wires) image (sampled at the
    pixels with charge), or class scores, (N, C) or (C, n_ticks, n_wires), reduced by argmax.
    """
    a = np.asarray(arr)
    n, shape = len(img), img.meta.shape
    where = f"{name}.plane{img.plane}"
    if a.shape == shape:
        a = a[img.coords[:, 0], img.coords[:, 1]]
    elif labels and a.ndim == 3 and a.shape[1:] == shape:
        a = a.argmax(axis=0)[img.coords[:, 0], img.coords[:, 1]]
    elif labels and a.ndim == 2 and a.shape[0] == n and a.shape[1] > 1:
        a = a.argmax(axis=1)
    if a.shape != (n,):
        raise DisplayError(f"event {event}, field {where}: shape {a.shape} matches neither the "
                           f"{n} pixels of the plane nor its dense shape {shape}")
    if labels:
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise DisplayError(f"event {event}, field {where}: non-finite label")
            a = np.rint(a)
        return a.astype(np.int64)
    a = a.astype(np.float64)
    if n and not np.all(np.isfinite(a)):
        raise DisplayError(f"event {event}, field {where}: non-finite value")
    return a


def build_panels(event: Event, idx: list[int], fields: Sequence[str] | None,
                 prediction: Any = None, prediction_field: str | None = None,
                 weights: Any = None) -> list[Panel]:
    """The display's columns: requested fields, then the prediction and the loss weights."""
    fields = tuple(fields) if fields else default_fields(event)
    panels: list[Panel] = []
    for f in fields:
        if f in ("prediction", "weights"):
            continue  # given through their own arguments
        per = [plane_field(event.planes[i], f) for i in idx]
        if f == "adc":
            panels.append(Panel("adc", "adc", "ADC", per))
        else:
            panels.append(Panel(f, "label", f"truth: {f.replace('_', '/')}", per, scheme_for(f)))
    if prediction is not None:
        pf = prediction_field or next((f for f in fields if f in LABEL_FIELDS), None) \
            or next((f for f in default_fields(event) if f != "adc"), "semantic")
        if pf not in LABEL_FIELDS:
            raise DisplayError(f"event {event.tag}: prediction_field '{pf}' is not one of "
                               f"{', '.join(LABEL_FIELDS)}")
        raw = _per_plane_input(event, prediction, "prediction", idx)
        per = []
        for i, r in zip(idx, raw):
            if isinstance(r, PlaneImage):
                r = plane_field(r, pf)
            per.append(None if r is None else align_to_coords(
                event.planes[i], r, event=event.tag, name="prediction", labels=True))
        panels.append(Panel("prediction", "label", f"prediction: {pf.replace('_', '/')}", per,
                            scheme_for(pf)))
    if weights is not None:
        raw = _per_plane_input(event, weights, "weights", idx)
        per = [None if r is None else align_to_coords(event.planes[i], r, event=event.tag,
                                                      name="weights", labels=False)
               for i, r in zip(idx, raw)]
        panels.append(Panel("weights", "weight", "loss weight", per))
    if not panels:
        raise DisplayError(f"event {event.tag}: nothing to draw (fields={fields})")
    return panels


# ---------------------------------------------------------------------------------- zoom
def full_region(img: PlaneImage) -> Region:
    return (0, img.meta.n_ticks, 0, img.meta.n_wires)


def _clip_region(img: PlaneImage, region: Sequence[int], tag: str) -> Region:
    try:
        r0, r1, c0, c1 = (int(v) for v in region)
    except (TypeError, ValueError):
        raise DisplayError(f"event {tag}: zoom must be (row0, row1, col0, col1) or 'vertex', "
                           f"got {region!r}") from None
    n_t, n_w = img.meta.shape
    r0, r1 = max(r0, 0), min(r1, n_t)
    c0, c1 = max(c0, 0), min(c1, n_w)
    if r1 <= r0 or c1 <= c0:
        raise DisplayError(f"event {tag}: zoom {tuple(region)} lies outside plane {img.plane}'s "
                           f"image of {n_t} rows × {n_w} wires")
    return (r0, r1, c0, c1)


def resolve_zoom(event: Event, idx: list[int], zoom: Any) -> tuple[list[Region], str]:
    """Region of every selected plane and a short description for the title."""
    imgs = [event.planes[i] for i in idx]
    if zoom is None:
        return [full_region(img) for img in imgs], ""
    if isinstance(zoom, str):
        if zoom != "vertex":
            raise DisplayError(f"event {event.tag}: zoom '{zoom}': use 'vertex' or "
                               "(row0, row1, col0, col1)")
        regions = vertex_regions(event, idx)
        if regions is None:
            return [full_region(img) for img in imgs], "no neutrino activity: full view"
        return regions, "zoom: vertex"
    zoom = list(zoom)
    if zoom and isinstance(zoom[0], (tuple, list, np.ndarray)):  # one region per plane
        if len(zoom) != len(idx):
            raise DisplayError(f"event {event.tag}: {len(zoom)} zoom regions for "
                               f"{len(idx)} planes")
        return [_clip_region(img, z, event.tag) for img, z in zip(imgs, zoom)], "zoom"
    return [_clip_region(img, zoom, event.tag) for img in imgs], "zoom"


def _interaction_mask(event: Event, img: PlaneImage) -> np.ndarray | None:
    """Pixels of the first interaction (by instance id), else the neutrino-labelled ones."""
    if event.interactions:
        first = event.interactions[0].id
        ids = [p.id for p in event.particles if p.interaction_id == first]
    else:
        ids = [p.id for p in event.particles if p.origin != Origin.COSMIC]
    if img.instance is not None and ids:
        return np.isin(img.instance, ids)
    if img.cosmic is not None:
        return img.cosmic == CosmicLabel.NEUTRINO
    return None


def _projected_vertex(event: Event, idx: list[int]) -> tuple[float, list[float]] | None:
    if not event.interactions:
        return None
    try:
        from ..detectors import get_detector
        det = get_detector(event.detector.name)
    except LarsegError:
        return None
    x, y, z, t = event.interactions[0].vertex
    tpc, rows, cols, _ = det.project([x], [y], [z], [t])
    if tpc[0] < 0 or cols.shape[0] < len(event.planes):
        return None
    return float(rows[0]), [float(cols[i, 0]) for i in idx]


def vertex_regions(event: Event, idx: list[int], margin: int = 16,
                   min_size: int = 64) -> list[Region] | None:
    """Boxes around the first interaction's activity on every plane, same size on all planes.

    The planes share the drift time, so one row range (the union) serves all; each plane gets
    its own wire range. Boxes are widened to a roughly square physical aspect (0.5..1).
    """
    imgs = [event.planes[i] for i in idx]
    row_lo, row_hi, centres, widths = [], [], [], []
    for img in imgs:
        m = _interaction_mask(event, img)
        if m is None or not m.any():
            centres.append(None)
            continue
        rc = img.coords[m]
        row_lo.append(int(rc[:, 0].min()))
        row_hi.append(int(rc[:, 0].max()) + 1)
        centres.append(0.5 * (int(rc[:, 1].min()) + int(rc[:, 1].max()) + 1))
        widths.append(int(rc[:, 1].max()) + 1 - int(rc[:, 1].min()))
    if not row_lo:
        proj = _projected_vertex(event, idx)
        if proj is None:
            return None
        r, cols = proj
        row_lo, row_hi, widths = [int(r)], [int(r) + 1], [1]
        centres = cols
    elif any(c is None for c in centres):  # a plane without activity: centre on the others
        fill = float(np.mean([c for c in centres if c is not None]))
        centres = [fill if c is None else c for c in centres]
    h = max(max(row_hi) - min(row_lo) + 2 * margin, min_size)
    w = max(max(widths) + 2 * margin, min_size)
    meta = imgs[0].meta
    ratio = (h * meta.tick_pitch) / (w * meta.wire_pitch) if meta.wire_pitch > 0 else 1.0
    if ratio < 0.5:
        h = int(np.ceil(h * 0.5 / ratio))
    elif ratio > 1.0:
        w = int(np.ceil(w * ratio))
    rc = 0.5 * (min(row_lo) + max(row_hi))
    return [(*_span(rc, h, img.meta.n_ticks), *_span(c, w, img.meta.n_wires))
            for img, c in zip(imgs, centres)]


def _span(centre: float, size: int, limit: int) -> tuple[int, int]:
    """[lo, lo + size) centred on ``centre``, shifted (not shrunk) to fit in [0, limit)."""
    size = min(size, limit)
    lo = int(round(centre - size / 2))
    lo = min(max(lo, 0), limit - size)
    return lo, lo + size


# ------------------------------------------------------------------------------ pooling
def pool_sparse(coords: np.ndarray, keys: Sequence[np.ndarray], region: Region,
                out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max-pool sparse pixels inside ``region`` onto an ``out_shape`` raster.

    Each raster cell takes the pixel with the largest ``keys`` (lexicographic, the first key
    most significant), so a 1-pixel-wide track survives any downscaling. Returns the cells'
    (rows, columns) and the index of the winning pixel of each non-empty cell.
    """
    r0, r1, c0, c1 = region
    oh, ow = out_shape
    r = coords[:, 0].astype(np.int64)
    c = coords[:, 1].astype(np.int64)
    idx = np.flatnonzero((r >= r0) & (r < r1) & (c >= c0) & (c < c1))
    if idx.size == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    block = ((r[idx] - r0) * oh // (r1 - r0)) * ow + (c[idx] - c0) * ow // (c1 - c0)
    order = np.lexsort(tuple(np.asarray(k)[idx] for k in reversed(keys)) + (block,))
    b = block[order]
    last = np.ones(b.size, dtype=bool)
    last[:-1] = b[1:] != b[:-1]
    return b[last] // ow, b[last] % ow, idx[order[last]]


# -------------------------------------------------------------------------------- text
_NU_NAMES = {12: "νe", -12: "anti-νe", 14: "νμ", -14: "anti-νμ", 16: "ντ", -16: "anti-ντ"}


def detector_title(event: Event) -> str:
    return DETECTOR_TITLES.get(event.detector.name.lower(), event.detector.name)


def plane_title(img: PlaneImage) -> str:
    return f"plane {img.plane}" + (f" ({img.meta.name})" if img.meta.name else "")


def interaction_summary(event: Event) -> str:
    parts = []
    for it in event.interactions[:3]:
        if it.nu_pdg == 0:
            parts.append(f"particle bomb at ({it.vertex[0]:.0f}, {it.vertex[1]:.0f}, "
                         f"{it.vertex[2]:.0f}) cm")
            continue
        nu = _NU_NAMES.get(it.nu_pdg, f"ν({it.nu_pdg})")
        parts.append(f"{nu} {'CC' if it.is_cc else 'NC'}, {interaction_mode_name(it.mode)}, "
                     f"Eν = {it.energy / 1000.0:.2f} GeV")
    if len(event.interactions) > 3:
        parts.append(f"+{len(event.interactions) - 3} more")
    return "; ".join(parts)


def particle_name(pdg: int) -> str:
    try:
        from particle import Particle as PdgParticle
        return PdgParticle.from_pdgid(pdg).name
    except Exception:  # unknown or nuclear codes the table lacks
        return str(pdg)


def instance_label(event: Event, pid: int) -> str:
    if 0 <= pid < len(event.particles):
        p = event.particles[pid]
        src = "cosmic" if p.origin == Origin.COSMIC else "ν"
        return f"#{pid} {particle_name(p.pdg)} ({src})"
    return f"#{pid}"
