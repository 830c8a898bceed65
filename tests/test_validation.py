"""The physics validation page: every check passes at its quick setting, and the page names them."""

from __future__ import annotations

from larseg.validation.report import KNOWN_GAPS, run_all, unexpected_failures


def test_quick_validation_passes(tmp_path):
    """Every check passes, except the known gaps (listed with their reasons on the page)."""
    checks = run_all(tmp_path, seed=12345, quick=True)
    failed = [f"{c.name}: {c.measured} (reference {c.reference})"
              for c in unexpected_failures(checks)]
    assert not failed, failed
    names = {c.name for c in checks}
    assert set(KNOWN_GAPS) <= names, "a known gap names a check that no longer exists"
    assert sum(c.name.startswith(("sbnd ", "microboone ")) for c in checks) >= 40
    page = (tmp_path / "physics.md").read_text()
    for c in checks:
        assert c.name in page
        if c.figure:
            assert (tmp_path / "physics" / c.figure).stat().st_size > 10_000
