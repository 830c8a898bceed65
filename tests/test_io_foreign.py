"""Files larseg did not write: other voxel sets per product, dense images only, producer names."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

from larseg.errors import ProductNotFoundError
from larseg.io import (MICROBOONE, SBND, EventFile, Larcv3Writer, ProducerNames,
                       producers_for_detector, resolve_producers, write_events)
from larseg.io import larcv3_schema as S
from larseg.io.products import Cluster2D, Image2D, ImageMeta2D, ProductInfo, Sparse2D
from larseg.io.summary import summarise_file
from tests.factories import toy_event

META = [ImageMeta2D(p, (3456, 1008), (3456 * 0.3, 1008 * 0.3294)) for p in range(3)]


def _write(path, **products):
    with Larcv3Writer(path) as w:
        w.write_event(1, 2, 3, **products)


def test_labels_on_other_voxel_sets(tmp_path):
    adc_ids = np.array([10, 20, 30, 40], np.uint64)
    adc = [Sparse2D(m, adc_ids, [1.0, 2.0, 3.0, 4.0]) for m in META]
    # cosmic product: only the non-zero labels, plus two voxels the ADC lacks (on plane 0)
    cos = [Sparse2D(META[0], [5, 20, 40, 99], [1, 2, 1, 2])] + \
          [Sparse2D(m, [30], [2]) for m in META[1:]]
    sem = [Sparse2D(m, [10, 20], [4, 0]) for m in META]
    clusters = [Cluster2D.from_clusters(m, [(0, [10, 20], [1.0, 2.0]), (1, [20, 77], [5.0, 1.0])])
                for m in META]
    path = tmp_path / "f.h5"
    _write(path, sparse2d={"wire": adc, "cosmicseg": cos, "semantic": sem},
           cluster2d={"instance": clusters})
    f = EventFile(path)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ev = f[0]
    messages = [str(w.message) for w in rec]
    assert len(messages) == 4 and all(str(path) in m and "entry 0 (1/2/3)" in m for m in messages)
    assert sum("plane0.cosmic: 2 voxel(s) without an ADC voxel dropped" in m for m in messages) == 1
    assert sum("particle_charge: 1 voxel(s)" in m for m in messages) == 3
    p0 = ev.planes[0]
    assert p0.cosmic.tolist() == [0, 2, 0, 1]          # absent -> background
    assert p0.semantic.tolist() == [4, 0, -1, -1]      # absent -> no label
    assert p0.instance.tolist() == [0, 1, -1, -1]      # pixel 20: cluster 1 has more charge
    assert f.dropped_voxels == 2 + 3  # cosmic voxels 5, 99 on plane 0; voxel 77 on 3 planes
    assert ev.planes[1].cosmic.tolist() == [0, 0, 2, 0]


def test_dense_image2d_only(tmp_path):
    meta = ImageMeta2D(0, (2048, 1280), (614.4, 1280 * 0.3126))
    images = []
    for p in range(3):
        data = np.zeros((2048, 1280), np.float32)
        data[100 + p, 50] = 7.0    # wire 100 + p, tick 50
        data[5, 1279] = 3.0
        images.append(Image2D(ImageMeta2D(p, meta.number_of_voxels, meta.image_sizes), data))
    path = tmp_path / "dense.h5"
    _write(path, image2d={"sbndwire": images})
    f = EventFile(path)
    assert f.producers.adc == "sbndwire" and f.producers.cosmic is None
    ev = f[0]
    assert ev.detector.name == "sbnd"
    assert ev.detector.planes == SBND_META_PLANES()
    assert ev.planes[2].coords.tolist() == [[1279, 5], [50, 102]]  # (time, wire), id order
    assert ev.planes[2].values.tolist() == [3.0, 7.0]


def SBND_META_PLANES():
    from larseg.detectors import meta_for
    return meta_for("sbnd").planes


def test_unknown_detector_meta(tmp_path):
    meta = ImageMeta2D(0, (64, 32), (64 * 0.4, 32 * 0.25), origin=(1.5, -2.0))
    _write(tmp_path / "u.h5", sparse2d={"adc": [Sparse2D(meta, [3, 70], [1.0, 2.0])]})
    f = EventFile(tmp_path / "u.h5")
    assert f.producers == ProducerNames("adc")  # the file's only image product
    ev = f[0]
    assert ev.detector.name == "unknown"
    pm = ev.detector.planes[0]
    assert (pm.n_wires, pm.n_ticks, pm.wire_pitch, pm.tick_pitch, pm.origin) == \
        (64, 32, 0.4, 0.25, (1.5, -2.0))
    assert ev.planes[0].coords.tolist() == [[3, 0], [6, 2]]  # id 70 = wire 2 * 32 + tick 6


def test_producer_presets_and_detection():
    assert producers_for_detector("sbnd") == SBND
    assert producers_for_detector("MicroBooNE") == MICROBOONE
    assert producers_for_detector("dune") == MICROBOONE
    prods = [ProductInfo("sparse2d", "sbndwire", 3), ProductInfo("sparse2d", "sbnd_cosmicseg", 3),
             ProductInfo("cluster2d", "sbndsegmerged", 3),
             ProductInfo("particle", "sbndneutrino", 0)]
    r = resolve_producers(prods)
    assert r == ProducerNames("sbndwire", "sbnd_cosmicseg", None, "sbndsegmerged", None,
                              "sbndneutrino")
    assert resolve_producers(prods, {"cosmic": None}).cosmic is None
    with pytest.raises(ProductNotFoundError, match=r"no sparse2d product 'nope' for semantic.*"
                                                   r"sparse2d 'sbndwire'"):
        resolve_producers(prods, {"semantic": "nope"}, "x.h5")
    with pytest.raises(ProductNotFoundError, match="cannot tell which product holds the ADC"):
        resolve_producers([ProductInfo("sparse2d", "a", 3), ProductInfo("sparse2d", "b", 3)])
    with pytest.raises(ValueError, match="unknown producer field"):
        resolve_producers(prods, {"adcs": "x"})


def test_override_producers_on_read(tmp_path):
    ev = toy_event("microboone", seed=3)
    names = ProducerNames("myadc", "mycosmic", "mysem", "myclusters", "myparts", "mynu")
    write_events(tmp_path / "o.h5", [ev], names)
    with pytest.raises(ProductNotFoundError, match="sparse2d 'myadc'"):
        EventFile(tmp_path / "o.h5")   # no preset matches: the message lists the products
    f = EventFile(tmp_path / "o.h5", producers=names)
    assert f[0].particles == ev.particles
    f2 = EventFile(tmp_path / "o.h5", producers={"adc": "myadc", "cosmic": "mycosmic"})
    assert f2.producers.semantic is None and f2[0].planes[0].cosmic is not None


def test_summary(tmp_path):
    events = [toy_event("sbnd", seed=s, event=s) for s in range(3)]
    write_events(tmp_path / "s.h5", events, SBND)
    s = summarise_file(tmp_path / "s.h5", max_events=2)
    assert s["n_events"] == 3 and s["events_scanned"] == 2 and s["detector"] == "sbnd"
    assert {"type": S.SPARSE2D, "producer": "sbndwire", "n_planes": 3} in s["products"]
    p = s["planes"][0]
    assert p["mean_active_pixels"] == np.mean([len(e.planes[0]) for e in events[:2]])
    fr = p["label_fractions"]
    # counted here from the events themselves, pixel by pixel
    planes = [e.planes[0] for e in events[:2]]
    total = sum(len(img) for img in planes)
    for code, name in enumerate(("background", "cosmic", "neutrino")):
        n = sum(int(np.sum(img.cosmic == code)) for img in planes)
        assert fr[name] == pytest.approx(n / total, abs=1e-12)
    for code, name in enumerate(("HIP", "MIP", "shower", "delta", "Michel")):
        n = sum(int(np.sum(img.semantic == code)) for img in planes)
        assert fr[name] == pytest.approx(n / total, abs=1e-12)
    assert fr["no label"] == pytest.approx(
        sum(int(np.sum(img.semantic == -1)) for img in planes) / total, abs=1e-12)
    assert 0 < fr["cosmic"] < 1


def test_particles_of_another_layout(tmp_path):
    p = tmp_path / "old.h5"
    _write(p, sparse2d={"wire": [Sparse2D(m, [1], [1.0]) for m in META]})
    with h5py.File(p, "r+") as f:  # a particle table with fewer fields, in another order
        g = f["Data"].create_group("particle_mctruth_group")
        ext = np.zeros(1, S.EXTENTS_DTYPE)
        ext["N"] = 2
        g.create_dataset("extents", data=ext, maxshape=(None,))
        rows = np.zeros(2, [("pdg", "<i4"), ("trackid", "<u4"), ("energy_init", "<f8")])
        rows["pdg"], rows["trackid"], rows["energy_init"] = [13, 2212], [1, 2], [100.0, 50.0]
        g.create_dataset("particles", data=rows, maxshape=(None,))
    parts = EventFile(p)[0].particles
    assert [(q.pdg, q.energy_init) for q in parts] == [(13, 100.0), (2212, 50.0)]
    assert [q.parent_id for q in parts] == [-1, -1]  # parent trackid unset (invalid)
