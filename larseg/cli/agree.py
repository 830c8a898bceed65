"""``larseg agree PRED_FILE --reference PRODUCT[,PRODUCT]``: larseg's track/shower output
against another network's output stored in a file, pixel by pixel.

What it does
    Reads, for every event of PRED_FILE, the ADC image, the prediction products and the
    reference products of each plane, turns both into track / shower / undecided decisions
    (:mod:`larseg.metrics.agreement`), and counts on the pixels with ADC ≥ ``--threshold``
    (default 10) the 2 × 2 table prediction × reference per plane, and over all planes. It
    prints the table, writes ``OUTPUT/agreement.json`` (the numbers, per plane and per event),
    ``OUTPUT/disagreements.csv`` (every pixel the two decide differently: entry, run, subrun,
    event, plane, row, wire, ADC, prediction, reference) and ``OUTPUT/agreement_event<N>.png``
    (one event: ADC, the two decisions, where they differ; by default the event with the most
    disagreeing pixels).

Inputs
    larcv3 files (sparse2d or image2d products, e.g. ``pred_semantic`` written by
    ``larseg predict``) and larcv1/larcv2 ROOT files (image2d products, read with uproot as
    :mod:`larseg.io.root` does), in any combination. Without ``--reference-file`` the reference
    comes from PRED_FILE too (e.g. a MicroBooNE file carrying ``wire`` and two stored
    networks). Products of one file are matched by entry; products of two files by
    (run, subrun, event). A product is ``NAME`` (its image of each plane), ``NAME#K`` (its K-th
    image of the plane) and NAME may hold ``{plane}`` (one product per plane). Conventions
    (``--reference-kind`` / ``--prediction-kind``): ``labels`` (one class-label image, in
    ``--*-labels`` encoding), ``scores`` (2, 3 or 5 per-class score images, argmax), and
    ``shower-score`` (one image, shower above ``--shower-threshold`` 0.5); ``auto`` takes
    labels for ``pred_<target>``, a shower score for any other single product, scores for
    several. Presets: ``ssnet`` = ``ssnettrack,ssnetshower`` scores; ``uburn`` =
    ``uburn_plane{plane}#1,uburn_plane{plane}#0`` (track, shower) scores; ``sparseuresnet`` =
    ``sparseuresnet_prediction`` labels in the ``ubdl`` encoding (0 not scored, 1 HIP, 2 MIP,
    3 shower). The uburn and sparseuresnet layouts follow MicroBooNE's DL reconstruction code
    as read in its public source; ssnettrack / ssnetshower are taken to hold one score image
    per plane. No file of theirs holding these products was available here.

Why a verb of its own, not options of ``larseg compare``
    ``compare`` reports distribution distances between the images of several files (a domain
    gap); agreement needs two named sources on the same events, pixel by pixel, and options of
    its own (products, conventions, encodings) that would mean nothing to ``compare``.

Tested (tests/test_cli_agree.py, tests/test_metrics_agreement.py)
    On files written in the tests: a larcv1 ROOT file in MicroBooNE's member layout (flat
    branches with larcv's names, as tests/test_io_root.py writes them; uproot cannot write
    larcv's nested branches) holding ``wire``, ``ssnettrack``, ``ssnetshower``,
    ``sparseuresnet_prediction`` and ``uburn_plane0..2``; and a larcv3 file written by
    ``larseg predict`` (an untrained tiny SparseSSNet) from that ROOT file; a larcv3 file with
    the scores as image2d products, its events in the reverse order (matched by event id). The
    JSON numbers and the CSV are checked against a direct numpy computation, and so are the
    errors for a missing event, a missing product and a shape mismatch, and the display's
    difference panel. Not tested: larcv2 ROOT input, and a real MicroBooNE file with
    stored SSNet / SparseSSNet scores (none is available here), so whether those files follow
    the layouts of the presets, and their row (time) orientation, is unverified:
    ``--time-reversed`` flips the rows of ROOT images (the file does not record it), and must
    match how the prediction's input was read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from ..errors import LarsegError, ProductNotFoundError
from ..metrics.agreement import (DEFAULT_ADC_THRESHOLD, DEFAULT_SHOWER_THRESHOLD,
                                 LABEL_ENCODINGS, SCORE_GROUPS, SHOWER, TRACK, UNDECIDED,
                                 AgreementAccumulator, PlaneAgreement, decisions_from_labels,
                                 decisions_from_scores, decisions_from_shower_score,
                                 plane_agreement, plane_name)
from .app import app, console
from .common import console_out, existing_file

KINDS = ("auto", "labels", "scores", "shower-score")
#: ADC producers tried in order when --adc is not given (larseg's MicroBooNE / SBND names).
ADC_PRODUCERS = ("wire", "sbndwire", "data", "adc")
#: label encoding of larseg's own prediction products, pred_<target>
_TARGET_ENCODING = {"semantic": "semantic", "track_shower": "track_shower",
                    "ssnet": "ssnet_categories"}


# ------------------------------------------------------------------------ sources
@dataclass(frozen=True)
class SourceSpec:
    """Which products make one side's decisions, and how (see the module)."""

    products: tuple[str, ...]
    kind: str                    # "labels", "scores" or "shower-score"
    encoding: str | None = None  # labels only: a key of LABEL_ENCODINGS

    def describe(self) -> dict:
        return asdict(self) | {"products": list(self.products)}


