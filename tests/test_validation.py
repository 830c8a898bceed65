"""The physics validation page: every check passes at its quick setting, and the page names them."""

from __future__ import annotations

from larseg.validation.report import run_all


def test_quick_validation_passes(tmp_path):
    checks = run_all(tmp_path, seed=12345, quick=True)
    failed = [f"{c.name}: {c.measured} (reference {c.reference})" for c in checks if not c.passed]
    assert not failed, failed
    page = (tmp_path / "physics.md").read_text()
    for c in checks:
        assert c.name in page
        if c.figure:
            assert (tmp_path / "physics" / c.figure).stat().st_size > 10_000
