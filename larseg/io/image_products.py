"""Any image2d / sparse2d product of an event as dense per-plane images, from larcv3 or
larcv1/2 ROOT files, and one event found across files by (run, subrun, event).

Images are float32, rows = time, columns = wires. ROOT files are read one entry at a time with
:class:`larseg.io.root.RootImageFile` (``time_reversed`` flips their rows: the file does not
record the writer's time order); larcv3 products with :class:`larseg.io.Larcv3Reader`, a
sparse2d product's pixels without a value holding a ``fill`` the caller chooses.

A product is named ``NAME`` (its image of each plane), ``NAME#K`` (its K-th image of the plane)
and NAME may hold ``{plane}`` (one product per plane, e.g. ``uburn_plane{plane}``).

:class:`EventReader` reads one event of several *sources* (a file and a list of products each)
and of an ADC product: the first source's first product drives (its entries are the events);
a product of the driving file is read at the same entry, after checking that it holds the same
event; a product of another file at the entry holding the same (run, subrun, event). Every
error names the file, the event and the product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LarsegError, ProductNotFoundError

#: ADC producers tried in order when none is named (larseg's MicroBooNE / SBND names).
ADC_PRODUCERS = ("wire", "sbndwire", "data", "adc")

EventKey = tuple[int, int, int]
#: Images of one entry of a product: (plane, image) in the file's order.
PlaneImages = list[tuple[int, np.ndarray]]


def split_product(product: str) -> tuple[str, int | None]:
    """(NAME, K) of ``NAME#K``; K is None without ``#``."""
    name, sep, k = product.partition("#")
    if sep and not k.isdigit():
        raise LarsegError(f"product '{product}': the image index after # must be a number")
    return name, int(k) if sep else None


def plane_product(name: str, plane: int) -> str:
    """The product of ``plane`` of a per-plane name (``uburn_plane{plane}``), else ``name``."""
    return name.replace("{plane}", str(plane))


def event_tag(key: EventKey) -> str:
    return "/".join(map(str, key))


class ProductFile:
    """Image products of a larcv3 or larcv1/2 ROOT file: dense (rows = time, columns = wires)
    float32 images of one entry, with their planes, and the entries' (run, subrun, event)."""

    def __init__(self, path: Path, time_reversed: bool = False) -> None:
        from .root import is_root_file

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
            from . import Larcv3Reader
            from . import larcv3_schema as S

            self._reader = Larcv3Reader(self.path)
            found = {(p.producer, p.type) for p in self._reader.products()}
            self._type = {p: t for t in (S.IMAGE2D, S.SPARSE2D) for p, tt in found if tt == t}
            self.names = sorted(self._type)

    def require(self, name: str) -> None:
        if name not in self.names:
            raise ProductNotFoundError(f"file {self.path}: no image product '{name}'; it holds: "
                                       f"{', '.join(self.names) or 'none'}")

    def _root_file(self, name: str):
        rf = self._open.get(name)
        if rf is None:
            from .root import RootImageFile

            # one entry at a time: a block of 16 full MicroBooNE entries is ~0.7 GB
            rf = self._open[name] = RootImageFile(self.path, name, block_size=1,
                                                  time_reversed=self.time_reversed)
        return rf

    def ids(self, name: str) -> np.ndarray:
        """(entries, 3) int64 run, subrun, event of the entries of product ``name``."""
        self.require(name)
        if name not in self._ids:
            if self.root:
                ids = self._root_file(name).event_ids()
            else:
                raw = self._reader.event_ids()
                ids = np.stack([raw[f] for f in raw.dtype.names], axis=1) if raw.dtype.names \
                    else np.asarray(raw).reshape(-1, 3)
            self._ids[name] = ids.astype(np.int64)
        return self._ids[name]

    def images(self, name: str, entry: int, fill: float) -> PlaneImages:
        """(plane, image) of every image of product ``name`` at ``entry``; a sparse product's
        pixels without a value hold ``fill``. Each product's last entry read is kept: the
        images of one event are asked for plane by plane."""
        self.require(name)
        hit = self._last.get(name)
        if hit is None or hit[0] != (entry, repr(fill)):
            hit = self._last[name] = ((entry, repr(fill)), self._read_images(name, entry, fill))
        return hit[1]

    def _read_images(self, name: str, entry: int, fill: float) -> PlaneImages:
        if self.root:
            return [(img.plane, img.dense()) for img in self._root_file(name)[entry].planes]
        from . import larcv3_schema as S

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


def find_adc(name: str | None, *files: ProductFile) -> tuple[ProductFile, str]:
    """(file, producer) of the ADC images: ``name`` or the first of :data:`ADC_PRODUCERS`,
    looked for in each of ``files`` in turn."""
    for f in files:
        for cand in ([name] if name else ADC_PRODUCERS):
            if cand in f.names:
                return f, cand
    what = f"'{name}'" if name else "any of " + ", ".join(ADC_PRODUCERS)
    raise ProductNotFoundError(f"no ADC product {what} in " + " or ".join(
        f"{f.path} (it holds: {', '.join(f.names) or 'none'})" for f in files))


@dataclass(frozen=True)
class EventImages:
    """One event: the ADC image of each plane and, per source, per plane, the images of the
    source's products (in their order), each of the ADC image's shape."""

    entry: int
    key: EventKey
    planes: tuple[int, ...]
    adc: dict[int, np.ndarray]
    sources: tuple[dict[int, list[np.ndarray]], ...]


