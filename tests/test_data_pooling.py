"""Label-consistent sparse downsampling (larseg.data.pooling) against dense references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from larseg.data import DenseDataset, Downsample, PlaneArrays, downsample_plane
from larseg.labels import CosmicLabel, SemanticLabel
from tests.factories import toy_event


def _plane(coords, values, shape, cosmic=None, semantic=None, instance=None) -> PlaneArrays:
    return PlaneArrays(plane=0, shape=shape, coords=np.array(coords, dtype=np.int64).reshape(-1, 2),
                       values=np.array(values, dtype=np.float32), cosmic=cosmic,
                       semantic=semantic, instance=instance)


def _dense_pool(img: np.ndarray, f: int, how: str) -> np.ndarray:
    h, w = img.shape
    hp, wp = -(-h // f), -(-w // f)
    pad = np.zeros((hp * f, wp * f), img.dtype)
    pad[:h, :w] = img
    blocks = pad.reshape(hp, f, wp, f)
    return {"sum": blocks.sum(axis=(1, 3)), "max": blocks.max(axis=(1, 3)),
            "mean": blocks.mean(axis=(1, 3))}[how]


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("detector", ["sbnd", "microboone"])
def test_sum_pool_keeps_total_charge_per_plane(detector, factor):
    ev = toy_event(detector, seed=3)
    for img in ev.planes:
        pooled = downsample_plane(PlaneArrays.from_plane(img), factor, "sum")
        assert pooled.values.sum() == pytest.approx(float(img.values.astype(np.float64).sum()),
                                                    rel=1e-6)
        assert pooled.shape == (-(-img.meta.n_ticks // factor), -(-img.meta.n_wires // factor))
        # every pooled pixel is the parent of at least one child and no two are equal
        assert np.unique(pooled.coords, axis=0).shape[0] == len(pooled)
        assert set(map(tuple, pooled.coords)) == set(map(tuple, img.coords // factor))


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 13), st.integers(3, 13), st.sampled_from([2, 3, 4]),
       st.sampled_from(["sum", "max", "mean"]), st.integers(0, 2**31 - 1))
def test_pooled_values_match_dense_pooling(h, w, factor, how, seed):
    rng = np.random.default_rng(seed)
    occupied = rng.random((h, w)) < 0.4
    coords = np.argwhere(occupied)
    values = rng.uniform(0.5, 100.0, len(coords)).astype(np.float32)
    pa = _plane(coords, values, (h, w))
    pooled = downsample_plane(pa, factor, how)
    dense = np.zeros((h, w), np.float64)
    dense[coords[:, 0], coords[:, 1]] = values
    ref = _dense_pool(dense, factor, how)
    got = np.zeros_like(ref)
    got[pooled.coords[:, 0], pooled.coords[:, 1]] = pooled.values
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


def test_neutrino_pixel_survives_max_pooling_next_to_brighter_cosmic():
    # one 2x2 block: bright cosmic (200 ADC), faint neutrino (12 ADC), background noise (30 ADC)
    pa = _plane([[0, 0], [0, 1], [1, 0], [3, 3]], [200.0, 12.0, 30.0, 50.0], (4, 4),
                cosmic=np.array([1, 2, 0, 1], np.int8),
                semantic=np.array([1, 4, -1, 1], np.int8),
                instance=np.array([0, 5, -1, 0], np.int32))
    for how in ("sum", "max", "mean"):
        pooled = downsample_plane(pa, 2, how)
        lab = dict(zip(map(tuple, pooled.coords), pooled.cosmic))
        assert lab[(0, 0)] == CosmicLabel.NEUTRINO
        assert lab[(1, 1)] == CosmicLabel.COSMIC
        sem = dict(zip(map(tuple, pooled.coords), pooled.semantic))
        # semantic follows the highest-charge *labelled* child: the cosmic MIP, not the noise
        assert sem[(0, 0)] == SemanticLabel.MIP
        inst = dict(zip(map(tuple, pooled.coords), pooled.instance))
        assert inst[(0, 0)] == 0


def test_unlabelled_child_wins_only_when_no_child_is_labelled():
    pa = _plane([[0, 0], [1, 1], [2, 2], [3, 3]], [500.0, 20.0, 40.0, 60.0], (4, 4),
                semantic=np.array([-1, 2, -1, -1], np.int8))
    pooled = downsample_plane(pa, 2, "sum")
    sem = dict(zip(map(tuple, pooled.coords), pooled.semantic))
    assert sem == {(0, 0): SemanticLabel.SHOWER, (1, 1): -1}


def test_every_block_with_a_neutrino_child_is_neutrino_after_pooling():
    ev = toy_event("sbnd", seed=5)
    for img in ev.planes:
        for factor in (2, 4):
            pooled = downsample_plane(PlaneArrays.from_plane(img), factor, "max")
            nu_blocks = {tuple(c) for c in img.coords[img.cosmic == 2] // factor}
            got = {tuple(c) for c in pooled.coords[pooled.cosmic == 2]}
            assert nu_blocks and got == nu_blocks
            # and the pooled cosmic label is the maximum over the children (dense reference)
            ref = _dense_pool(img.dense("cosmic"), factor, "max")
            np.testing.assert_array_equal(ref[pooled.coords[:, 0], pooled.coords[:, 1]],
                                          pooled.cosmic)


def test_particle_charge_is_summed_per_particle_and_event_round_trips():
    ev = toy_event("microboone", seed=7)
    pooled_ev = Downsample(2, "sum")(ev)
    pooled_ev.validate()
    for before, after in zip(ev.planes, pooled_ev.planes):
        assert after.meta.n_ticks == before.meta.n_ticks // 2
        assert after.meta.wire_pitch == pytest.approx(2 * before.meta.wire_pitch)
        for pid in np.unique(before.particle_charge.particle):
            q0 = before.particle_charge.charge[before.particle_charge.particle == pid].sum()
            q1 = after.particle_charge.charge[after.particle_charge.particle == pid].sum()
            assert q1 == pytest.approx(q0, rel=1e-5)
        # per-particle charge sits in the pooled pixel of its children
        pc0, pc1 = before.particle_charge, after.particle_charge
        parents0 = {(tuple(before.coords[i] // 2), int(p)) for i, p in zip(pc0.pixel, pc0.particle)}
        parents1 = {(tuple(after.coords[i]), int(p)) for i, p in zip(pc1.pixel, pc1.particle)}
        assert parents0 == parents1


@pytest.mark.parametrize("factor, shape", [(1, (1280, 2048)), (2, (640, 1024)), (4, (320, 512))])
def test_dense_dataset_downsampling_shapes_and_charge(factor, shape):
    ev = toy_event("sbnd", seed=2)
    item = DenseDataset([ev], downsample=factor, pool="sum")[0]
    assert tuple(item["image"].shape) == (3, *shape)
    total = sum(float(p.values.astype(np.float64).sum()) for p in ev.planes)
    assert float(item["image"].double().sum()) == pytest.approx(total, rel=1e-6)
    assert item["scale"].tolist() == [factor] * 3
    # neutrino pixels of every plane survive in the label image
    for k, img in enumerate(ev.planes):
        assert int((item["label"][k] == 2).sum()) == len({tuple(c) for c in
                                                          img.coords[img.cosmic == 2] // factor})


def test_empty_plane_pools_to_empty():
    pa = _plane(np.zeros((0, 2)), np.zeros(0), (10, 10), cosmic=np.zeros(0, np.int8),
                semantic=np.zeros(0, np.int8))
    pooled = downsample_plane(pa, 4, "max")
    assert len(pooled) == 0 and pooled.shape == (3, 3) and pooled.scale == 4


def test_bad_pool_arguments_are_refused():
    pa = _plane([[0, 0]], [1.0], (2, 2))
    with pytest.raises(ValueError, match="pool"):
        downsample_plane(pa, 2, "median")
    with pytest.raises(ValueError, match="factor"):
        downsample_plane(pa, 0, "sum")
