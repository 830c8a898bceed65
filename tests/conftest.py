import os

# Keep numba/OpenMP from oversubscribing the two cores when pytest-xdist runs two workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

from tests.factories import toy_event  # noqa: E402


@pytest.fixture
def microboone_toy():
    return toy_event("microboone", seed=1)


@pytest.fixture
def sbnd_toy():
    return toy_event("sbnd", seed=2)


@pytest.fixture(scope="session")
def simulated_files(tmp_path_factory):
    """Small larcv3 files written by the simulator (3 events each), shared by the whole session."""
    from larseg.sim.simulate import SimulationJob, simulate_to_file

    out = tmp_path_factory.mktemp("sim")
    files = {}
    for det, gen in (("microboone", "bomb"), ("sbnd", "cosmics+neutrino")):
        path = out / f"{det}.h5"
        simulate_to_file(path, SimulationJob(det, gen, seed=11), 3, workers=1)
        files[det] = path
    return files


# Hypothesis: derandomised by default, so that a failure in CI reproduces on any machine
# (HYPOTHESIS_PROFILE=explore draws new examples on every run).
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
