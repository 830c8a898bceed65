"""Generator options on `larseg simulate` (-O KEY=VALUE): parsing, the neutrino selections that
make the SSNet talk's held-out samples directly, and the options as part of the job's identity."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import asdict

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from larseg.cli.app import register_all
from larseg.errors import JobMismatchError, LarsegError
from larseg.io import EventFile
from larseg.io.identity import IDENTITY_ATTR
from larseg.samples import event_samples
from larseg.sim.generators import canonical_options, get_generator, parse_generator_options
from larseg.sim.generators.neutrino import NeutrinoGenerator, final_state_primaries
from larseg.sim.simulate import SimulationJob, simulate_to_file
from tests.interrupting import datasets

runner = CliRunner()
app = register_all()
LARSEG = [sys.executable, "-m", "larseg"]


def _simulate(out, *args: str) -> None:
    result = runner.invoke(app, ["simulate", "-d", "microboone", "-g", "neutrino", "-j", "1", "-q",
                                 "-o", str(out), *args])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize("option,message", [
    ("colour=red", "generator 'neutrino' has no option(s) colour; its options: mix (str, "
                   "default 'balanced'), fsi (bool, default True)"),
    ("max_energy=low", "generator 'neutrino': option max_energy takes a number (or none), "
                       "not 'low'"),
    ("fsi=maybe", "generator 'neutrino': option fsi takes true or false, not 'maybe'"),
    ("topology", "generator option 'topology': expected KEY=VALUE"),
])
def test_bad_options_fail_with_one_line(tmp_path, option, message):
    proc = subprocess.run(LARSEG + ["simulate", "-g", "neutrino", "-n", "1", "-O", option,
                                    "-o", str(tmp_path / "x.h5")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    err = " ".join(proc.stderr.split())
    assert err.startswith("error: " + message), err
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.h5").exists()


def test_values_are_parsed_to_the_options_type():
    got = parse_generator_options("cosmics+neutrino", [
        "fsi=False", "interaction_id=3", "max_energy=500", "min_energy=none", "mix=bnb",
        "admixture=0", "category=nue_cc", "mix=balanced"])  # the last of a key wins
    assert got == {"fsi": False, "interaction_id": 3, "max_energy": 500.0, "min_energy": None,
                   "mix": "balanced", "admixture": False, "category": "nue_cc"}
    assert [type(got[k]) for k in ("fsi", "interaction_id", "max_energy")] == [bool, int, float]
    with pytest.raises(LarsegError, match="interaction_id takes an integer, not '1.5'"):
        parse_generator_options("neutrino", ["interaction_id=1.5"])
    with pytest.raises(LarsegError, match="max_energy takes a number"):
        parse_generator_options("neutrino", ["max_energy=nan"])
    # bomb-lowe sets low_energy itself: not one of its options
    with pytest.raises(LarsegError, match="has no option.s. low_energy; its options: mix"):
        parse_generator_options("bomb-lowe", ["low_energy=false"])


def test_job_options_are_typed_sorted_and_defaults_dropped():
    job = SimulationJob("microboone", "neutrino", seed=1,
                        options={"max_energy": 500, "category": "nue_cc", "fsi": True})
    assert job.options == (("category", "nue_cc"), ("max_energy", 500.0))
    assert job == SimulationJob("microboone", "neutrino", seed=1,
                                options=(("max_energy", 500.0), ("category", "nue_cc")))
    assert SimulationJob("sbnd", "neutrino", options={"mix": "balanced"}).options == ()
    assert canonical_options("neutrino", {"min_energy": None, "topology": ""}) == ()
    with pytest.raises(LarsegError, match="fsi takes true or false, not 1"):
        SimulationJob("microboone", "neutrino", options={"fsi": 1})
    with pytest.raises(LarsegError, match="topology 1e1p is nue_cc only, not category numu_cc"):
        SimulationJob("microboone", "neutrino", options={"topology": "1e1p",
                                                         "category": "numu_cc"})
    with pytest.raises(LarsegError, match="min_energy 600.0 MeV is not below max_energy 500.0"):
        get_generator("neutrino", min_energy=600.0, max_energy=500.0)
    with pytest.raises(LarsegError, match="outside the BNB spectrum's 100-3000 MeV"):
        get_generator("neutrino", max_energy=50.0)


# ------------------------------------------------------------------ the selections
def test_category_and_energy_window_hold_for_every_event(tmp_path):
    out = tmp_path / "nue_lowe.h5"
    _simulate(out, "-n", "4", "--seed", "8100", "-O", "category=nue_cc", "-O", "max_energy=500")
    events = list(EventFile(out))
    assert len(events) == 4
    for ev in events:
        (it,) = ev.interactions
        assert abs(it.nu_pdg) == 12 and it.current == 0 and 100.0 <= it.energy < 500.0
        assert {"nue_cc", "nue_cc_lowe"} <= set(event_samples(ev.interactions, ev.particles))


def test_energy_window_is_the_natural_sample_restricted():
    """With max_energy=500 the νμ CC events are the natural νμ CC events below 500 MeV: E_ν
    (two-sample Kolmogorov-Smirnov distance) and the modes' shares agree (DIS, which needs
    W > M + 2 m_π, i.e. E_ν ≳ 480 MeV on a nucleon at rest, is rare there); the spectrum is
    truncated, not reweighted."""
    rng = np.random.default_rng(3)
    cut = [NeutrinoGenerator(category="numu_cc", max_energy=500.0).sample(rng) for _ in range(600)]
    free = [NeutrinoGenerator(category="numu_cc").sample(rng) for _ in range(3000)]
    low = [fs for fs in free if fs.energy < 500.0]
    a = np.sort([fs.energy for fs in cut])
    b = np.sort([fs.energy for fs in low])
    assert a.max() < 500.0 and b.size > 300

    def ks(x: np.ndarray) -> float:
        grid = np.concatenate([x, b])
        return float(np.abs(np.searchsorted(x, grid, "right") / x.size
                            - np.searchsorted(b, grid, "right") / b.size).max())

    # 1 % critical value of the KS distance for these sizes: 1.63 sqrt((n + m) / (n m))
    assert ks(a) < 1.63 * np.sqrt((a.size + b.size) / (a.size * b.size)), ks(a)
    # a shape the test rejects: E_ν uniform in the window
    assert ks(np.sort(rng.uniform(100.0, 500.0, 600))) > 0.2

    def dis(sample) -> float:
        return float(np.mean([fs.mode in (1091, 1092) for fs in sample]))

    assert dis(free) > 0.15                        # MODE_FRACTIONS: DIS 20 % over the spectrum
    assert dis(cut) < 0.05 and dis(low) < 0.05     # ... and rare below 500 MeV, in both


def test_topology_1mu1p_holds_for_every_event_of_the_file(tmp_path):
    out = tmp_path / "1mu1p.h5"
    _simulate(out, "-n", "3", "--seed", "8400", "-O", "topology=1mu1p")
    events = list(EventFile(out))
    assert len(events) == 3
    for ev in events:
        samples = event_samples(ev.interactions, ev.particles)
        assert "numu_cc" in samples and "1mu1p" in samples, samples


def test_low_energy_1e1p_from_the_generator():
    """Many draws at generator level: every one is 1e1p by the samples' rule, below 500 MeV;
    the same rng gives the same interaction."""
    gen = get_generator("neutrino", topology="1e1p", max_energy=500.0)
    rng = np.random.default_rng(11)
    for _ in range(60):
        fs = gen.sample(rng)
        assert fs.energy < 500.0 and abs(fs.nu_pdg) == 12
        prim = final_state_primaries(fs, np.zeros(3), 0.0, 0)
        assert sum(abs(p.pdg) == 11 for p in prim) == 1
        assert sum(p.pdg == 2212 and p.kinetic_energy > 60.0 for p in prim) == 1
    a = gen.generate(_detector(), np.random.default_rng(5))
    b = gen.generate(_detector(), np.random.default_rng(5))
    assert [(p.pdg, p.kinetic_energy) for p in a.primaries] == \
        [(p.pdg, p.kinetic_energy) for p in b.primaries]


def _detector():
    from larseg.detectors import get_detector

    return get_detector("microboone")


def test_generator_topology_agrees_with_the_file_truth():
    """The generator decides the topology on its final state by larseg.samples' rule;
    on natural νμ CC events the answer is the one the rule gives on the transported truth."""
    from larseg.sim.generators.neutrino import _topology
    from larseg.sim.simulate import simulate_event

    job = SimulationJob("microboone", "neutrino", seed=2, options={"category": "numu_cc"})
    gen = get_generator("neutrino", category="numu_cc")
    said, truth = [], []
    for i in range(8):
        said.append(_topology(gen.sample(job.rng(i)), 0))   # the generator draws first
        ev = simulate_event(job, i)
        truth.append("1mu1p" if "1mu1p" in event_samples(ev.interactions, ev.particles) else None)
    assert said == truth and said.count("1mu1p") >= 2 and said.count(None) >= 2, said


# ------------------------------------------------------------------ identity and defaults
def test_resume_with_other_options_is_refused(tmp_path):
    out = tmp_path / "nu.h5"
    job = SimulationJob("microboone", "neutrino", seed=4, options={"category": "nc"})
    simulate_to_file(out, job, 1, workers=1)
    with h5py.File(out, "r") as f:
        stored = json.loads(f.attrs[IDENTITY_ATTR])
    assert stored["generator_options"] == {"category": "nc"}
    other = SimulationJob("microboone", "neutrino", seed=4, options={"category": "nue_cc"})
    with pytest.raises(JobMismatchError, match="generator_options is {'category': 'nc'} there, "
                                               "{'category': 'nue_cc'} here"):
        simulate_to_file(out, other, 2, workers=1)
    with pytest.raises(JobMismatchError, match="generator_options is {'category': 'nc'} there, "
                                               "None here"):
        simulate_to_file(out, SimulationJob("microboone", "neutrino", seed=4), 2, workers=1)
    # the same options (spelled with a default beside them) extend it
    same = SimulationJob("microboone", "neutrino", seed=4, options={"category": "nc", "fsi": True})
    assert simulate_to_file(out, same, 2, workers=1).recovered == 1
    assert [ev.interactions[0].current for ev in EventFile(out)] == [1, 1]


def test_defaults_leave_the_file_byte_identical(tmp_path):
    """A file written with every option at its default equals one written without options,
    dataset by dataset and in its stored job (so a file written before options existed, whose
    record has no options, resumes with none); one non-default option changes the events."""
    plain, spelled, nofsi = tmp_path / "plain.h5", tmp_path / "spelled.h5", tmp_path / "nofsi.h5"
    _simulate(plain, "-n", "2", "--seed", "3")
    _simulate(spelled, "-n", "2", "--seed", "3", "-O", "mix=balanced", "-O", "fsi=true",
              "-O", "category=", "-O", "max_energy=none", "-O", "topology=")
    a, b = datasets(plain), datasets(spelled)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert "generator_options" not in json.loads(a["@larseg_job"])
    _simulate(plain, "-n", "3", "--seed", "3")   # extends, the job being the same
    assert len(list(EventFile(plain))) == 3
    _simulate(nofsi, "-n", "2", "--seed", "3", "-O", "fsi=false")
    c = datasets(nofsi)
    assert c["Data/particle_mctruth_group/particles"] != a["Data/particle_mctruth_group/particles"]
    assert c["Data/sparse2d_wire_group/voxels"] != a["Data/sparse2d_wire_group/voxels"]


def test_options_travel_with_a_ray_shard(tmp_path):
    """The shard task gets the job as asdict(job) through Ray's pickling: it rebuilds the same
    job, options included, and writes the single file's events of its block."""
    from larseg.sim.sharding import _simulate_shard

    job = SimulationJob("microboone", "neutrino", seed=6,
                        options={"category": "numu_cc", "max_energy": 800.0})
    single = tmp_path / "single.h5"
    simulate_to_file(single, job, 3, workers=1)
    shard = tmp_path / "shard-00001.h5"
    got = _simulate_shard(str(shard), pickle.loads(pickle.dumps(asdict(job))), 1, 2)
    assert got == {"file": shard.name, "first_event": 1, "n_events": 2}
    with h5py.File(shard, "r") as f:
        stored = json.loads(f.attrs[IDENTITY_ATTR])
    assert stored["generator_options"] == {"category": "numu_cc", "max_energy": 800.0}
    assert stored["first_event"] == 1
    want = list(EventFile(single))[1:]
    for a, b in zip(EventFile(shard), want, strict=True):
        assert a.event == b.event and a.interactions == b.interactions
        assert [p.pdg for p in a.particles] == [p.pdg for p in b.particles]
