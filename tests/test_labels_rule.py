"""One label rule: `labels.semantic_class`, its users, and the numba kernels' copies of the enums."""

from __future__ import annotations

from collections import Counter

import pytest

from larseg.event import semantic_of
from larseg.labels import (LARCV_SHAPE_SHOWER, LARCV_SHAPE_TRACK, NO_LABEL, CosmicLabel,
                           SemanticLabel, larcv_shape_to_semantic, semantic_class)

HIP, MIP, SHOWER, DELTA, MICHEL = 0, 1, 2, 3, 4  # note 1091's classes, written out


@pytest.mark.parametrize("pdg,process,parent,expected", [
    (2212, "primary", None, HIP), (1000010020, "primary", None, HIP), (13, "primary", None, MIP),
    (211, "Decay", 2212, MIP), (-11, "Decay", -13, MICHEL), (11, "Decay", 13, MICHEL),
    (11, "Decay", None, MICHEL), (11, "Decay", 0, MICHEL),     # parent not known: Michel
    (11, "Decay", 211, SHOWER), (11, "muIoni", 13, DELTA), (11, "eIoni", 11, DELTA),
    (11, "conv", 22, SHOWER), (22, "Decay", 111, SHOWER), (11, "primary", None, SHOWER),
])
def test_the_rule_by_hand(pdg, process, parent, expected):
    assert semantic_class(pdg, process, parent) == expected
    assert semantic_of(pdg, process, parent) == expected
    shape = LARCV_SHAPE_SHOWER if expected >= SHOWER else LARCV_SHAPE_TRACK
    assert larcv_shape_to_semantic(shape, pdg, process, parent or 0) == expected


def test_numba_copies_of_the_enums_match_labels():
    from larseg.sim import assemble, stack

    assert (stack.S_HIP, stack.S_MIP, stack.S_SHOWER, stack.S_DELTA, stack.S_MICHEL) == \
        tuple(int(c) for c in SemanticLabel)
    assert stack.S_NONE == NO_LABEL
    assert (assemble._BACKGROUND, assemble._COSMIC, assemble._NEUTRINO) == \
        tuple(int(c) for c in CosmicLabel)


def test_the_simulator_assigns_classes_by_the_rule():
    """Every particle the kernels label (e± and γ included) gets the rule's class."""
    from larseg.sim.simulate import SimulationJob, simulate_event

    seen = Counter()
    for det, gen, i in (("microboone", "bomb", 0), ("microboone", "cosmics+neutrino", 1),
                        ("sbnd", "neutrino", 2)):
        ev = simulate_event(SimulationJob(det, gen, seed=31), i)
        for p in ev.particles:
            if p.semantic < 0:
                continue
            parent = ev.particles[p.parent_id].pdg if p.parent_id >= 0 else None
            assert p.semantic == semantic_class(p.pdg, p.process, parent), \
                (p.pdg, p.process, parent, p.semantic)
            seen[p.semantic] += 1
    assert {HIP, MIP, SHOWER, DELTA, MICHEL} <= set(seen), seen