PRESETS = {
    "ssnet": SourceSpec(("ssnettrack", "ssnetshower"), "scores"),
    # DL reconstruction: uburn_plane<p> holds the shower score image, then the track one
    "uburn": SourceSpec(("uburn_plane{plane}#1", "uburn_plane{plane}#0"), "scores"),
    "sparseuresnet": SourceSpec(("sparseuresnet_prediction",), "labels", "ubdl"),
}


def parse_source(text: str, kind: str = "auto", encoding: str | None = None) -> SourceSpec:
    """A :class:`SourceSpec` from ``PRODUCT[,PRODUCT...]`` or a preset name."""
    if kind not in KINDS:
        raise typer.BadParameter(f"kind '{kind}': choose one of {', '.join(KINDS)}")
    if encoding is not None and encoding not in LABEL_ENCODINGS:
        raise typer.BadParameter(f"label encoding '{encoding}': choose one of "
                                 f"{', '.join(LABEL_ENCODINGS)}")
    if text in PRESETS and kind == "auto" and encoding is None:
        return PRESETS[text]
    products = tuple(p.strip() for p in text.split(",") if p.strip())
    if not products:
        raise typer.BadParameter("no product given")
    n = len(products)
    target = re.fullmatch(r"pred_(\w+)", products[0])
    own = _TARGET_ENCODING.get(target.group(1)) if target else None  # larseg's pred_<target>
    if kind == "auto":
        if target and own is None and not encoding and "_score_" not in products[0]:
            raise typer.BadParameter(f"'{products[0]}': larseg's classes of target "
                                     f"'{target.group(1)}' are not track / shower")
        kind = "scores" if n > 1 else "labels" if (own or encoding) else "shower-score"
    if kind in ("labels", "shower-score") and n != 1:
        raise typer.BadParameter(f"{kind}: give one product, got {n} ({text})")
    if kind == "scores" and n not in SCORE_GROUPS:
        raise typer.BadParameter(f"scores: give 2 (track, shower), 3 (background, track, "
                                 f"shower) or 5 (HIP … Michel) products, got {n} ({text})")
    return SourceSpec(products, kind,
                      (encoding or own or "semantic") if kind == "labels" else None)


def decide(spec: SourceSpec, images: Sequence[np.ndarray],
           shower_threshold: float = DEFAULT_SHOWER_THRESHOLD) -> np.ndarray:
    """Decision image of a plane from the images of ``spec.products`` (same order)."""
    if spec.kind == "labels":
        return decisions_from_labels(images[0], spec.encoding)
    if spec.kind == "shower-score":
        return decisions_from_shower_score(images[0], shower_threshold)
    return decisions_from_scores(images)


