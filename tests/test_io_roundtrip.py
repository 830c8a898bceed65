"""Event -> larcv3 file -> Event round trips, for every product (toy events and hypothesis)."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from larseg.event import (semantic_of, DetectorMeta, Event, Interaction, Particle, ParticleCharge, PlaneImage,
                          PlaneMeta)
from larseg.io import MICROBOONE, SBND, EventFile, EventWriter, Larcv3Reader, write_events
from larseg.io.convert import instance_from_charge
from larseg.labels import Origin
from tests.factories import toy_event


def _perm(img: PlaneImage) -> np.ndarray:
    return np.argsort(img.flat_index, kind="stable")


def _charge_set(img: PlaneImage) -> list[tuple[int, int, float]]:
    pc = img.particle_charge
    flat = img.flat_index
    return sorted(zip(flat[pc.pixel].tolist(), pc.particle.tolist(), pc.charge.tolist()))


def assert_same_event(a: Event, b: Event) -> None:
    """Equal up to the order of pixels (files keep larcv's voxel-id order)."""
    assert (a.run, a.subrun, a.event) == (b.run, b.subrun, b.event)
    assert a.detector == b.detector
    assert len(a.planes) == len(b.planes)
    for pa, pb in zip(a.planes, b.planes):
        assert pa.meta == pb.meta
        oa, ob = _perm(pa), _perm(pb)
        np.testing.assert_array_equal(pa.coords[oa], pb.coords[ob])
        np.testing.assert_array_equal(pa.values[oa], pb.values[ob])
        for name in ("cosmic", "semantic", "instance"):
            x, y = getattr(pa, name), getattr(pb, name)
            assert (x is None) == (y is None), name
            if x is not None:
                np.testing.assert_array_equal(x[oa], y[ob], err_msg=name)
        if pa.particle_charge is not None:
            assert _charge_set(pa) == _charge_set(pb)
    assert a.particles == b.particles
    assert a.interactions == b.interactions


# ------------------------------------------------------------------------------ toy events
@pytest.mark.parametrize("detector,names", [("microboone", MICROBOONE), ("sbnd", SBND)])
def test_toy_round_trip(tmp_path, detector, names):
    events = [toy_event(detector, seed=s, event=s) for s in range(3)]
    events.append(toy_event(detector, seed=7, event=7, empty_plane=1))
    path = tmp_path / "toy.h5"
    assert write_events(path, events, names) == 4
    with h5py.File(path, "r") as f:  # CosmicTagger's product names for SBND
        groups = set(f["Data"])
    assert f"sparse2d_{names.adc}_group" in groups
    assert f"cluster2d_{names.instance}_group" in groups
    assert f"particle_{names.interactions}_group" in groups
    f = EventFile(path)
    assert f.producers == names
    back = list(f)
    assert len(back) == len(f) == 4
    for a, b in zip(events, back):
        assert_same_event(a, b)
    assert len(back[3].planes[1]) == 0
    assert back[0].detector.name == detector


def test_file_order_is_voxel_id_order(tmp_path):
    ev = toy_event("microboone", seed=3)
    write_events(tmp_path / "a.h5", [ev])
    img = EventFile(tmp_path / "a.h5")[0].planes[2]
    ids = img.coords[:, 1].astype(np.int64) * img.meta.n_ticks + img.coords[:, 0]
    assert np.all(np.diff(ids) > 0)  # larcv's order: voxel id = wire * n_ticks + time


def test_particle_fields_in_file(tmp_path):
    ev = toy_event("microboone", seed=4)
    ev.particles[1].parent_id = 0
    ev.particles[1].ancestor_id = 0
    ev.particles[3].ancestor_id = -1
    ev.validate()
    path = tmp_path / "p.h5"
    write_events(path, [ev])
    with Larcv3Reader(path) as r:
        rows = r.read_particles("mctruth", 0)
        nu = r.read_particles("neutrino", 0)
    p0 = ev.particles[0]
    assert rows["trackid"].tolist() == [p.id + 1 for p in ev.particles]
    assert rows["parent_trackid"][0] == p0.track_id          # a primary is its own parent
    assert rows["parent_trackid"][1] == p0.track_id
    assert rows["parent_pdg"][1] == p0.pdg
    assert rows["ancestor_trackid"][3] == 0xFFFFFFFF          # no ancestor: larcv's invalid id
    assert rows["mcst_index"].tolist() == [int(p.origin) for p in ev.particles]
    assert rows["mct_index"][0] == 0xFFFF and rows["mct_index"][1] == 0  # cosmic / interaction 0
    assert rows["process"][0] == b"primary"
    assert nu["pdg"][0] == 14 and nu["current_type"][0] == 0 and nu["interaction_type"][0] == 1001
    assert nu["energy_init"][0] == 800.0 and nu["parent_pdg"][0] == 13
    back = EventFile(path)[0]
    assert back.particles == ev.particles
    assert back.interactions == ev.interactions


def test_cluster_ids_beyond_particle_table(tmp_path):
    ev = toy_event("microboone", seed=5, n_tracks=2)
    img = ev.planes[0]
    pc = img.particle_charge
    extra = np.flatnonzero(img.instance < 0)[:3]  # noise pixels -> the "unassociated" cluster
    img.particle_charge = ParticleCharge(np.concatenate([pc.pixel, extra]),
                                         np.concatenate([pc.particle, np.full(extra.size, 2)]),
                                         np.concatenate([pc.charge, np.full(extra.size, 5.0)]))
    img.instance = instance_from_charge(img.particle_charge, len(img))
    ev.validate()
    write_events(tmp_path / "c.h5", [ev])
    with Larcv3Reader(tmp_path / "c.h5") as r:
        assert r.read_cluster2d("instance", 0)[0].n_clusters == 3
    back = EventFile(tmp_path / "c.h5")[0]
    assert_same_event(ev, back)
    assert (back.planes[0].instance == 2).sum() == extra.size


def test_instance_without_particle_charge(tmp_path):
    ev = toy_event("sbnd", seed=6)
    for img in ev.planes:
        img.particle_charge = None
    write_events(tmp_path / "i.h5", [ev])
    back = EventFile(tmp_path / "i.h5")[0]
    for a, b in zip(ev.planes, back.planes):  # clusters made from instance, charge = ADC
        np.testing.assert_array_equal(a.instance[_perm(a)], b.instance[_perm(b)])
        assert len(b.particle_charge) == int((a.instance >= 0).sum())


def test_products_missing_in_some_events(tmp_path):
    a = toy_event("microboone", seed=1, event=1)
    b = toy_event("microboone", seed=2, event=2)
    for img in a.planes:  # first event without cosmic labels; second has them
        img.cosmic = None
    b.planes[1].semantic = None  # one plane without semantic labels
    path = tmp_path / "m.h5"
    write_events(path, [a, b])
    with Larcv3Reader(path) as r:
        assert len(r.read_sparse2d("cosmicseg", 0)) == 0  # backfilled empty entry
        assert len(r.read_sparse2d("cosmicseg", 1)) == 3
        assert [s.meta.projection_id for s in r.read_sparse2d("semantic", 1)] == [0, 2]
    back = list(EventFile(path))
    assert all(img.cosmic is None for img in back[0].planes)
    assert back[1].planes[1].semantic is None and back[1].planes[0].semantic is not None
    assert_same_event(a, back[0])
    assert_same_event(b, back[1])


def test_getitem_readahead_and_slices(tmp_path):
    events = [toy_event("microboone", seed=s, event=s, n_tracks=2) for s in range(7)]
    write_events(tmp_path / "g.h5", events)
    f = EventFile(tmp_path / "g.h5", block_size=3)
    seq = [f[i] for i in range(len(f))]           # sequential: read in blocks of 3
    assert [e.event for e in seq] == list(range(7))
    assert f[-1].event == 6 and f[2].event == 2    # random access after
    assert [e.event for e in f[1:6:2]] == [1, 3, 5]
    assert [len(b) for b in f.iter_blocks(4)] == [4, 3]
    with pytest.raises(IndexError, match="out of range"):
        f[7]
    for a, b in zip(events, seq):
        assert_same_event(a, b)


def _child_read(f: EventFile, q) -> None:
    q.put([(ev.event, int(sum(len(p) for p in ev.planes))) for ev in f])


def test_reader_after_fork_and_pickle(tmp_path):
    events = [toy_event("microboone", seed=s, event=s, n_tracks=2) for s in range(3)]
    write_events(tmp_path / "f.h5", events)
    f = EventFile(tmp_path / "f.h5")
    expect = [(ev.event, int(sum(len(p) for p in ev.planes))) for ev in f]  # parent opened it
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child_read, args=(f, q))
    proc.start()
    got = q.get(timeout=60)
    proc.join(timeout=60)
    assert proc.exitcode == 0 and got == expect
    assert [ev.event for ev in f] == [0, 1, 2]      # the parent's handle still works
    clone = pickle.loads(pickle.dumps(f))           # spawn-started workers pickle the dataset
    assert [ev.event for ev in clone] == [0, 1, 2]


