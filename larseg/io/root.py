"""larcv1 / larcv2 ROOT files (MicroBooNE's own formats) as Events, with uproot (no ROOT install).

Layout (checked on public files, ../shared/data/root/README.md): each product is a TTree
``image2d_<producer>_tree`` with one branch ``image2d_<producer>_branch``, split by member:
``_image_v._img`` (one float vector per image, **column-major**: an image reshapes to
(columns, rows) and is transposed to rows × columns), the meta, and the event id under
``larcv::EventBase/_run|_subrun|_event``. larcv1's meta: ``_plane``, ``_row_count``,
``_col_count``, ``_origin.x/.y``, ``_width``, ``_height`` (MicroBooNE data: origin (0, 2400)
ticks, 3456 wires × 6048 ticks in 1008 rows). larcv2's: ``_id`` (the plane), ``_p1``/``_p2``
(the bounding box), ``_col_count``, ``_row_count``.

Members are found by the end of their name, so a file whose branches are not nested (as uproot
writes them) reads the same. Whether row 0 is the earliest or the latest tick is the writer's
convention, which the file does not record: ``time_reversed=True`` flips the rows.

Only ADC images are read (non-zero pixels become the event's sparse planes); label images and
the other products (ROIs, particles, clusters) are not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detectors import get_detector, guess_detector_name
from ..errors import FileFormatError, ProductNotFoundError
from ..event import DetectorMeta, Event, PlaneImage, PlaneMeta
from .events import entry_index

#: ADC producers tried, in order, when none is named (MicroBooNE's DL files call it "wire").
DEFAULT_PRODUCERS = ("wire", "data", "adc")
_PLANE_NAMES = ("U", "V", "Y")


def is_root_file(path: str | Path) -> bool:
    """Whether ``path`` starts with ROOT's file signature."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"root"
    except OSError:
        return False


@dataclass(frozen=True)
class _Members:
    """Full names of the members of one image2d tree that the reader needs."""

    img: str
    run: str
    subrun: str
    event: str
    plane: str
    rows: str
    cols: str
    layout: str  # "larcv1" or "larcv2"
    width: str | None = None     # larcv1
    height: str | None = None
    p1x: str | None = None       # larcv2
    p2x: str | None = None


def _find(keys: list[str], suffix: str) -> str | None:
    hits = [k for k in keys if k.endswith(suffix)]
    return min(hits, key=len) if hits else None


def _members(tree, path: Path) -> _Members:
    keys = list(tree.keys(recursive=True))
    need = {"img": "_image_v._img", "run": "_run", "subrun": "_subrun", "event": "_event",
            "rows": "_meta._row_count", "cols": "_meta._col_count"}
    found = {k: _find(keys, s) for k, s in need.items()}
    missing = [need[k] for k, v in found.items() if v is None]
    if missing:
        raise FileFormatError(f"file {path}, tree {tree.name}: no member {', '.join(missing)} "
                              "(not a larcv image2d tree?)")
    plane1 = _find(keys, "_meta._plane")
    if plane1 is not None:
        return _Members(**found, plane=plane1, layout="larcv1",
                        width=_find(keys, "_meta._width"), height=_find(keys, "_meta._height"))
    plane2 = _find(keys, "_meta._id")
    if plane2 is None:
        raise FileFormatError(f"file {path}, tree {tree.name}: no _meta._plane (larcv1) or "
                              "_meta._id (larcv2)")
    return _Members(**found, plane=plane2, layout="larcv2", p1x=_find(keys, "_meta._p1.x"),
                    p2x=_find(keys, "_meta._p2.x"))