# ------------------------------------------------------------------ product files
def _split(product: str) -> tuple[str, int | None]:
    name, sep, k = product.partition("#")
    if sep and not k.isdigit():
        raise LarsegError(f"product '{product}': the image index after # must be a number")
    return name, int(k) if sep else None


def _plane_product(name: str, plane: int) -> str:
    """The product of ``plane`` of a per-plane name (``uburn_plane{plane}``), else ``name``."""
    return name.replace("{plane}", str(plane))


class ProductFile:
    """Image products of a larcv3 or larcv1/2 ROOT file: dense (rows = time, columns = wires)
    float32 images of one entry, with their planes, and the entries' (run, subrun, event)."""

    def __init__(self, path: Path, time_reversed: bool = False) -> None:
        from ..io.root import is_root_file

        self.path = Path(path)
        self.root = is_root_file(self.path)
        self.time_reversed = time_reversed
        self._ids: dict[str, np.ndarray] = {}
        self._open: dict[str, object] = {}
        self._last: dict[str, tuple] = {}
        if self.root:
            import uproot

            self._uproot = uproot.open(self.path)
            trees = sorted({k.split(";")[0] for k in self._uproot.keys()})
            self.names = [t[len("image2d_"):-len("_tree")] for t in trees
                          if t.startswith("image2d_") and t.endswith("_tree")]
        else:
            from ..io import Larcv3Reader
            from ..io import larcv3_schema as S

            self._reader = Larcv3Reader(self.path)
            found = {(p.producer, p.type) for p in self._reader.products()}
            self._type = {p: t for t in (S.IMAGE2D, S.SPARSE2D) for p, tt in found if tt == t}
            self.names = sorted(self._type)

    def require(self, name: str) -> None:
        if name not in self.names:
            raise ProductNotFoundError(f"file {self.path}: no image product '{name}'; it holds: "
                                       f"{', '.join(self.names) or 'none'}")

    def ids(self, name: str) -> np.ndarray:
        """(entries, 3) int64 run, subrun, event of the entries of product ``name``."""
        self.require(name)
        if name not in self._ids:
            if self.root:
                tree = self._uproot[f"image2d_{name}_tree"]
                keys = list(tree.keys(recursive=True))
                cols = []
                for member in ("_run", "_subrun", "_event"):
                    hits = [k for k in keys if k.endswith(member)]
                    if not hits:
                        raise LarsegError(f"file {self.path}, image2d '{name}': no {member}")
                    cols.append(np.asarray(tree[min(hits, key=len)].array(library="np")))
                ids = np.stack(cols, axis=1)
            else:
                raw = self._reader.event_ids()
                ids = np.stack([raw[f] for f in raw.dtype.names], axis=1) if raw.dtype.names \
                    else np.asarray(raw).reshape(-1, 3)
            self._ids[name] = ids.astype(np.int64)
        return self._ids[name]

    def images(self, name: str, entry: int, fill: float) -> list[tuple[int, np.ndarray]]:
        """(plane, image) of every image of product ``name`` at ``entry``; a sparse product's
        pixels without a value hold ``fill``. Each product's last entry read is kept: the
        images of one event are asked for plane by plane."""
        self.require(name)
        hit = self._last.get(name)
        if hit is None or hit[0] != (entry, repr(fill)):
            hit = self._last[name] = ((entry, repr(fill)), self._read_images(name, entry, fill))
        return hit[1]

    def _read_images(self, name: str, entry: int, fill: float) -> list[tuple[int, np.ndarray]]:
        if self.root:
            from ..io.root import RootImageFile

            rf = self._open.get(name)
            if rf is None:
                # one entry at a time: a block of 16 full MicroBooNE entries is ~0.7 GB
                rf = self._open[name] = RootImageFile(self.path, name, block_size=1,
                                                      time_reversed=self.time_reversed)
            return [(img.plane, img.dense()) for img in rf[entry].planes]
        from ..io import larcv3_schema as S

        if self._type[name] == S.IMAGE2D:
            return [(int(im.meta.projection_id), im.data.T.copy())
                    for im in self._reader.read_image2d(name, entry)]
        out = []
        for sp in self._reader.read_sparse2d(name, entry):
            n0, n1 = (int(n) for n in sp.meta.number_of_voxels)  # wires, ticks
            flat = np.full(n0 * n1, fill, dtype=np.float32)
            flat[sp.ids.astype(np.int64)] = sp.values
            out.append((int(sp.meta.projection_id), flat.reshape(n0, n1).T.copy()))
        return out

    def close(self) -> None:
        for rf in self._open.values():
            rf.close()
        if self.root:
            self._uproot.close()
        else:
            self._reader.close()


