"""Seeding that does not depend on the number of DataLoader workers or their order.

Every random draw for dataset item ``index`` in epoch ``epoch`` comes from one
``numpy.random.Generator`` seeded by ``SeedSequence([base_seed, epoch, index])``: which worker
loads the item, and when, cannot change it. :func:`worker_init_fn` additionally seeds the
global numpy / ``random`` / torch generators of each worker (from torch's per-worker seed) for
third-party code that uses them; larseg's own transforms never do.
"""

from __future__ import annotations

import random

import numpy as np

#: keeps larseg's streams apart from other users of SeedSequence([seed, ...])
_STREAM = 0x6C617273  # "lars"


def seed_for(index: int, epoch: int = 0, base_seed: int = 0) -> np.random.SeedSequence:
    """The seed sequence of one item: a pure function of (base seed, epoch, index)."""
    if index < 0 or epoch < 0 or base_seed < 0:
        raise ValueError(f"seed_for needs non-negative numbers, got index {index}, epoch {epoch}, "
                         f"base seed {base_seed}")
    return np.random.SeedSequence([_STREAM, int(base_seed), int(epoch), int(index)])


def rng_for(index: int, epoch: int = 0, base_seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed_for(index, epoch, base_seed))


def worker_init_fn(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed the global generators of a worker process.

    torch gives each worker ``base_seed + worker_id`` (base seed drawn per iterator from the
    DataLoader's generator); numpy and ``random`` get seeds derived from it, so that code using
    the global generators does not repeat the same numbers in every worker.
    """
    import torch

    seed = torch.initial_seed() % 2**32
    np.random.seed(np.random.SeedSequence([_STREAM, seed, worker_id]).generate_state(1)[0])
    random.seed(seed)