class RootImageFile(Sequence):
    """The image2d product of a larcv1/larcv2 ROOT file as a lazy ``Sequence[Event]``.

    ``producer``: the image2d producer (default: the first of ``DEFAULT_PRODUCERS`` present, or
    the only image2d tree). Events carry ADC planes only (no labels, no particles).
    """

    def __init__(self, path: str | Path, producer: str | None = None, *,
                 time_reversed: bool = False, block_size: int = 16) -> None:
        try:
            import uproot
        except ImportError as e:  # pragma: no cover - uproot is a dependency
            raise FileFormatError(f"file {path}: reading ROOT files needs uproot") from e
        self.path = Path(path)
        if not self.path.is_file():
            raise FileFormatError(f"file {self.path}: does not exist")
        try:
            self._file = uproot.open(self.path)
        except Exception as e:  # noqa: BLE001 - uproot raises many kinds for a bad file
            raise FileFormatError(f"file {self.path}: not a readable ROOT file ({e})") from None
        trees = sorted({k.split(";")[0] for k in self._file.keys()
                        if k.startswith("image2d_") and k.split(";")[0].endswith("_tree")})
        producers = [t[len("image2d_"):-len("_tree")] for t in trees]
        if producer is None:
            producer = next((p for p in DEFAULT_PRODUCERS if p in producers),
                            producers[0] if len(producers) == 1 else None)
        if producer not in producers:
            have = ", ".join(producers) or "none"
            raise ProductNotFoundError(f"file {self.path}: no image2d product "
                                       f"'{producer}'; it holds: {have}")
        self.producer = producer
        self.products = producers
        self.time_reversed = time_reversed
        self.block_size = max(1, int(block_size))
        self._tree = self._file[f"image2d_{producer}_tree"]
        self._m = _members(self._tree, self.path)
        self._block: tuple[int, int, dict] | None = None

    @property
    def layout(self) -> str:
        return self._m.layout

    def __len__(self) -> int:
        return int(self._tree.num_entries)

    def event_ids(self) -> np.ndarray:
        """(entries, 3) int64 run, subrun, event of every entry, read without the images
        (matching events across files needs only these)."""
        m = self._m
        names = [m.run, m.subrun, m.event]
        try:
            got = self._tree.arrays(names, library="np")
        except Exception as e:  # noqa: BLE001 - a damaged basket, a bad streamer
            raise FileFormatError(f"file {self.path}: cannot read the event ids of image2d "
                                  f"'{self.producer}' ({e})") from None
        return np.stack([np.asarray(got[n]) for n in names], axis=1).astype(np.int64) \
            .reshape(-1, 3)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RootImageFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _arrays(self, a: int, b: int) -> dict:
        m = self._m
        names = [n for n in (m.img, m.run, m.subrun, m.event, m.plane, m.rows, m.cols, m.width,
                             m.height, m.p1x, m.p2x) if n]
        try:
            got = self._tree.arrays(names, entry_start=a, entry_stop=b, library="np")
        except Exception as e:  # noqa: BLE001 - a damaged basket, a bad streamer
            raise FileFormatError(f"file {self.path}, entries {a}-{b - 1}: cannot read "
                                  f"image2d '{self.producer}' ({e})") from None
        return {n: got[n] for n in names}

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        i = entry_index(index, n, self.path)
        if self._block is None or not self._block[0] <= i < self._block[1]:
            b = min(n, i + self.block_size)
            self._block = (i, b, self._arrays(i, b))
        a, _, arrays = self._block
        return self._event(arrays, i - a, i)

    def __iter__(self) -> Iterator[Event]:
        for i in range(len(self)):
            yield self[i]

    def _event(self, arrays: dict, k: int, entry: int) -> Event:
        m = self._m
        run, subrun, evt = (int(arrays[x][k]) for x in (m.run, m.subrun, m.event))
        tag = f"entry {entry} ({run}/{subrun}/{evt})"
        images = arrays[m.img][k]
        rows_n, cols_n = np.asarray(arrays[m.rows][k]), np.asarray(arrays[m.cols][k])
        plane_ids = np.asarray(arrays[m.plane][k])
        if not len(images):
            raise FileFormatError(f"file {self.path}, {tag}: image2d '{self.producer}' holds "
                                  "no images")
        metas, planes = [], []
        for j, img in enumerate(images):
            rows, cols = int(rows_n[j]), int(cols_n[j])
            pix = np.asarray(img, dtype=np.float32)
            if pix.size != rows * cols:
                raise FileFormatError(f"file {self.path}, {tag}, image {j}: {pix.size} pixels "
                                      f"for {rows} rows × {cols} columns")
            dense = pix.reshape(cols, rows).T  # column-major storage
            if self.time_reversed:
                dense = dense[::-1]
            r, c = np.nonzero(dense)
            plane = int(plane_ids[j]) if len(plane_ids) > j else j
            meta = self._plane_meta(arrays, k, j, plane, rows, cols)
            metas.append(meta)
            planes.append(PlaneImage(meta, np.stack([r, c], axis=1), dense[r, c]))
        name = guess_detector_name(metas[0].n_wires, metas[0].n_ticks)
        return Event(run=run, subrun=subrun, event=evt,
                     detector=DetectorMeta(name=name, planes=tuple(metas)), planes=planes,
                     particles=[], interactions=[])

    def _plane_meta(self, arrays: dict, k: int, j: int, plane: int, rows: int,
                    cols: int) -> PlaneMeta:
        """Pitches: the MicroBooNE preset's for MicroBooNE-shaped images, else 0.3 cm per
        column and the image's own rows (larcv meta lengths are in wires and ticks)."""
        name = guess_detector_name(cols, rows)
        if name != "unknown":
            d = get_detector(name)
            return PlaneMeta(plane=plane, n_wires=cols, n_ticks=rows,
                             wire_pitch=d.planes[min(plane, 2)].pitch,
                             tick_pitch=round(d.tick_pitch, 6),
                             name=_PLANE_NAMES[plane] if plane < 3 else "")
        return PlaneMeta(plane=plane, n_wires=cols, n_ticks=rows, wire_pitch=0.3, tick_pitch=0.3,
                         name=_PLANE_NAMES[plane] if plane < 3 else "")
