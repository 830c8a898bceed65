"""An event whose tables outgrow the room the muon stepping is given is run again, identically."""

from __future__ import annotations

import numpy as np

from larseg.detectors import get_detector
from larseg.sim import transport as T
from larseg.sim.generators import get_generator
from larseg.sim.simulate import SimulationJob


def _arrays(primaries, det, state):
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return T.transport_arrays(primaries, det, rng)


def test_an_event_that_overflows_its_room_is_run_again_identically(monkeypatch):
    det = get_detector("microboone")
    rng = SimulationJob("microboone", "cosmics", seed=3).rng(0)
    primaries = get_generator("cosmics", in_time_only=False).generate(det, rng).primaries
    state = rng.bit_generator.state
    P1, D1 = _arrays(primaries, det, state)
    assert len(D1) > 10_000 and (P1[:, T.KIND] == T.KIND_HEAVY).sum() > 10
    # room for 16 deposits and 1 particle: the first muon overflows both, the event is run
    # again with 8 times the room, ... until it fits (at least twice: the first muon, stepped
    # partly outside the readout, makes over 128 deposits and several δ-rays)
    room = [16, 1]
    monkeypatch.setattr(T, "_room", room)
    P2, D2 = _arrays(primaries, det, state)
    assert room[0] >= 8 ** 2 * 16 and room[1] >= 8 ** 2
    assert P2.tobytes() == P1.tobytes() and D2.tobytes() == D1.tobytes()
