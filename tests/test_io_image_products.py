"""larseg.io.image_products on small files written here: the same images in a larcv1 ROOT file
(MicroBooNE's member layout, flat branches) and in larcv3 image2d / sparse2d products read back
alike, events of two files matched by (run, subrun, event), and the errors naming file, event
and product; RootImageFile.event_ids against the ids of the events it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from larseg.errors import LarsegError, ProductNotFoundError
from larseg.io import Image2D, ImageMeta2D, Larcv3Writer, Sparse2D
from larseg.io.image_products import (EventReader, ProductFile, find_adc, plane_product,
                                      split_product)

from tests.factories import write_larcv1_root

pytest.importorskip("uproot")

IDS = ((9, 1, 4), (9, 1, 5), (9, 2, 1))
ROWS, COLS = 6, 8


def _images(seed: int, n_planes: int = 3) -> np.ndarray:
    """(events, planes, rows, columns): charge on ~half the pixels, the rest exactly 0."""
    rng = np.random.default_rng(seed)
    shape = (len(IDS), n_planes, ROWS, COLS)
    return np.where(rng.random(shape) < 0.5, rng.uniform(1, 100, shape), 0).astype(np.float32)


def _per_plane(x: np.ndarray) -> list:
    return [list(enumerate(ev)) for ev in x]


def _add_tree(src: Path, name: str, dst: Path) -> None:
    """Copies image2d tree ``name`` of ``src`` into ``dst``: trees of one file whose entries
    hold other events (one write_root call gives all its trees the same ids)."""
    import uproot

    arrays = uproot.open(src)[f"image2d_{name}_tree"].arrays(library="ak")
    with uproot.update(dst) as f:
        f[f"image2d_{name}_tree"] = {k: arrays[k] for k in arrays.fields}


def _meta(p: int) -> ImageMeta2D:  # larcv axis 0 = wire, axis 1 = row
    return ImageMeta2D(p, (COLS, ROWS), (COLS * 0.3, ROWS * 0.3))


def _sparse(x: np.ndarray) -> list[Sparse2D]:
    out = []
    for p, im in enumerate(x):
        rows, cols = np.nonzero(im)
        out.append(Sparse2D(_meta(p), cols * ROWS + rows, im[rows, cols]))
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("image_products")
    wire, score = _images(1), _images(2)
    two = _images(3)  # a second image of each plane, as uburn_plane<p> carries
    root = d / "a.root"
    write_larcv1_root(root, {"wire": _per_plane(wire), "score": _per_plane(score),
                      **{f"pair{p}": [[(p, score[e, p]), (p, two[e, p])] for e in range(3)]
                         for p in range(3)}}, ids=IDS)
    h5 = d / "b.h5"  # the events in another order
    with Larcv3Writer(h5) as w:
        for e in (2, 0, 1):
            w.write_event(*IDS[e], sparse2d={"sp": _sparse(score[e])},
                          image2d={"im": [Image2D(_meta(p), score[e, p].T) for p in range(3)]})
    return root, h5, {"wire": wire, "score": score, "two": two}


def test_root_event_ids_are_those_of_the_events_read(files):
    from larseg.io.root import RootImageFile

    root, _, _ = files
    with RootImageFile(root, "score") as rf:
        ids = rf.event_ids()
        assert ids.dtype == np.int64 and ids.tolist() == [list(i) for i in IDS]
        assert [[ev.run, ev.subrun, ev.event] for ev in rf] == ids.tolist()


def test_root_image2d_larcv3_image2d_and_sparse2d_read_alike(files):
    root, h5, a = files
    r, h = ProductFile(root), ProductFile(h5)
    try:
        assert r.root and not h.root and h.names == ["im", "sp"]
        np.testing.assert_array_equal(r.ids("score"), IDS)
        np.testing.assert_array_equal(h.ids("sp"), [IDS[2], IDS[0], IDS[1]])
        for entry, e in ((0, 2), (1, 0), (2, 1)):
            dense = h.images("im", entry, np.nan)
            sparse = h.images("sp", entry, -7.0)
            assert [p for p, _ in dense] == [p for p, _ in sparse] == [0, 1, 2]
            for p in range(3):
                want = a["score"][e, p]
                np.testing.assert_array_equal(dense[p][1], want)
                on = want != 0  # a sparse product's pixels without a value hold the fill
                np.testing.assert_array_equal(sparse[p][1][on], want[on])
                assert np.all(sparse[p][1][~on] == -7.0)
                np.testing.assert_array_equal(dict(r.images("score", e, 0.0))[p], want)
        flipped = ProductFile(root, time_reversed=True)
        np.testing.assert_array_equal(flipped.images("wire", 1, 0.0)[2][1],
                                      a["wire"][1, 2][::-1])
        flipped.close()
        with pytest.raises(ProductNotFoundError, match=f"file {h5}: no image product 'wire'; "
                                                       "it holds: im, sp"):
            h.images("wire", 0, 0.0)
    finally:
        r.close()
        h.close()


def test_reader_matches_another_files_events_and_picks_images(files):
    root, h5, a = files
    r, h = ProductFile(root), ProductFile(h5)
    try:
        reader = EventReader([(r, ("pair{plane}#1", "pair{plane}#0")), (h, ("sp",))],
                             find_adc(None, r, h))
        assert reader.adc == (r, "wire") and reader.driver == "pair0" and len(reader) == 3
        for e in range(3):
            im = reader.read(e)
            assert im.entry == e and im.key == IDS[e] and im.planes == (0, 1, 2)
            for p in range(3):
                np.testing.assert_array_equal(im.adc[p], a["wire"][e, p])
                first, second = im.sources[0][p]  # #1 is the second image of the plane
                np.testing.assert_array_equal(first, a["two"][e, p])
                np.testing.assert_array_equal(second, a["score"][e, p])
                (ref,) = im.sources[1][p]  # the larcv3 entry holding the same event
                on = a["score"][e, p] != 0
                np.testing.assert_array_equal(ref[on], a["score"][e, p][on])
                assert np.isnan(ref[~on]).all()
        assert reader.read(1, planes=[2]).planes == (2,)
    finally:
        r.close()
        h.close()


def test_errors_name_the_file_the_event_and_the_product(files, tmp_path: Path):
    root, h5, a = files
    r, h = ProductFile(root), ProductFile(h5)
    twice = tmp_path / "twice.root"
    write_larcv1_root(twice, {"score": _per_plane(a["score"])}, ids=(IDS[0], IDS[1], IDS[1]))
    mixed = tmp_path / "mixed.root"
    write_larcv1_root(mixed, {"wire": _per_plane(a["wire"])}, ids=IDS)
    t = ProductFile(twice)
    try:
        with pytest.raises(LarsegError, match=f"file {twice}, product 'score': event 9/1/5 "
                                              "appears in more than one entry"):
            EventReader([(r, ("score",)), (t, ("score",))], (r, "wire")).read(1)
        # a product of the driving file whose entry holds another event than the driver's
        _add_tree(twice, "score", mixed)
        m = ProductFile(mixed)
        reader = EventReader([(m, ("wire", "score"))], (m, "wire"))
        assert reader.read(1).key == IDS[1]  # entries 0 and 1 hold the same events
        with pytest.raises(LarsegError, match=f"file {mixed}, product 'score': entry 2 is not "
                                              "event 9/2/1 as in product 'wire'"):
            reader.read(2)
        m.close()
        reader = EventReader([(r, ("pair{plane}",))], (r, "wire"))
        where = rf"file {root}, event 9/1/4, product "
        with pytest.raises(LarsegError, match=where + r"'pair0': 2 images of plane 0; pick one "
                                                      r"with 'pair\{plane\}#K'"):
            reader.read(0)
        with pytest.raises(LarsegError, match=where + r"'pair0': no image #2 of plane 0 \(2 "):
            EventReader([(r, ("pair{plane}#2",))], (r, "wire")).read(0)
        with pytest.raises(LarsegError, match=where + r"'pair1': no image of plane 0 \(it "
                                                      r"holds planes \[1\]\)"):
            reader.plane_image(r, "pair1#0", 0, 0, IDS[0], np.nan)
        with pytest.raises(LarsegError, match="the image index after # must be a number"):
            EventReader([(r, ("score#x",))], (r, "wire"))
        with pytest.raises(ProductNotFoundError, match=f"no ADC product any of wire, sbndwire, "
                                                       f"data, adc in {h5} "):
            find_adc(None, h)
        assert find_adc("score", h, r) == (r, "score")
    finally:
        for f in (r, h, t):
            f.close()


def test_product_names():
    assert split_product("uburn_plane{plane}#1") == ("uburn_plane{plane}", 1)
    assert split_product("wire") == ("wire", None)
    assert plane_product("uburn_plane{plane}", 2) == "uburn_plane2"
    assert plane_product("wire", 2) == "wire"
