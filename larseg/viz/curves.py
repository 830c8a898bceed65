"""Training curves of several runs side by side (``larseg curves``), read from each run's
``log.csv`` (:class:`larseg.train.logs.RunLog`: one row per optimiser step with ``step``, the
total ``loss``, every loss term, ``lr``, ``skipped`` — the count of skipped events so far —
and, on validation steps only, the ``val_*`` columns; empty cells elsewhere).

:func:`read_log` turns one log into a :class:`RunCurves` (a column empty in every row counts as
absent). :func:`summarise` gives, per run, the last value of every column, the best value of
each validation column and its step, and the total loss's running mean at steps every run
reached, so that runs are compared at equal steps. :func:`curves_figure` draws one panel per
quantity, every run in its own colour.

The running mean at a step is the mean of the loss over the last ``window`` logged steps up to
and including it (fewer at the start of a run): it uses no later step, so two runs' values at
the same step saw the same number of updates.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LarsegError

# columns that are not loss terms (what the trainer adds to the loss module's named terms)
STEP, LOSS, LR, SKIPPED = "step", "loss", "lr", "skipped"
VALIDATION_PREFIX = "val_"
# a validation column whose name holds one of these is better when lower (val_loss, an ICPF,
# an error rate); any other (accuracy, IoU, efficiency, purity) is better when higher
LOWER_IS_BETTER = ("loss", "error", "icpf")
SMOOTH_FRACTION = 0.02  # default running-mean window: 2 % of the longest run's logged steps
COMPARE_FRACTIONS = (0.10, 0.25, 0.50, 1.00)  # of the shortest run's last step


@dataclass(frozen=True)
class RunCurves:
    """One run's log: ``steps`` (increasing) and, per column, a float array over those steps
    (NaN where the cell is empty, e.g. ``val_*`` between validations)."""

    label: str
    path: Path
    steps: np.ndarray
    values: dict[str, np.ndarray] = field(repr=False)

    @property
    def terms(self) -> tuple[str, ...]:
        """The loss terms: every column but step, loss, lr, skipped and the val_* ones."""
        return tuple(c for c in self.values
                     if c not in (LOSS, LR, SKIPPED) and not c.startswith(VALIDATION_PREFIX))

    @property
    def validation(self) -> tuple[str, ...]:
        return tuple(c for c in self.values if c.startswith(VALIDATION_PREFIX))

    def series(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of ``column`` where it holds a number (empty if the run lacks it)."""
        if column not in self.values:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        v = self.values[column]
        keep = np.isfinite(v)
        return self.steps[keep], v[keep]


def log_path(run: Path) -> Path:
    """``RUN/log.csv`` for a run directory, ``run`` itself for a file."""
    path = run / "log.csv" if run.is_dir() else run
    if not path.is_file():
        raise LarsegError(f"{path}: no such file (give a run directory that larseg train "
                          "wrote, which holds log.csv, or the log.csv itself)")
    return path


def _number(text: str, path: Path, line: int, column: str) -> float:
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise LarsegError(f"file {path}, line {line}: column '{column}' holds {text!r}, not a "
                          "number") from None


