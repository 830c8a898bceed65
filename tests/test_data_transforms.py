"""ADC masks / thresholds / clipping and activity-seeking crops (larseg.data.transforms)."""

from __future__ import annotations

import numpy as np
import pytest

from larseg.data import (AdcClip, AdcMask, AdcThreshold, Compose, PlaneArrays, RandomCrop,
                         Sample, rng_for)
from tests.factories import toy_event


def _pixels(img) -> dict[tuple[int, int], tuple[float, int, int]]:
    """(row, col) -> (ADC, cosmic, semantic) of a PlaneImage or PlaneArrays."""
    return {(int(r), int(c)): (float(v), int(k), int(s))
            for (r, c), v, k, s in zip(img.coords, img.values, img.cosmic, img.semantic)}


def _spread_event(seed=0):
    """A toy event with ADC values spread over [0, 400] so both mask bounds bite."""
    ev = toy_event("microboone", seed=seed)
    rng = np.random.default_rng(seed)
    for img in ev.planes:
        img.values = rng.uniform(0.0, 400.0, len(img)).astype(np.float32)
    return ev


def test_adc_mask_drops_exactly_out_of_range_pixels_with_their_labels():
    ev = _spread_event(1)
    out = AdcMask(10, 300)(ev)
    out.validate()
    for before, after in zip(ev.planes, out.planes):
        exp = {k: v for k, v in _pixels(before).items() if 10 <= v[0] <= 300}
        assert _pixels(after) == exp
        assert 0 < len(after) < len(before)
        # particle charge follows its pixels: same (pixel coords, particle, charge) triplets
        pc0, pc1 = before.particle_charge, after.particle_charge
        kept0 = {(tuple(before.coords[i]), int(p), float(q))
                 for i, p, q in zip(pc0.pixel, pc0.particle, pc0.charge)
                 if tuple(before.coords[i]) in exp}
        got = {(tuple(after.coords[i]), int(p), float(q))
               for i, p, q in zip(pc1.pixel, pc1.particle, pc1.charge)}
        assert got == kept0


def test_adc_mask_bounds_are_optional_and_inclusive():
    pa = PlaneArrays(0, (4, 4), [[0, 0], [0, 1], [0, 2], [0, 3]], [9.99, 10.0, 300.0, 300.01])
    assert AdcMask(10, 300)(pa).values.tolist() == pytest.approx([10.0, 300.0])
    assert AdcMask(None, 300)(pa).values.tolist() == pytest.approx([9.99, 10.0, 300.0])
    assert AdcMask(10, None)(pa).values.tolist() == pytest.approx([10.0, 300.0, 300.01])


def test_adc_threshold_zeroes_or_drops_low_pixels():
    ev = _spread_event(2)
    out = AdcThreshold(10)(ev)
    dropped = AdcThreshold(10, drop=True)(ev)
    for before, after, short in zip(ev.planes, out.planes, dropped.planes):
        low = before.values < 10
        assert low.any()
        np.testing.assert_array_equal(after.coords, before.coords)
        np.testing.assert_array_equal(after.values[low], 0)
        np.testing.assert_array_equal(after.values[~low], before.values[~low])
        np.testing.assert_array_equal(after.semantic, before.semantic)
        np.testing.assert_array_equal(short.coords, before.coords[~low])
    sample = Sample.from_event(out)
    assert sample.n_active == [int((p.values >= 10).sum()) for p in ev.planes]


def test_adc_clip():
    pa = PlaneArrays(0, (2, 2), [[0, 0], [1, 1]], [5.0, 900.0])
    assert AdcClip(300)(pa).values.tolist() == [5.0, 300.0]
    assert AdcClip(300, low=10)(pa).values.tolist() == [10.0, 300.0]


@pytest.mark.parametrize("size", [(512, 512), (512, 832), (64, 96)])
@pytest.mark.parametrize("jitter", [0.0, 1.0])
def test_crops_contain_activity_respect_bounds_and_map_back(size, jitter):
    ev = toy_event("microboone", seed=4, n_tracks=2)
    crop = RandomCrop(size, min_pixels=5, jitter=jitter)
    source = {k: _pixels(img) for k, img in enumerate(ev.planes)}
    for index in range(15):
        sample = crop(Sample.from_event(ev), rng_for(index, 0, 9))
        assert sum(sample.n_active) >= 5
        offsets = {p.offset for p in sample.planes}
        assert len(offsets) == 1  # shared window
        r0, c0 = offsets.pop()
        assert 0 <= r0 <= 1008 - size[0] and 0 <= c0 <= 3456 - size[1]
        for k, p in enumerate(sample.planes):
            assert p.shape == size
            if len(p):
                assert p.coords.min() >= 0
                assert (p.coords < np.array(size)).all()
            # every pixel maps back to the same pixel of the source plane ...
            back = {(int(r) + r0, int(c) + c0): v for (r, c), v in _pixels(p).items()}
            assert back.items() <= source[k].items()
            # ... and every source pixel inside the window is in the crop
            inside = {rc for rc in source[k] if r0 <= rc[0] < r0 + size[0]
                      and c0 <= rc[1] < c0 + size[1]}
            assert set(back) == inside


