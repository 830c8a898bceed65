"""Dense / sparse datasets, target selection, collation, empty events and worker-independent
seeding (larseg.data.datasets, larseg.data.collate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.data import (AdcMask, DenseDataset, EmptyEventError, RandomCrop, SparseDataset,
                         dense_collate, make_loader, seed_for, sparse_collate)
from larseg.errors import InvalidEventError
from larseg.labels import semantic_to_track_shower
from tests.factories import toy_event


@pytest.fixture(scope="module")
def events():
    return [toy_event("microboone", seed=i, event=i) for i in range(6)]


def _faint_event(event=99):
    """An event whose every pixel is below 10 ADC: nothing survives AdcMask(10, 300)."""
    ev = toy_event("microboone", seed=11, event=event)
    for img in ev.planes:
        img.values = np.full(len(img), 5.0, np.float32)
    return ev


def test_dense_item_dtypes_shapes_and_content(events):
    ds = DenseDataset(events, planes=(0, 1, 2), target="cosmic")
    item = ds[1]
    assert item["image"].dtype == torch.float32 and item["label"].dtype == torch.int64
    assert tuple(item["image"].shape) == (3, 1008, 3456) == tuple(item["label"].shape)
    for k, img in enumerate(events[1].planes):
        np.testing.assert_array_equal(item["image"][k].numpy(), img.dense("values"))
        np.testing.assert_array_equal(item["label"][k].numpy(), img.dense("cosmic"))
    assert item["tag"] == events[1].tag and item["index"] == 1


@pytest.mark.parametrize("target, lo, hi", [("cosmic", 0, 2), ("semantic", -1, 4),
                                            ("track_shower", -1, 1)])
def test_sparse_item_dtypes_and_target_ranges(events, target, lo, hi):
    ds = SparseDataset(events, planes=(2, 0), target=target)
    item = ds[0]
    assert len(item["coords"]) == 2
    for k, p in zip((2, 0), range(2)):
        img = events[0].planes[k]
        c, f, y = item["coords"][p], item["features"][p], item["label"][p]
        assert c.dtype == torch.int64 and tuple(c.shape) == (len(img), 2)
        assert f.dtype == torch.float32 and tuple(f.shape) == (len(img), 1)
        assert y.dtype == torch.int64 and tuple(y.shape) == (len(img),)
        assert lo <= int(y.min()) and int(y.max()) <= hi
        np.testing.assert_array_equal(c.numpy(), img.coords)
    assert item["shape"] == [(1008, 3456), (1008, 3456)]


def test_track_shower_map_literal():
    np.testing.assert_array_equal(semantic_to_track_shower(np.array([-1, 0, 1, 2, 3, 4])),
                                  [-1, 0, 0, 1, 1, 1])


def test_track_shower_target_is_the_remapped_semantic_target(events):
    sem = DenseDataset(events, planes=(2,), target="semantic", downsample=2, pool="max")[3]
    ts = DenseDataset(events, planes=(2,), target="track_shower", downsample=2, pool="max")[3]
    s = sem["label"].numpy()
    # written out by hand: HIP 0, MIP 1 -> track 0; shower 2, delta 3, Michel 4 -> shower 1
    expected = np.select([s == -1, (s == 0) | (s == 1), s >= 2], [-1, 0, 1], default=99)
    np.testing.assert_array_equal(ts["label"].numpy(), expected)
    assert (sem["label"] == -1).any() and (ts["label"] == 0).any()
    # empty pixels are ignored (-1) for semantic targets, background (0) for the cosmic one
    cos = DenseDataset(events, planes=(2,), target="cosmic", downsample=2)[3]
    empty = sem["image"] == 0
    assert (sem["label"][empty] == -1).all() and (cos["label"][empty] == 0).all()


def test_sparse_collate_layout(events):
    ds = SparseDataset(events, planes=(2,), target="semantic", transform=[RandomCrop((256, 256))],
                       seed=4)
    items = [ds[i] for i in range(3)]
    batch = sparse_collate(items)
    coords, feats, labels = batch["coords"][0], batch["features"][0], batch["label"][0]
    n = [len(it["label"][0]) for it in items]
    assert coords.dtype == torch.int32 and tuple(coords.shape) == (sum(n), 3)
    assert feats.dtype == torch.float32 and tuple(feats.shape) == (sum(n), 1)
    assert labels.dtype == torch.int64 and tuple(labels.shape) == (sum(n),)
    assert batch["batch_size"] == 3 and batch["spatial_shape"] == [(256, 256)]
    assert coords[:, 0].tolist() == sum(([i] * k for i, k in enumerate(n)), [])
    start = 0
    for it, k in zip(items, n):
        np.testing.assert_array_equal(coords[start:start + k, 1:].numpy(), it["coords"][0].numpy())
        np.testing.assert_array_equal(feats[start:start + k].numpy(), it["features"][0].numpy())
        start += k
    assert (coords[:, 1:] >= 0).all() and (coords[:, 1:] < 256).all()


def test_empty_event_raises_naming_the_event(events):
    ds = SparseDataset([events[0], _faint_event(99)], transform=[AdcMask(10, 300)])
    assert len(ds[0]["label"][0]) > 0
    with pytest.raises(EmptyEventError, match=r"event 1/0/99.*no active pixel") as err:
        ds[1]
    assert isinstance(err.value, InvalidEventError) and err.value.event == "1/0/99"


def test_empty_events_are_skipped_and_counted(events):
    source = [events[0], _faint_event(98), events[1], _faint_event(97)]
    ds = DenseDataset(source, planes=(2,), transform=[AdcMask(10, 300)], on_empty="skip",
                      downsample=4, pool="max")
    items = [ds[i] for i in range(4)]
    assert items[1] is None and items[3] is None
    assert ds.n_skipped == 2 and ds.skipped_tags == ["1/0/98", "1/0/97"]
    batch = dense_collate(items)
    assert batch["n_skipped"] == 2 and batch["tags"] == [events[0].tag, events[1].tag]
    assert tuple(batch["image"].shape) == (2, 1, 252, 864)
    assert dense_collate([items[1]]) is None
    # through a DataLoader with workers, the batches carry the count
    loader = make_loader(ds, batch_size=4, num_workers=2)
    assert [b["n_skipped"] for b in loader] == [2]


def _crop_dataset(events, seed=7):
    return SparseDataset(events, planes=(0, 1, 2), target="semantic", seed=seed,
                         transform=[AdcMask(10, 300), RandomCrop((128, 192), min_pixels=3,
                                                                 jitter=1.0)])


def _batches(loader):
    return [(b["indices"].tolist(), [c.clone() for c in b["coords"]],
             [f.clone() for f in b["features"]]) for b in loader]


def _same(a, b):
    assert len(a) == len(b)
    for (ia, ca, fa), (ib, cb, fb) in zip(a, b):
        assert ia == ib
        for x, y in zip(ca + fa, cb + fb):
            assert torch.equal(x, y)


def test_batches_identical_with_0_and_2_workers(events):
    ds = _crop_dataset(events)
    b0 = _batches(make_loader(ds, batch_size=2, shuffle=True, num_workers=0))
    b2 = _batches(make_loader(ds, batch_size=2, shuffle=True, num_workers=2))
    _same(b0, b2)
    assert sorted(sum((i for i, _, _ in b0), [])) == list(range(len(events)))
    # a new epoch draws new crops (and order), the same ones again when asked again
    ds.set_epoch(1)
    e1 = _batches(make_loader(ds, batch_size=2, shuffle=True, num_workers=2))
    ds.set_epoch(1)
    _same(e1, _batches(make_loader(ds, batch_size=2, shuffle=True, num_workers=0)))
    ds.set_epoch(0)
    _same(b0, _batches(make_loader(ds, batch_size=2, shuffle=True, num_workers=0)))
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i]["coords"][0], _crop_dataset(events)[i]["coords"][0])
               for i in range(len(events)))


def test_seed_for_depends_on_seed_epoch_and_index_only():
    def draw(*a):
        return np.random.default_rng(seed_for(*a)).integers(0, 2**62, 4).tolist()
    assert draw(3, 1, 5) == draw(3, 1, 5)
    assert len({tuple(draw(i, e, s)) for i in (0, 1) for e in (0, 1) for s in (0, 1)}) == 8
    with pytest.raises(ValueError):
        seed_for(-1)


def test_bad_arguments_and_missing_labels_are_named(events):
    with pytest.raises(ValueError, match="target"):
        DenseDataset(events, target="instance_class")
    with pytest.raises(ValueError, match="pool"):
        DenseDataset(events, pool="median")
    with pytest.raises(InvalidEventError, match=r"event 1/0/0.*plane 3"):
        SparseDataset(events, planes=(3,))[0]
    ev = toy_event("microboone", seed=1)
    for img in ev.planes:
        img.semantic = None
    with pytest.raises(InvalidEventError, match=r"field plane2\.semantic"):
        SparseDataset([ev], planes=(2,), target="track_shower")[0]


def test_ssnet_target_adds_the_edge_band(events):
    ts = DenseDataset(events, planes=(2,), target="track_shower", downsample=2, pool="max")[3]
    ss = DenseDataset(events, planes=(2,), target="ssnet", downsample=2, pool="max")[3]
    t, s = ts["label"][0].numpy(), ss["label"][0].numpy()
    np.testing.assert_array_equal(s[t == 0], 2)     # track
    np.testing.assert_array_equal(s[t == 1], 3)     # shower
    # background within 2 pixels (Chebyshev) of a feature is the edge band, the rest background
    feat = np.argwhere(t >= 0)
    for r, c in [tuple(x) for x in np.argwhere(s == 1)[:50]]:
        assert t[r, c] == -1 and np.abs(feat - [r, c]).max(axis=1).min() <= 2
    for r, c in [tuple(x) for x in np.argwhere(s == 0)[:: max(1, (s == 0).sum() // 50)]]:
        assert np.abs(feat - [r, c]).max(axis=1).min() > 2
    with pytest.raises(ValueError, match="needs DenseDataset"):
        SparseDataset(events, planes=(2,), target="ssnet")


def test_instance_targets_one_per_interaction():
    from larseg.data.targets import instance_targets
    from larseg.labels import InstanceClass
    from larseg.sim.simulate import SimulationJob, simulate_event

    ev = simulate_event(SimulationJob("microboone", "cosmics+neutrino", seed=6), 0)
    groups, classes = ev.interaction_groups()
    t = instance_targets(ev, 2)
    img = ev.planes[2]
    inst = ev.interaction_instance(2)
    assert len(t) > 5 and len(set(t.group.tolist())) == len(t)
    assert int((t.classes == InstanceClass.NEUTRINO).sum()) == 1
    covered = np.zeros(len(img), bool)
    for k, idx in enumerate(t.pixels):
        assert np.all(inst[idx] == t.group[k]) and np.all(img.values[idx] >= 10)
        assert t.classes[k] == classes[t.group[k]]
        r, c = img.coords[idx, 0], img.coords[idx, 1]
        np.testing.assert_array_equal(t.boxes[k], [c.min(), r.min(), c.max() + 1, r.max() + 1])
        assert not covered[idx].any()
        covered[idx] = True
    # every pixel ≥ 10 ADC of an interaction is in exactly one mask
    np.testing.assert_array_equal(covered, (img.values >= 10) & (inst >= 0))


def test_reading_only_the_fields_a_target_needs(simulated_files):
    import numpy as np
    import pytest

    from larseg.io import EventFile

    path = simulated_files["sbnd"]
    full, lean = EventFile(path)[1], EventFile(path, fields=["cosmic"])[1]
    for a, b in zip(full.planes, lean.planes):
        assert np.array_equal(a.coords, b.coords) and np.array_equal(a.values, b.values)
        assert np.array_equal(a.cosmic, b.cosmic)
        assert b.semantic is None and b.instance is None
    assert lean.particles == [] and full.particles
    with pytest.raises(ValueError, match=r"unknown product fields \['cosmics'\]"):
        EventFile(path, fields=["cosmics"])


def test_cached_dataset_reads_each_event_once_and_gives_the_same_items(simulated_files):
    import torch

    from larseg.data import DenseDataset, RandomCrop
    from larseg.io import EventFile

    class CountingEvents(list):  # a real in-memory Sequence of Events that counts its reads
        reads = 0

        def __getitem__(self, i):
            CountingEvents.reads += 1
            return super().__getitem__(i)

    events = CountingEvents(EventFile(simulated_files["sbnd"], fields=["cosmic"]))
    kw = dict(target="cosmic", downsample=2, pool="mean", seed=3,
              transform=[RandomCrop((64, 64), min_pixels=1)])
    plain, cached = DenseDataset(events, **kw), DenseDataset(events, cache=True, **kw)
    for epoch in range(3):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(events)):
            a, b = plain[i], cached[i]
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    CountingEvents.reads = 0
    for epoch in range(3, 5):
        cached.set_epoch(epoch)
        for i in range(len(events)):
            cached[i]
    assert CountingEvents.reads == 0  # every event came from the cache
