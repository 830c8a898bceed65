"""larcv1 / larcv2 ROOT image2d files: the public files of ../shared/data/root and files written
here with uproot in larcv1's member layout (uproot cannot write larcv's nested TBranchElements:
the members are flat branches with larcv's names, which the reader finds by name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from larseg.errors import FileFormatError, ProductNotFoundError
from larseg.io import open_events
from larseg.io.root import RootImageFile, is_root_file

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")

ROOT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "root"
_HAVE = (ROOT_DIR / "larcv2_example.root").exists()
if not _HAVE and os.environ.get("CI"):
    raise RuntimeError(f"public ROOT files not found in {ROOT_DIR} (CI is set: must not skip)")
needs_public = pytest.mark.skipif(not _HAVE, reason=f"public ROOT files not in {ROOT_DIR}")


@needs_public
def test_public_larcv2_file_reads_with_its_documented_counts():
    f = RootImageFile(ROOT_DIR / "larcv2_example.root")
    assert f.layout == "larcv2" and len(f) == 5 and f.products == ["wire"]
    ev = f[0]
    assert (ev.run, ev.subrun, ev.event) == (1, 0, 1)
    assert [(p.meta.n_ticks, p.meta.n_wires) for p in ev.planes] == [(512, 512)] * 3
    # the README of ../shared/data/root: pixels > 0 and the maxima of entry 0
    assert [int((p.values > 0).sum()) for p in ev.planes] == [34_606, 38_914, 7_172]
    assert [round(float(p.values.max())) for p in ev.planes] == [204, 714, 168]
    ev.validate()


@needs_public
def test_public_larcv1_file_layout_and_empty_entries():
    f = RootImageFile(ROOT_DIR / "larcv1_image2d_empty.root")
    assert f.layout == "larcv1" and len(f) == 10 and f.producer == "foo"
    with pytest.raises(FileFormatError, match=r"entry 0 \(7014/535/26751\).*no images"):
        f[0]
    with pytest.raises(ProductNotFoundError, match="it holds: foo"):
        RootImageFile(ROOT_DIR / "larcv1_image2d_empty.root", producer="wire")


def _write_larcv1(path: Path, images: list[list[np.ndarray]], ids=((5, 6, 7),)) -> None:
    """images[entry][plane]: dense (rows, cols) arrays, stored column-major as larcv1 does."""
    flat = [[img.T.reshape(-1).astype(np.float32) for img in ev] for ev in images]
    n = len(images)
    with uproot.recreate(path) as f:
        f["image2d_wire_tree"] = {
            "_run": np.array([r for r, _, _ in ids[:n]], np.uint64),
            "_subrun": np.array([s for _, s, _ in ids[:n]], np.uint64),
            "_event": np.array([e for _, _, e in ids[:n]], np.uint64),
            "_image_v._img": ak.Array(flat),
            "_image_v._meta._plane": ak.Array([[np.uint16(p) for p in range(len(ev))]
                                               for ev in images]),
            "_image_v._meta._row_count": ak.Array([[np.uint64(i.shape[0]) for i in ev]
                                                   for ev in images]),
            "_image_v._meta._col_count": ak.Array([[np.uint64(i.shape[1]) for i in ev]
                                                   for ev in images]),
        }


def test_written_larcv1_file_is_read_column_major(tmp_path):
    rng = np.random.default_rng(0)
    planes = [np.where(rng.random((6, 9)) < 0.3, rng.uniform(5, 300, (6, 9)), 0.0)
              for _ in range(3)]
    planes[2][5, 1] = 123.0  # an asymmetric marker: row 5 (a late tick), column 1
    path = tmp_path / "wire.root"
    _write_larcv1(path, [planes])
    assert is_root_file(path)
    f = open_events(path)
    assert isinstance(f, RootImageFile) and f.layout == "larcv1" and len(f) == 1
    ev = f[0]
    assert (ev.run, ev.subrun, ev.event) == (5, 6, 7)
    for img, want in zip(ev.planes, planes):
        np.testing.assert_allclose(img.dense(), want, rtol=1e-6)
    y = ev.planes[2]
    assert y.dense()[5, 1] == pytest.approx(123.0)
    flipped = RootImageFile(path, time_reversed=True)[0].planes[2]
    assert flipped.dense()[0, 1] == pytest.approx(123.0)  # row 5 of 6 becomes row 0


def test_truncated_image_names_file_entry_and_image(tmp_path):
    path = tmp_path / "bad.root"
    img = np.ones((4, 5))
    _write_larcv1(path, [[img]])
    # rewrite with a wrong row count
    with uproot.recreate(path) as f:
        f["image2d_wire_tree"] = {
            "_run": np.array([1], np.uint64), "_subrun": np.array([2], np.uint64),
            "_event": np.array([3], np.uint64),
            "_image_v._img": ak.Array([[img.reshape(-1).astype(np.float32)]]),
            "_image_v._meta._plane": ak.Array([[np.uint16(0)]]),
            "_image_v._meta._row_count": ak.Array([[np.uint64(7)]]),
            "_image_v._meta._col_count": ak.Array([[np.uint64(5)]]),
        }
    with pytest.raises(FileFormatError, match=r"bad\.root, entry 0 \(1/2/3\), image 0: 20 pixels "
                                               r"for 7 rows × 5 columns"):
        RootImageFile(path)[0]


def test_info_and_display_work_on_a_root_file(tmp_path):
    planes = [np.pad(np.full((3, 3), 50.0), ((10, 10), (20, 20))) for _ in range(3)]
    path = tmp_path / "w.root"
    _write_larcv1(path, [planes])
    larseg = str(Path(sys.executable).with_name("larseg"))
    info = subprocess.run([larseg, "info", str(path), "--json"], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    import json

    summary = json.loads(info.stdout)
    assert summary["format"] == "larcv1" and summary["n_events"] == 1
    assert [p["mean_active_pixels"] for p in summary["planes"]] == [9.0, 9.0, 9.0]
    shown = subprocess.run([larseg, "display", str(path), "-o", str(tmp_path), "--no-html"],
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "w_event0.png").stat().st_size > 10_000