def test_reader_threads_give_same_voxels(tmp_path):
    events = [toy_event("sbnd", seed=s, event=s, n_tracks=30) for s in range(4)]
    write_events(tmp_path / "t.h5", events)
    with Larcv3Reader(tmp_path / "t.h5") as a, Larcv3Reader(tmp_path / "t.h5", threads=2) as b:
        x, y = a.read_sparse2d_block("sbndwire", 0, 4), b.read_sparse2d_block("sbndwire", 0, 4)
        assert x.ids.size > 2000  # several 1000-voxel chunks
        np.testing.assert_array_equal(x.ids, y.ids)
        np.testing.assert_array_equal(x.values, y.values)
        a._fast = {k: False for k in ("Data/sparse2d_sbndwire_group/voxels",)}  # plain h5py
        z = a.read_sparse2d_block("sbndwire", 1, 3)
        np.testing.assert_array_equal(z.ids, b.read_sparse2d_block("sbndwire", 1, 3).ids)


# ------------------------------------------------------------------------------ hypothesis
_PDGS = (13, -13, 11, 22, 2212, 211, 2112)
_SMALL = DetectorMeta("unknown", tuple(
    PlaneMeta(plane=i, n_wires=40, n_ticks=24, wire_pitch=0.3, tick_pitch=0.1563)
    for i in range(3)))
