"""A run's logs: ``log.csv`` (one row per optimiser step, every loss term and metric) and,
when ``train.tensorboard`` is on, TensorBoard event files in ``RUN/tensorboard`` (the optional
``tensorboard`` package: ``pip install larseg[tensorboard]``).

A resumed run repeats the steps after its checkpoint, so the CSV is first cut back to the steps
the checkpoint covers; TensorBoard gets the repeated steps again (its viewer keeps the last
value of a step).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import LarsegError


class RunLog:
    def __init__(self, run: Path, tensorboard: bool) -> None:
        self.path = run / "log.csv"
        self.board = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise LarsegError("train.tensorboard is on but the tensorboard package is not "
                                  "installed: pip install larseg[tensorboard]") from None
            self.board = SummaryWriter(str(run / "tensorboard"))

    def write(self, upto: int, rows: list[dict]) -> None:
        """Append ``rows`` to log.csv after cutting it back to the steps ≤ ``upto``."""
        old = []
        if self.path.exists():
            with self.path.open() as f:
                old = [r for r in csv.DictReader(f) if int(r["step"]) <= upto]
        keys = list(dict.fromkeys(k for r in old + rows for k in r)) or ["step"]
        tmp = self.path.with_name("log.csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows(old + rows)
        os.replace(tmp, self.path)
        if self.board is not None:
            for row in rows:
                for key, value in row.items():
                    if key != "step" and isinstance(value, (int, float)):
                        self.board.add_scalar(key, value, row["step"])
            self.board.flush()

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
