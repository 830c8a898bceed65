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