finite32 = st.floats(-1e6, 1e6, width=32, allow_nan=False)


@st.composite
def particles_st(draw):
    n = draw(st.integers(0, 5))
    out = []
    for i in range(n):
        pdg = draw(st.sampled_from(_PDGS))
        parent = draw(st.integers(-1, i - 1)) if i else -1
        process = draw(st.sampled_from(["primary", "muIoni", "Decay", "conv", ""]))
        # larcv3 stores only track/shower/unknown: the finer class must follow from the particle
        # (pdg, process, parent pdg), as it does for every particle the simulator makes.
        parent_pdg = out[parent].pdg if parent >= 0 else pdg
        sem = draw(st.sampled_from([semantic_of(pdg, process, parent_pdg), -1]))
        out.append(Particle(
            id=i, pdg=pdg, origin=draw(st.sampled_from(list(Origin))),
            parent_id=parent,
            ancestor_id=draw(st.sampled_from([-1, i] + list(range(i)))),
            energy_init=draw(st.floats(0, 1e4)), energy_deposit=draw(st.floats(0, 1e3)),
            momentum=tuple(draw(st.floats(-1e3, 1e3)) for _ in range(3)),
            start=tuple(draw(st.floats(-500, 500)) for _ in range(4)),
            end=tuple(draw(st.floats(-500, 500)) for _ in range(4)),
            process=process, semantic=sem, interaction_id=draw(st.integers(-1, 2))))
    return out


@st.composite
def events_st(draw):
    particles = draw(particles_st())
    planes = []
    for pm in _SMALL.planes:
        flat = sorted(draw(st.sets(st.integers(0, pm.n_pixels - 1), max_size=30)))
        n = len(flat)
        coords = np.array([(f // pm.n_wires, f % pm.n_wires) for f in flat]).reshape(-1, 2)
        values = np.array(draw(st.lists(finite32, min_size=n, max_size=n)), np.float32)
        img = PlaneImage(pm, coords, values)
        if draw(st.booleans()):
            img.cosmic = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
            img.semantic = np.array(draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n)))
        if draw(st.booleans()):
            pairs = sorted(draw(st.sets(st.tuples(st.integers(0, max(n - 1, 0)),
                                                  st.integers(0, len(particles))),
                                        max_size=2 * n))) if n else []
            q = draw(st.lists(st.floats(0, 1e4, width=32), min_size=len(pairs),
                              max_size=len(pairs)))
            pc = ParticleCharge(np.array([p[0] for p in pairs], np.int64),
                                np.array([p[1] for p in pairs], np.int64), np.array(q, np.float32))
            img.particle_charge = pc
            img.instance = instance_from_charge(pc, n)
        planes.append(img)
    interactions = [Interaction(id=k, nu_pdg=draw(st.sampled_from([12, 14, -14])),
                                current=draw(st.integers(0, 1)), mode=1001 + k,
                                energy=draw(st.floats(0, 1e4)),
                                vertex=(1.0, 2.0, 3.0, draw(st.floats(-10, 10))),
                                lepton_pdg=draw(st.sampled_from([0, 11, 13])))
                    for k in range(draw(st.integers(0, 2)))]
    return Event(draw(st.integers(0, 2**40)), draw(st.integers(0, 100)),
                 draw(st.integers(0, 2**31)), _SMALL, planes, particles,
                 interactions).validate()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=st.lists(events_st(), min_size=1, max_size=3))
def test_round_trip_property(tmp_path, events):
    path = tmp_path / "h.h5"
    with EventWriter(path, MICROBOONE) as w:
        for ev in events:
            w.write(ev)
        assert w.n_events == len(events)
    back = list(EventFile(path))
    assert len(back) == len(events)
    for a, b in zip(events, back):
        assert_same_event(a, b)
