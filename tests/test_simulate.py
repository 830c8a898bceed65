"""The simulator end to end: determinism, workers, resume, files that read back exactly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from larseg.io import EventFile, partial_path
from larseg.labels import CosmicLabel, Origin
from larseg.sim.simulate import SimulationJob, simulate_event, simulate_to_file


def _same_event(a, b) -> None:
    assert (a.run, a.subrun, a.event) == (b.run, b.subrun, b.event)
    assert len(a.particles) == len(b.particles)
    assert [p.pdg for p in a.particles] == [p.pdg for p in b.particles]
    for pa, pb in zip(a.planes, b.planes):
        oa, ob = np.lexsort(pa.coords.T[::-1]), np.lexsort(pb.coords.T[::-1])
        np.testing.assert_array_equal(pa.coords[oa], pb.coords[ob])
        np.testing.assert_allclose(pa.values[oa], pb.values[ob], rtol=0, atol=0)
        for name in ("cosmic", "semantic", "instance"):
            np.testing.assert_array_equal(getattr(pa, name)[oa], getattr(pb, name)[ob])


def _same_file(path_a, path_b, n: int) -> None:
    """Both files hold exactly ``n`` events (n > 0), equal event by event."""
    a, b = list(EventFile(path_a)), list(EventFile(path_b))
    assert n > 0 and len(a) == n and len(b) == n
    for ea, eb in zip(a, b):
        _same_event(ea, eb)


@pytest.mark.parametrize("detector,generator", [("microboone", "cosmics+neutrino"),
                                                ("sbnd", "bomb"), ("microboone", "bomb-lowe"),
                                                ("sbnd", "neutrino"), ("microboone", "cosmics")])
def test_event_is_a_function_of_seed_and_index(detector, generator):
    job = SimulationJob(detector, generator, seed=5)
    a, b = simulate_event(job, 2), simulate_event(job, 2)
    _same_event(a, b)
    other = simulate_event(job, 3)
    assert [len(p) for p in other.planes] != [len(p) for p in a.planes]
    a.validate()
    assert sum(len(p) for p in a.planes) > 0


def test_full_events_obey_the_label_rules():
    """Every labelled pixel has charge; a pixel with neutrino charge is neutrino; instance is
    the particle with the most charge; cosmic particles only make cosmic pixels."""
    from larseg.sim.readout import ORIGIN_THRESHOLD_ADC

    for det in ("microboone", "sbnd"):
        ev = simulate_event(SimulationJob(det, "cosmics+neutrino", seed=8), 0)
        origin = np.array([p.origin for p in ev.particles])
        assert (origin == Origin.COSMIC).any() and (origin == Origin.NEUTRINO).any()
        for img in ev.planes:
            labelled = img.cosmic > 0
            assert labelled.any()
            assert np.all(img.values[labelled] > 0)
            assert np.all(img.semantic[~labelled] == -1) and np.all(img.instance[~labelled] == -1)
            pc = img.particle_charge
            nu_q = np.bincount(pc.pixel, weights=pc.charge * (origin[pc.particle] != Origin.COSMIC),
                               minlength=len(img))
            is_nu = labelled & (nu_q >= ORIGIN_THRESHOLD_ADC)
            assert np.all(img.cosmic[is_nu] == CosmicLabel.NEUTRINO)
            assert np.all(img.cosmic[labelled & ~is_nu] == CosmicLabel.COSMIC)
            # instance = argmax of particle charge
            best = np.full(len(img), -1)
            best_q = np.zeros(len(img))
            for px, part, q in zip(pc.pixel, pc.particle, pc.charge):
                if q > best_q[px]:
                    best[px], best_q[px] = part, q
            np.testing.assert_array_equal(img.instance[labelled], best[labelled])
            sem = np.array([p.semantic for p in ev.particles])
            np.testing.assert_array_equal(img.semantic[labelled], sem[img.instance[labelled]])


def test_workers_do_not_change_the_file(tmp_path):
    job = SimulationJob("microboone", "bomb", seed=21)
    simulate_to_file(tmp_path / "one.h5", job, 4, workers=1)
    simulate_to_file(tmp_path / "two.h5", job, 4, workers=2)
    _same_file(tmp_path / "one.h5", tmp_path / "two.h5", 4)


def test_interrupted_job_resumes_to_the_same_file(tmp_path):
    job = SimulationJob("sbnd", "cosmics+neutrino", seed=4)
    target = tmp_path / "run.h5"

    def stop_after_two(n_done):
        if n_done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate_to_file(target, job, 5, workers=1, on_event=stop_after_two)
    assert not target.exists(), "an interrupted job must not leave a file at the target path"
    assert partial_path(target).exists()
    result = simulate_to_file(target, job, 5, workers=1)
    assert (result.written, result.total, result.recovered) == (3, 5, 2)
    assert result.resumed_partial
    assert target.exists() and not partial_path(target).exists()
    simulate_to_file(tmp_path / "straight.h5", job, 5, workers=1)
    _same_file(target, tmp_path / "straight.h5", 5)


def test_sbnd_files_use_cosmictaggers_layout(simulated_files):
    with h5py.File(simulated_files["sbnd"]) as f:
        for producer in ("sbndwire", "sbnd_cosmicseg"):
            meta = f[f"Data/sparse2d_{producer}_group/image_meta"][:3]
            assert [int(m["projection_id"]) for m in meta] == [0, 1, 2]
            assert all(list(m["number_of_voxels"]) == [2048, 1280] for m in meta)
        assert "cluster2d_sbndsegmerged_group" in f["Data"]
        nu = f["Data/particle_sbndneutrino_group/particles"][:]
        assert set(np.abs(nu["pdg"])) <= {12, 14} and set(nu["current_type"]) <= {0, 1}
    # labels ride on the ADC voxels, as in CosmicTagger's files
    with h5py.File(simulated_files["sbnd"]) as f:
        a = f["Data/sparse2d_sbndwire_group/voxels"]["id"]
        b = f["Data/sparse2d_sbnd_cosmicseg_group/voxels"]["id"]
        np.testing.assert_array_equal(a, b)


def test_written_events_read_back_exactly(tmp_path):
    job = SimulationJob("microboone", "cosmics+neutrino", seed=2)
    simulate_to_file(tmp_path / "f.h5", job, 2, workers=1)
    back = EventFile(tmp_path / "f.h5")
    assert len(back) == 2
    for i in range(2):
        ev = simulate_event(job, i)
        _same_event(ev, back[i])
        assert [it.energy for it in ev.interactions] == [it.energy for it in back[i].interactions]


def test_interaction_instances_follow_ancestry():
    """sMask-RCNN instances: one per neutrino interaction, one per cosmic ancestor, with the
    paper's classes."""
    from larseg.labels import InstanceClass

    ev = simulate_event(SimulationJob("microboone", "cosmics+neutrino", seed=6), 0)
    groups, classes = ev.interaction_groups()
    nu = [i for i, p in enumerate(ev.particles) if p.origin == Origin.NEUTRINO]
    assert len({groups[i] for i in nu}) == 1 and classes[groups[nu[0]]] == InstanceClass.NEUTRINO
    muons = [p for p in ev.particles if p.origin == Origin.COSMIC and p.is_primary and abs(p.pdg) == 13]
    assert muons and all(classes[groups[p.id]] == InstanceClass.COSMIC for p in muons)
    for p in ev.particles:  # a cosmic's daughters share their ancestor's instance
        if p.origin == Origin.COSMIC and not p.is_primary:
            assert groups[p.id] == groups[p.ancestor_id]
    inst = ev.interaction_instance(2)
    labelled = ev.planes[2].cosmic > 0
    assert np.all(inst[labelled] >= 0) and np.all(inst[~labelled] == -1)
    # neutrino-labelled pixels belong to the neutrino instance, except where a cosmic put more
    # charge in the same pixel (precedence gives the label, the instance is the larger share)
    nu_pixels = ev.planes[2].cosmic == 2
    assert nu_pixels.sum() > 20
    assert np.mean(inst[nu_pixels] == groups[nu[0]]) > 0.8