@dataclass(frozen=True)
class EventArrays:
    """One event: the ADC, prediction and reference decision images of each plane."""

    entry: int
    run: int
    subrun: int
    event: int
    planes: tuple[int, ...]
    adc: dict[int, np.ndarray]
    prediction: dict[int, np.ndarray]
    reference: dict[int, np.ndarray]

    @property
    def tag(self) -> str:
        return f"{self.run}/{self.subrun}/{self.event}"


class Matcher:
    """Finds each product's entry for an event of the prediction file and reads its images."""

    def __init__(self, pred: ProductFile, ref: ProductFile, adc: tuple[ProductFile, str],
                 pred_spec: SourceSpec, ref_spec: SourceSpec,
                 shower_threshold: float = DEFAULT_SHOWER_THRESHOLD) -> None:
        self.pred, self.ref, self.adc = pred, ref, adc
        self.pred_spec, self.ref_spec = pred_spec, ref_spec
        self.shower_threshold = shower_threshold
        self._maps: dict[tuple[str, str], dict[tuple[int, int, int], int]] = {}
        for f, spec in ((pred, pred_spec), (ref, ref_spec)):
            for p in spec.products:
                name, _ = _split(p)
                if "{plane}" not in name:
                    f.require(name)
        adc[0].require(adc[1])
        # the product whose entries are the events compared (plane 0's of a per-plane one)
        self.driver = _plane_product(_split(pred_spec.products[0])[0], 0)

    def __len__(self) -> int:
        return len(self.pred.ids(self.driver))

    def _entry(self, f: ProductFile, name: str, entry: int, key: tuple[int, int, int]) -> int:
        """The entry of product ``name`` of file ``f`` holding the event of prediction-file
        entry ``entry`` (same entry in the same file, else found by run/subrun/event)."""
        ids = f.ids(name)
        tag = "/".join(map(str, key))
        if f is self.pred:
            if entry >= len(ids) or tuple(ids[entry]) != key:
                raise LarsegError(f"file {f.path}, product '{name}': entry {entry} is not event "
                                  f"{tag} as in product '{self.driver}'")
            return entry
        table = self._maps.get((str(f.path), name))
        if table is None:
            table = {}
            for i, row in enumerate(map(tuple, ids.tolist())):
                table.setdefault(row, i if row not in table else -1)  # -1: seen twice
            self._maps[(str(f.path), name)] = table
        i = table.get(key)
        if i is None:
            raise LarsegError(f"file {f.path}, product '{name}': no event {tag} (run/subrun/"
                              f"event of entry {entry} of {self.pred.path}); it holds "
                              f"{len(ids)} events")
        if i < 0:
            raise LarsegError(f"file {f.path}, product '{name}': event {tag} appears in more "
                              "than one entry: cannot match it")
        return i

    def _plane_image(self, f: ProductFile, product: str, plane: int, entry: int,
                     key: tuple[int, int, int], fill: float) -> np.ndarray:
        name, k = _split(product)
        real = _plane_product(name, plane)
        got = f.images(real, self._entry(f, real, entry, key), fill)
        imgs = [im for p, im in got if "{plane}" in name or p == plane]
        where = f"file {f.path}, event {'/'.join(map(str, key))}, product '{real}'"
        if not imgs:
            raise LarsegError(f"{where}: no image of plane {plane} (it holds planes "
                              f"{sorted({p for p, _ in got})})")
        if k is None and len(imgs) > 1:
            raise LarsegError(f"{where}: {len(imgs)} images of plane {plane}; pick one with "
                              f"'{name}#K'")
        if k is not None and k >= len(imgs):
            raise LarsegError(f"{where}: no image #{k} of plane {plane} ({len(imgs)} images)")
        return imgs[0 if k is None else k]

    def read(self, entry: int, planes: Sequence[int] | None = None) -> EventArrays:
        key = tuple(int(v) for v in self.pred.ids(self.driver)[entry])
        tag = "/".join(map(str, key))
        adc_file, adc_name = self.adc
        adc_all = dict(adc_file.images(adc_name, self._entry(adc_file, adc_name, entry, key),
                                       0.0))
        if planes is None:  # the planes the prediction covers
            first, _ = _split(self.pred_spec.products[0])
            planes = sorted(adc_all) if "{plane}" in first else sorted(
                p for p, _ in self.pred.images(first, entry, np.nan))
        adc, pred, ref = {}, {}, {}
        for p in planes:
            if p not in adc_all:
                raise LarsegError(f"file {adc_file.path}, event {tag}, product '{adc_name}': "
                                  f"no image of plane {p}")
            adc[p] = adc_all[p]
            for f, spec, out in ((self.pred, self.pred_spec, pred),
                                 (self.ref, self.ref_spec, ref)):
                imgs = []
                for prod in spec.products:
                    im = self._plane_image(f, prod, p, entry, key, np.nan)
                    if im.shape != adc[p].shape:
                        raise LarsegError(
                            f"file {f.path}, event {tag}, product '{prod}', plane {p}: image "
                            f"of {im.shape[0]} rows × {im.shape[1]} wires, but the ADC "
                            f"('{adc_name}' of {adc_file.path}) is {adc[p].shape[0]} × "
                            f"{adc[p].shape[1]}")
                    imgs.append(im)
                out[p] = decide(spec, imgs, self.shower_threshold)
        return EventArrays(entry, *key, tuple(planes), adc, pred, ref)