def read_log(run: Path, label: str | None = None, max_step: int | None = None) -> RunCurves:
    """A run's curves from a run directory or a ``log.csv`` path, keeping the steps up to
    ``max_step``; ``label`` defaults to the run directory's name. Errors name the file and the
    line: a missing step column, a row with the wrong number of cells, a cell that is not a
    number, steps that do not increase, no step at all."""
    path = log_path(run)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise LarsegError(f"file {path} is empty: no header line")
            if STEP not in header:
                raise LarsegError(f"file {path}, line 1: no '{STEP}' column (columns: "
                                  f"{', '.join(header)}); not a larseg log.csv?")
            at = header.index(STEP)
            rows: list[list[float]] = []
            for cells in reader:
                line = reader.line_num
                if len(cells) != len(header):
                    raise LarsegError(f"file {path}, line {line}: {len(cells)} cells, the "
                                      f"header has {len(header)}")
                row = [_number(c, path, line, k) for c, k in zip(cells, header)]
                step = row[at]
                if not (math.isfinite(step) and step == int(step)):
                    raise LarsegError(f"file {path}, line {line}: step {cells[at]!r} is not a "
                                      "whole number")
                if rows and step <= rows[-1][at]:
                    raise LarsegError(f"file {path}, line {line}: step {int(step)} after step "
                                      f"{int(rows[-1][at])}; steps must increase")
                rows.append(row)
    except UnicodeDecodeError:
        raise LarsegError(f"file {path}: not a text CSV file") from None
    except csv.Error as e:
        raise LarsegError(f"file {path}, line {reader.line_num}: {e}") from None
    table = np.array(rows, dtype=float).reshape(len(rows), len(header))
    steps = table[:, header.index(STEP)].astype(np.int64)
    if max_step is not None:
        table, steps = table[steps <= max_step], steps[steps <= max_step]
    if not len(steps):
        upto = "" if max_step is None else f" up to step {max_step}"
        raise LarsegError(f"file {path} holds no logged step{upto}")
    values = {k: table[:, i] for i, k in enumerate(header)
              if k != STEP and np.isfinite(table[:, i]).any()}  # all-empty: the run lacks it
    if LOSS not in values:
        raise LarsegError(f"file {path}: no '{LOSS}' column with values")
    name = path.parent.name if path.name == "log.csv" else path.stem
    return RunCurves(label or name or str(path), path, steps, values)


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the finite values among the last ``window`` entries up to each one (NaN where
    there is none)."""
    if window < 1:
        raise ValueError(f"window {window} < 1")
    finite = np.isfinite(values)
    total = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    count = np.concatenate([[0], np.cumsum(finite)])
    hi = np.arange(1, len(values) + 1)
    lo = np.maximum(hi - window, 0)
    n = count[hi] - count[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (total[hi] - total[lo]) / n, np.nan)


def default_window(runs: Sequence[RunCurves]) -> int:
    """2 % of the longest run's logged steps, at least 1."""
    return max(1, round(SMOOTH_FRACTION * max(len(r.steps) for r in runs)))


def compare_steps(runs: Sequence[RunCurves],
                  fractions: Sequence[float] = COMPARE_FRACTIONS) -> tuple[int, ...]:
    """Steps at ``fractions`` of the shortest run's last step (rounded, at least 1, distinct)."""
    shortest = min(int(r.steps[-1]) for r in runs)
    return tuple(sorted({max(1, round(f * shortest)) for f in fractions}))


def lower_is_better(column: str) -> bool:
    return any(word in column for word in LOWER_IS_BETTER)


def value_at(steps: np.ndarray, values: np.ndarray, step: int) -> float | None:
    """``values`` at the last logged step ≤ ``step``; None when ``step`` lies outside the
    run's steps or the value there is not a number."""
    if not len(steps) or step < steps[0] or step > steps[-1]:
        return None
    v = float(values[np.searchsorted(steps, step, side="right") - 1])
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class RunSummary:
    """One run's row of :func:`summarise`."""

    label: str
    log: str
    last_step: int
    logged_steps: int
    last: dict[str, float]  # every column's last finite value
    best: dict[str, tuple[float, int]]  # val_* column -> (best value, its step)
    smoothed_loss: dict[int, float | None]  # step -> running mean of the loss there


@dataclass(frozen=True)
class CurvesSummary:
    """:func:`summarise`'s result: the window, the steps compared, a row per run."""

    window: int
    steps: tuple[int, ...]  # where smoothed_loss is taken
    runs: tuple[RunSummary, ...]
    quantities: tuple[str, ...]  # what the figure draws (:func:`panels`), then skipped

    def to_dict(self) -> dict:
        """JSON-ready (no NaN: a missing value is None)."""
        return {"window": self.window, "compare_steps": list(self.steps),
                "quantities": list(self.quantities),
                "runs": [{"label": r.label, "log": r.log, "last_step": r.last_step,
                          "logged_steps": r.logged_steps, "last": r.last,
                          "best": {k: {"value": v, "step": s} for k, (v, s) in r.best.items()},
                          "smoothed_loss": {str(s): v for s, v in r.smoothed_loss.items()}}
                         for r in self.runs]}


def _best(steps: np.ndarray, values: np.ndarray, column: str) -> tuple[float, int]:
    i = int(np.argmin(values) if lower_is_better(column) else np.argmax(values))  # first on ties
    return float(values[i]), int(steps[i])