def test_crop_prefers_labelled_pixels_and_is_deterministic_given_rng():
    ev = toy_event("sbnd", seed=6)
    crop = RandomCrop((128, 128), min_pixels=1)
    a = [crop(ev, np.random.default_rng(s)) for s in range(10)]
    b = [crop(ev, np.random.default_rng(s)) for s in range(10)]
    for x, y in zip(a, b):
        x.validate()
        assert x.detector.planes == y.detector.planes
        for px, py in zip(x.planes, y.planes):
            np.testing.assert_array_equal(px.coords, py.coords)
    # centred on a labelled (cosmic > 0) pixel: every crop holds one
    assert all(sum(int((p.cosmic > 0).sum()) for p in x.planes) > 0 for x in a)
    assert len({x.detector.planes[0].origin for x in a}) > 1  # not always the same window


def test_crop_pads_small_images_and_handles_empty_planes():
    pa = PlaneArrays(0, (100, 50), [[10, 10], [99, 49]], [20.0, 30.0])
    empty = PlaneArrays(1, (100, 50), np.zeros((0, 2)), np.zeros(0))
    out = RandomCrop((128, 128))([pa, empty], np.random.default_rng(0))
    assert [p.shape for p in out] == [(128, 128), (128, 128)]
    assert out[0].offset == (0, 0) and len(out[0]) == 2 and len(out[1]) == 0
    # nothing active at all: a window is still placed, inside the image
    none = RandomCrop((16, 16))([empty], np.random.default_rng(1))[0]
    assert none.shape == (16, 16) and 0 <= none.offset[0] <= 84 and 0 <= none.offset[1] <= 34


def test_independent_windows_per_plane():
    ev = toy_event("microboone", seed=8)
    out = RandomCrop((64, 64), shared=False)(Sample.from_event(ev), np.random.default_rng(3))
    assert all(p.n_active >= 1 for p in out.planes)
    assert len({p.offset for p in out.planes}) == 3


def test_crop_uses_fullest_window_when_min_pixels_unreachable():
    pa = PlaneArrays(0, (1000, 1000), [[10, 10], [12, 12], [900, 900]], [20.0, 20.0, 20.0])
    out = RandomCrop((32, 32), min_pixels=10, max_tries=30)(pa, np.random.default_rng(0))
    assert out.n_active == 2


def test_random_transform_needs_rng_and_compose_is_reproducible():
    ev = _spread_event(3)
    with pytest.raises(ValueError, match="rng"):
        RandomCrop((64, 64))(ev)
    t = Compose([AdcMask(10, 300), RandomCrop((200, 300)), AdcClip(250)])
    x, y = t(ev, rng_for(3, 1, 5)), t(ev, rng_for(3, 1, 5))
    assert sum(len(p) for p in x.planes) > 0
    for px, py in zip(x.planes, y.planes):
        np.testing.assert_array_equal(px.coords, py.coords)
        np.testing.assert_array_equal(px.values, py.values)
        assert (px.values <= 250).all() and (px.values >= 10).all()


def _neutrino_plane() -> PlaneArrays:
    """A 400 × 400 plane: 200 cosmic pixels on row 10, 4 neutrino pixels at (390, 390..393)."""
    rows = np.r_[np.full(200, 10), np.full(4, 390)]
    cols = np.r_[np.arange(200), np.arange(390, 394)]
    cosmic = np.r_[np.full(200, 1), np.full(4, 2)].astype(np.int8)
    return PlaneArrays(0, (400, 400), np.c_[rows, cols], np.full(204, 50.0, np.float32),
                       cosmic=cosmic)


def test_focused_crops_hold_the_neutrino_in_their_fraction():
    pa = _neutrino_plane()
    def holds_neutrino(crop):
        return [int((p.cosmic == 2).sum()) > 0 for p in
                (crop([pa], np.random.default_rng(s))[0] for s in range(400))]
    plain = holds_neutrino(RandomCrop((32, 32)))
    focused = holds_neutrino(RandomCrop((32, 32), focus_fraction=0.5))
    always = holds_neutrino(RandomCrop((32, 32), focus_fraction=1.0))
    assert sum(plain) <= 20                   # 4 of 204 labelled pixels: ~2 % of the crops
    assert 160 <= sum(focused) <= 240         # half of them, give or take the binomial spread
    assert all(always)
    # without neutrino pixels the focus falls back to the labelled ones
    no_nu = PlaneArrays(0, (400, 400), pa.coords[:200], pa.values[:200], cosmic=pa.cosmic[:200])
    out = RandomCrop((32, 32), focus_fraction=1.0)([no_nu], np.random.default_rng(0))[0]
    assert int((out.cosmic == 1).sum()) > 0
    with pytest.raises(ValueError, match="focus_fraction"):
        RandomCrop((32, 32), focus_fraction=1.5)


def test_crops_without_focus_draw_the_same_windows_as_before():
    """focus_fraction 0 draws no extra random number: existing runs' crops are unchanged."""
    pa = _neutrino_plane()
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    a = RandomCrop((32, 32))([pa], rng_a)[0]
    b = RandomCrop((32, 32), focus_fraction=0.0)([pa], rng_b)[0]
    assert a.offset == b.offset and rng_a.uniform() == rng_b.uniform()