def find_adc(name: str | None, *files: ProductFile) -> tuple[ProductFile, str]:
    """(file, producer) of the ADC images: ``name`` or the first of :data:`ADC_PRODUCERS`,
    looked for in the prediction file, then the reference file."""
    for f in files:
        for cand in ([name] if name else ADC_PRODUCERS):
            if cand in f.names:
                return f, cand
    what = f"'{name}'" if name else "any of " + ", ".join(ADC_PRODUCERS)
    raise ProductNotFoundError(f"no ADC product {what} in " + " or ".join(
        f"{f.path} (it holds: {', '.join(f.names) or 'none'})" for f in files))


# ------------------------------------------------------------------------ display
_AGREE, _PRED_TRACK, _PRED_SHOWER, _ONE_UNDECIDED = 0, 1, 2, 3
_DIFF_COLORS = {_AGREE: "#b8e0b8", _PRED_TRACK: "#d62728", _PRED_SHOWER: "#6A3D9A",
                _ONE_UNDECIDED: "#000000"}
_DIFF_NAMES = {_AGREE: "same decision", _PRED_TRACK: "prediction track, reference shower",
               _PRED_SHOWER: "prediction shower, reference track",
               _ONE_UNDECIDED: "one side undecided"}
_DIFF_RANK = np.array([0, 3, 3, 1])  # what wins a raster cell: a disagreement, then undecided


