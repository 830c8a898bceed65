"""print(event) is a one-screen summary, not the arrays."""

from __future__ import annotations

from tests.factories import toy_event


def test_event_repr_is_short_and_informative():
    ev = toy_event("sbnd", seed=3)
    text = repr(ev)
    lines = text.splitlines()
    assert len(lines) <= 10 and max(len(ln) for ln in lines) < 140
    assert lines[0].startswith("Event 1/0/0 (sbnd): 4 particles, 1 interaction(s)")
    assert "PlaneImage(plane 2 Y, 1280 × 2048," in text and "labels: cosmic" in text
    assert "CC QE (1001)" in text
    assert "array(" not in text
