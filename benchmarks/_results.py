"""Keep what a benchmark prints: a copy goes to benchmarks/results/<name>.txt."""

from __future__ import annotations

import contextlib
import io
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


class _Tee(io.TextIOBase):
    def __init__(self, *streams) -> None:
        self.streams = streams

    def write(self, s: str) -> int:
        for st in self.streams:
            st.write(s)
        return len(s)

    def flush(self) -> None:
        for st in self.streams:
            st.flush()


@contextlib.contextmanager
def saved_output(name: str):
    RESULTS.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buf)):
        yield
    header = f"# {' '.join(sys.argv)}\n# {time.strftime('%Y-%m-%d %H:%M')} on {platform.platform()}\n"
    path = RESULTS / f"{name}.txt"
    path.write_text(header + buf.getvalue())
    print(f"wrote {path}")