def difference_codes(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per pixel: 0 same decision, 1 prediction track / reference shower, 2 the reverse,
    3 one side undecided (both undecided: 0)."""
    out = np.full(pred.shape, _AGREE, dtype=np.int8)
    out[(pred == TRACK) & (ref == SHOWER)] = _PRED_TRACK
    out[(pred == SHOWER) & (ref == TRACK)] = _PRED_SHOWER
    out[(pred < 0) != (ref < 0)] = _ONE_UNDECIDED
    return out


def _region(mask: np.ndarray, margin: int = 8) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return 0, mask.shape[0], 0, mask.shape[1]
    return (max(int(rows.min()) - margin, 0), min(int(rows.max()) + margin + 1, mask.shape[0]),
            max(int(cols.min()) - margin, 0), min(int(cols.max()) + margin + 1, mask.shape[1]))


def agreement_figure(ev: EventArrays, threshold: float, titles: tuple[str, str]):
    """Matplotlib Figure: a row per plane, columns ADC, prediction, reference, difference, on
    the pixels with ADC ≥ ``threshold`` (zoomed on them); pixels are max-pooled so that none
    disappears when the image is larger than the panel (disagreements win a cell)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba_array
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from ..viz.colors import ADC_CMAP, EMPTY_RGBA, TRACK_SHOWER_SCHEME, adc_norm
    from ..viz.panels import pool_sparse

    n, w, dpi = len(ev.planes), 4.0, 100
    masks = {p: ev.adc[p] >= threshold for p in ev.planes}
    regions = {p: _region(masks[p]) for p in ev.planes}
    h = w * float(np.clip(min((r1 - r0) / max(c1 - c0, 1) for r0, r1, c0, c1 in
                              regions.values()), 0.3, 1.0))
    fig = Figure(figsize=(4 * w + 2.5, n * (h + 0.9) + 1.2), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    norm = adc_norm([ev.adc[p][masks[p]] for p in ev.planes])
    names = ("ADC", f"prediction: {titles[0]}", f"reference: {titles[1]}", "difference")
    axes = fig.subplots(n, 4, squeeze=False)
    fh = n * (h + 0.9) + 1.2
    fig.subplots_adjust(left=0.05, right=0.98, top=1 - 0.6 / fh, bottom=0.9 / fh, wspace=0.3,
                        hspace=0.45)  # before drawing: the rasters are sized to the axes
    for row, p in enumerate(ev.planes):
        reg = regions[p]
        coords = np.argwhere(masks[p])
        adc = ev.adc[p][masks[p]]
        pred, ref = ev.prediction[p][masks[p]], ev.reference[p][masks[p]]
        diff = difference_codes(pred, ref)
        panels = ((ADC_CMAP(norm(adc)), (adc,)),
                  (TRACK_SHOWER_SCHEME.rgba(pred), (pred >= 0, adc)),
                  (TRACK_SHOWER_SCHEME.rgba(ref), (ref >= 0, adc)),
                  (to_rgba_array([_DIFF_COLORS[int(c)] for c in range(4)])[diff],
                   (_DIFF_RANK[diff], adc)))
        for col, (colors, keys) in enumerate(panels):
            ax = axes[row, col]
            bbox = ax.get_window_extent()
            shape = (min(reg[1] - reg[0], max(int(bbox.height), 1)),
                     min(reg[3] - reg[2], max(int(bbox.width), 1)))
            raster = np.empty(shape + (4,), dtype=np.float32)
            raster[:] = EMPTY_RGBA
            if len(coords):
                rr, cc, win = pool_sparse(coords, keys, reg, shape)
                raster[rr, cc] = colors[win]
            ax.imshow(raster, origin="lower", interpolation="nearest", aspect="auto",
                      extent=(reg[2] - 0.5, reg[3] - 0.5, reg[0] - 0.5, reg[1] - 0.5))
            ax.set_title(f"plane {plane_name(p)} · {names[col]}", fontsize=9, loc="left")
            ax.set_xlabel("wire", fontsize=8)
            ax.set_ylabel("row (time)", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [Patch(color=TRACK_SHOWER_SCHEME.color_of(c), label=TRACK_SHOWER_SCHEME.name_of(c)
                     if c >= 0 else "undecided") for c in (TRACK, SHOWER, UNDECIDED)]
    handles += [Patch(color=_DIFF_COLORS[c], label=_DIFF_NAMES[c]) for c in range(4)]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"run {ev.run}, subrun {ev.subrun}, event {ev.event} (entry {ev.entry}): "
                 f"pixels with ADC ≥ {threshold:g}", fontsize=11)
    return fig


# --------------------------------------------------------------------------- verb
def _csv_rows(ev: EventArrays, results: Sequence[PlaneAgreement]):
    for pa in results:
        for r, c in pa.disagreeing.tolist():
            yield (ev.entry, ev.run, ev.subrun, ev.event, plane_name(pa.plane), r, c,
                   f"{float(ev.adc[pa.plane][r, c]):.6g}",
                   int(ev.prediction[pa.plane][r, c]), int(ev.reference[pa.plane][r, c]))


def _print_table(rep: dict) -> None:
    t = Table(title=f"track/shower agreement, pixels with ADC ≥ {rep['adc_threshold']:g}, "
                    f"{rep['n_events']} events", show_edge=False,
              caption="T·S: prediction track, reference shower; undecided: pixels one side "
                      "says nothing of (prediction / reference)")
    for c in ("plane", "agreement", "T·T", "T·S", "S·T", "S·S", "undecided"):
        t.add_column(c, justify="left" if c == "plane" else "right", no_wrap=True)
    for name, s in list(rep["planes"].items()) + [("all", rep["all_planes"])]:
        a = "–" if s["agreement"] is None else f"{s['agreement']:.4f}"
        t.add_row(name, a, *(str(v) for row in s["table"] for v in row),
                  f"{s['prediction_undecided']} / {s['reference_undecided']}")
    console_out().print(t)


@app.command(help=(
    "Pixel agreement of larseg's track/shower output with another network's output stored in a "
    "file (MicroBooNE's SSNet / SparseSSNet products), on the pixels with ADC ≥ --threshold: "
    "the 2 × 2 table prediction × reference per plane and over all planes. Writes "
    "OUTPUT/agreement.json, OUTPUT/disagreements.csv (every pixel decided differently) and "
    "OUTPUT/agreement_event<N>.png (ADC, both decisions and where they differ). larcv3 and "
    "larcv1/2 ROOT files; events of two files are matched by run/subrun/event. A product list "
    "is PRODUCT[,PRODUCT] (PRODUCT#K: its K-th image of a plane; {plane} in a name: one product "
    "per plane), or a preset: ssnet (ssnettrack,ssnetshower scores), uburn, sparseuresnet.\n\n"
    "Example: larseg agree pred.h5 --reference-file ub_dl.root --reference ssnet "
    "--prediction pred_semantic -o agree_out"))
def agree(
    pred_file: Path = typer.Argument(..., help="File with the prediction (and the ADC)."),
    reference: str = typer.Option(..., "--reference", "-r",
                                  help="Reference products (PRODUCT[,PRODUCT]) or a preset."),
    reference_file: Path = typer.Option(None, "--reference-file",
                                        help="File with the reference (default: PRED_FILE)."),
    prediction: str = typer.Option("pred_semantic", "--prediction", "-p",
                                   help="Prediction products (PRODUCT[,PRODUCT])."),
    reference_kind: str = typer.Option("auto", help="auto, labels, scores or shower-score."),
    reference_labels: str = typer.Option(None, help="Label encoding of a labels reference: "
                                         + ", ".join(LABEL_ENCODINGS) + "."),
    prediction_kind: str = typer.Option("auto", help="auto, labels, scores or shower-score."),
    prediction_labels: str = typer.Option(None, help="Label encoding of a labels prediction "
                                          "(auto: from pred_<target>)."),
    adc: str = typer.Option(None, "--adc", help="ADC product (default: the first of "
                            + ", ".join(ADC_PRODUCERS) + " in PRED_FILE, then the reference)."),
    threshold: float = typer.Option(DEFAULT_ADC_THRESHOLD, "--threshold", "-t",
                                    help="Pixels with ADC at least this are compared."),
    shower_threshold: float = typer.Option(DEFAULT_SHOWER_THRESHOLD, "--shower-threshold",
                                           help="A single shower-score image: shower above."),
    max_events: int = typer.Option(None, "--max-events", "-n", min=1,
                                   help="Compare only the first N events of PRED_FILE."),
    display: int = typer.Option(None, "--display", "-e", min=0, help="Entry of PRED_FILE to "
                                "draw (default: the one with the most disagreeing pixels)."),
    no_display: bool = typer.Option(False, "--no-display", help="Do not draw the PNG."),
    time_reversed: bool = typer.Option(False, "--time-reversed",
                                       help="ROOT files: flip the rows (time) of their images."),
    output: Path = typer.Option(Path("agree_output"), "--output", "-o",
                                help="Directory for agreement.json, the CSV and the PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    pred_spec = parse_source(prediction, prediction_kind, prediction_labels)
    ref_spec = parse_source(reference, reference_kind, reference_labels)
    pred = ProductFile(existing_file(pred_file), time_reversed)
    same = reference_file is None or existing_file(reference_file).resolve() == \
        pred_file.resolve()
    ref = pred if same else ProductFile(reference_file, time_reversed)
    try:
        matcher = Matcher(pred, ref, find_adc(adc, pred, ref), pred_spec, ref_spec,
                          shower_threshold)
        n = len(matcher) if max_events is None else min(max_events, len(matcher))
        if display is not None and display >= n:
            raise typer.BadParameter(f"--display {display}: PRED_FILE has {n} events compared")
        output.mkdir(parents=True, exist_ok=True)
        acc = AgreementAccumulator(threshold)
        worst, most = 0, -1
        with open(output / "disagreements.csv", "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(("entry", "run", "subrun", "event", "plane", "row", "wire", "adc",
                          "prediction", "reference"))
            for i in range(n):
                ev = matcher.read(i)
                results = [plane_agreement(ev.adc[p], ev.prediction[p], ev.reference[p],
                                           threshold, p) for p in ev.planes]
                acc.add(results, {"entry": i, "run": ev.run, "subrun": ev.subrun,
                                  "event": ev.event})
                out.writerows(_csv_rows(ev, results))
                k = sum(len(r.disagreeing) for r in results)
                if k > most:
                    worst, most = i, k
        shown = None if no_display or not n else matcher.read(
            worst if display is None else display)
        rep = acc.report()
        rep = {"prediction": {"file": str(pred.path), **pred_spec.describe()},
               "reference": {"file": str(ref.path), **ref_spec.describe()},
               "adc": {"file": str(matcher.adc[0].path), "product": matcher.adc[1]},
               "shower_threshold": shower_threshold, **rep,
               "disagreements": str(output / "disagreements.csv")}
        if shown is not None:
            png = output / f"agreement_event{shown.entry}.png"
            agreement_figure(shown, threshold, (", ".join(pred_spec.products),
                                                ", ".join(ref_spec.products))).savefig(
                png, dpi=100, facecolor="white")
            rep["display"] = {"entry": shown.entry, "figure": str(png)}
    finally:
        pred.close()
        if ref is not pred:
            ref.close()
    (output / "agreement.json").write_text(json.dumps(rep, indent=1))
    if as_json:
        typer.echo(json.dumps(rep))
        return
    _print_table(rep)
    console.print(f"wrote {output / 'agreement.json'}, {output / 'disagreements.csv'}"
                  + (f", {rep['display']['figure']}" if "display" in rep else ""),
                  soft_wrap=True)
