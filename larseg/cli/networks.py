"""Verbs that the network issues fill in: train, evaluate, predict.

They exist so that ``larseg --help`` shows the whole workflow, and say plainly that no network is
available yet (exit code 2) rather than pretending to work.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, fail

_NOT_YET = ("no network is available in this version of larseg yet: the cosmic tagger, SparseSSNet, "
            "sMask-RCNN and SSNet arrive with their own issues")


@app.command(help="Train a network from a config (not available yet: arrives with the network issues).")
def train(config: Path = typer.Argument(..., help="Training config (YAML).")) -> None:
    fail(_NOT_YET, code=2)


@app.command(help="Evaluate a trained network on a file (not available yet).")
def evaluate(file: Path = typer.Argument(..., help="larcv3 file to evaluate on.")) -> None:
    fail(_NOT_YET, code=2)


@app.command(help="Run a trained network on a file and write its predictions (not available yet).")
def predict(file: Path = typer.Argument(..., help="larcv3 file to run on.")) -> None:
    fail(_NOT_YET, code=2)
