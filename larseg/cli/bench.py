"""``larseg bench NAME``: run a benchmark script of ``benchmarks/`` (they print a table and write
``benchmarks/results/``). Benchmarks are not tests: run them on a quiet machine."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import typer

from ..errors import LarsegError
from .app import app

_REPO_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_").replace("_", "-")
                  for p in _REPO_BENCHMARKS.glob("bench_*.py"))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             help="Run a benchmark of benchmarks/ (simulate, read, loader, precision, "
                  "cosmic-tagger, sparse-cosmic-tagger, sparse-ssnet, ssnet, maskrcnn, nms, "
                  "detection-backbone, train-ddp, ...); extra "
                  "options go to it, e.g. `larseg bench simulate --events 40` or "
                  "`larseg bench cosmic-tagger --repeats 3`.")
def bench(ctx: typer.Context,
          name: str = typer.Argument(..., help="Benchmark name (- or _ alike), e.g. "
                                               "cosmic-tagger.")) -> None:
    script = _REPO_BENCHMARKS / f"bench_{name.replace('-', '_')}.py"
    if not script.exists():
        have = ", ".join(_available()) or "none (benchmarks/ ships with the source checkout)"
        raise LarsegError(f"no benchmark '{name}'; available: {have}")
    sys.argv = [str(script), *ctx.args]
    runpy.run_path(str(script), run_name="__main__")