def summarise(runs: Sequence[RunCurves], window: int | None = None,
              at: Sequence[int] | None = None) -> CurvesSummary:
    """Per run: the last value of every column, the best of each validation column (lowest for
    losses, highest otherwise) with its step, and the running mean of the loss over ``window``
    steps (default :func:`default_window`) at the steps ``at`` (default :func:`compare_steps`)."""
    window = default_window(runs) if window is None else window
    at = compare_steps(runs) if not at else tuple(sorted(set(at)))
    out = []
    for r in runs:
        last = {k: float(r.series(k)[1][-1]) for k in r.values}
        best = {k: _best(*r.series(k), k) for k in r.validation}
        smooth = running_mean(r.values[LOSS], window)
        out.append(RunSummary(r.label, str(r.path), int(r.steps[-1]), len(r.steps), last, best,
                              {s: value_at(r.steps, smooth, s) for s in at}))
    skipped = (SKIPPED,) if any(SKIPPED in r.values for r in runs) else ()
    return CurvesSummary(window, at, tuple(out), (*panels(runs), *skipped))


def _same_as_loss(run: RunCurves, term: str) -> bool:
    a, b = run.values[term], run.values[LOSS]
    return bool(np.array_equal(a, b, equal_nan=True))


def panels(runs: Sequence[RunCurves]) -> list[str]:
    """The quantities drawn, in order: loss, the loss terms (every term any run has, but not one
    that equals the loss at every step in every run that has it: a loss of one term), lr, the
    validation columns."""
    def union(get) -> list[str]:
        return list(dict.fromkeys(c for r in runs for c in get(r)))

    terms = [t for t in union(lambda r: r.terms)
             if not all(_same_as_loss(r, t) for r in runs if t in r.values)]
    lr = [LR] if any(LR in r.values for r in runs) else []
    return [LOSS, *terms, *lr, *union(lambda r: r.validation)]


def _hidden_note(runs: Sequence[RunCurves], hidden: Sequence[str]) -> str:
    """What the loss panel also shows: the terms left out as equal to the loss."""
    notes = []
    for t in hidden:
        having = [r.label for r in runs if t in r.values]
        notes.append(t if len(having) == len(runs) else f"{t} for {', '.join(having)}")
    return f" (= {'; '.join(notes)})" if notes else ""


def curves_figure(runs: Sequence[RunCurves], window: int | None = None, title: str = ""):
    """Matplotlib Figure: a panel per quantity of :func:`panels`, step on the shared x axis.
    Loss and terms: every step, light, and the running mean over ``window`` steps; lr on a log
    scale; validation columns as points joined by lines. A run lacking a column has no line in
    its panel; the legend names every run in its colour."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    window = default_window(runs) if window is None else window
    names = panels(runs)
    ncols = min(len(names), 2 if len(names) <= 4 else 3)
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(4.8 * ncols, 3.1 * nrows + 0.7), dpi=110, facecolor="white",
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    hidden = [t for t in dict.fromkeys(t for r in runs for t in r.terms) if t not in names]
    for ax, name in zip(axes, names):
        for k, r in enumerate(runs):
            steps, v = r.series(name)
            if not len(steps):
                continue
            colour = f"C{k % 10}"
            if name.startswith(VALIDATION_PREFIX):
                ax.plot(steps, v, "o-", color=colour, ms=3.5, lw=1.2)
            elif name == LR:
                ax.plot(steps, v, color=colour, lw=1.4)
            else:
                ax.plot(steps, v, color=colour, lw=0.6, alpha=0.25)
                ax.plot(r.steps, running_mean(r.values[name], window), color=colour, lw=1.5)
        label = name
        if name == LOSS:
            label += _hidden_note(runs, hidden)
            label += f"\nlight: each step; line: mean of the last {window} steps"
        ax.set_title(label, fontsize=9)
        if name == LR:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.tick_params(labelbottom=True, labelsize=8)
        ax.set_xlabel("step", fontsize=8)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=f"C{k % 10}", lw=2, label=r.label)
               for k, r in enumerate(runs)]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(runs), 4), fontsize=9,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def write_curves(runs: Sequence[RunCurves], path: Path, window: int | None = None,
                 title: str = "") -> Path:
    """:func:`curves_figure` saved to ``path`` (its suffix picks the format: png, pdf, svg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    curves_figure(runs, window, title).savefig(path, facecolor="white")
    return path
