"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    assert tuple(scope["logits"].shape) == (1, 3, 3, 640, 1024)
    assert scope["meta"]["complete"] and scope["cfg"].model.name == "cosmic_tagger"
    assert int(scope["cosmic_pixels"]) > 100  # the shipped network finds cosmic pixels
    assert (tmp_path / "example.png").stat().st_size > 10_000
    assert capsys.readouterr().out.startswith("Event 1/1/0 (sbnd):")