class EventReader:
    """Reads the events of the first source's first product with the ADC and the other
    products' images of the same event (see the module)."""

    def __init__(self, sources: Sequence[tuple[ProductFile, Sequence[str]]],
                 adc: tuple[ProductFile, str]) -> None:
        self.sources = [(f, tuple(products)) for f, products in sources]
        self.adc = adc
        self._maps: dict[tuple[str, str], dict[EventKey, int]] = {}
        for f, products in self.sources:
            for p in products:
                name, _ = split_product(p)
                if "{plane}" not in name:
                    f.require(name)
        adc[0].require(adc[1])
        self.file = self.sources[0][0]
        # the product whose entries are the events read (plane 0's of a per-plane one)
        self.driver = plane_product(split_product(self.sources[0][1][0])[0], 0)

    def __len__(self) -> int:
        return len(self.file.ids(self.driver))

    def key(self, entry: int) -> EventKey:
        return tuple(int(v) for v in self.file.ids(self.driver)[entry])

    def entry(self, f: ProductFile, name: str, entry: int, key: EventKey) -> int:
        """The entry of product ``name`` of file ``f`` holding the event of driving entry
        ``entry`` (same entry in the same file, else found by run/subrun/event)."""
        ids = f.ids(name)
        tag = event_tag(key)
        if f is self.file:
            if entry >= len(ids) or tuple(ids[entry]) != key:
                raise LarsegError(f"file {f.path}, product '{name}': entry {entry} is not event "
                                  f"{tag} as in product '{self.driver}'")
            return entry
        table = self._maps.get((str(f.path), name))
        if table is None:
            table = {}
            for i, row in enumerate(map(tuple, ids.tolist())):
                table[row] = -1 if row in table else i  # -1: seen twice
            self._maps[(str(f.path), name)] = table
        i = table.get(key)
        if i is None:
            raise LarsegError(f"file {f.path}, product '{name}': no event {tag} (run/subrun/"
                              f"event of entry {entry} of {self.file.path}); it holds "
                              f"{len(ids)} events")
        if i < 0:
            raise LarsegError(f"file {f.path}, product '{name}': event {tag} appears in more "
                              "than one entry: cannot match it")
        return i

    def plane_image(self, f: ProductFile, product: str, plane: int, entry: int,
                    key: EventKey, fill: float) -> np.ndarray:
        """The image of ``plane`` of ``product`` (``NAME``, ``NAME#K``, ``{plane}``) of file
        ``f`` for the event of driving entry ``entry``."""
        name, k = split_product(product)
        real = plane_product(name, plane)
        got = f.images(real, self.entry(f, real, entry, key), fill)
        imgs = [im for p, im in got if "{plane}" in name or p == plane]
        where = f"file {f.path}, event {event_tag(key)}, product '{real}'"
        if not imgs:
            raise LarsegError(f"{where}: no image of plane {plane} (it holds planes "
                              f"{sorted({p for p, _ in got})})")
        if k is None and len(imgs) > 1:
            raise LarsegError(f"{where}: {len(imgs)} images of plane {plane}; pick one with "
                              f"'{name}#K'")
        if k is not None and k >= len(imgs):
            raise LarsegError(f"{where}: no image #{k} of plane {plane} ({len(imgs)} images)")
        return imgs[0 if k is None else k]

    def read(self, entry: int, planes: Sequence[int] | None = None,
             fill: float = np.nan) -> EventImages:
        """Driving entry ``entry``: the ADC (sparse pixels without a value: 0) and the
        sources' images (``fill``) of ``planes`` (default: the planes of the driving product,
        all the ADC's planes for a per-plane one)."""
        key = self.key(entry)
        tag = event_tag(key)
        adc_file, adc_name = self.adc
        adc_all = dict(adc_file.images(adc_name, self.entry(adc_file, adc_name, entry, key),
                                       0.0))
        if planes is None:
            first, _ = split_product(self.sources[0][1][0])
            planes = sorted(adc_all) if "{plane}" in first else sorted(
                p for p, _ in self.file.images(first, entry, fill))
        adc: dict[int, np.ndarray] = {}
        sources: tuple[dict[int, list[np.ndarray]], ...] = tuple({} for _ in self.sources)
        for p in planes:
            if p not in adc_all:
                raise LarsegError(f"file {adc_file.path}, event {tag}, product '{adc_name}': "
                                  f"no image of plane {p}")
            adc[p] = adc_all[p]
            for (f, products), out in zip(self.sources, sources):
                out[p] = [self._checked(f, prod, p, entry, key, fill, adc[p])
                          for prod in products]
        return EventImages(entry, key, tuple(planes), adc, sources)

    def _checked(self, f: ProductFile, product: str, plane: int, entry: int, key: EventKey,
                 fill: float, adc: np.ndarray) -> np.ndarray:
        im = self.plane_image(f, product, plane, entry, key, fill)
        if im.shape != adc.shape:
            adc_file, adc_name = self.adc
            raise LarsegError(
                f"file {f.path}, event {event_tag(key)}, product '{product}', plane {plane}: "
                f"image of {im.shape[0]} rows × {im.shape[1]} wires, but the ADC ('{adc_name}' "
                f"of {adc_file.path}) is {adc.shape[0]} × {adc.shape[1]}")
        return im
