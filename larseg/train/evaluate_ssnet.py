"""SSNet's evaluation on whole planes by tiles: the 3-class confusion and the talk's ICPF table
(../shared/papers/004, slide "Performance") per file and per held-out sample of the talk (the
bomb test sample, νe CC, νμ CC, 1e1p, 1μ1p and their low-energy versions), each event's samples
taken from its truth by :mod:`larseg.samples`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data._torch import torch
from ..samples import SAMPLES, SampleRules, event_samples
from ..metrics.ssnet import ICPFEvaluator

if TYPE_CHECKING:
    from .trainer import TrainingConfig

#: the talk's ICPF table (../shared/papers/004, slide "Performance", as fractions): per sample
#: the mean, the 90 % quantile, the shower and track columns; its "Test" is the bomb test sample,
#: "νe" / "νμ" the CC samples, "1μ1p-LE" / "1e1p-LE" the low-energy ones. Copied as printed
#: (1μ1p-LE's 90 % quantile is below its mean there)
TALK_ICPF = {
    "test": {"mean": 0.019, "q90": 0.046, "shower": 0.041, "track": 0.026},
    "nue_cc": {"mean": 0.060, "q90": 0.138, "shower": 0.076, "track": 0.138},
    "numu_cc": {"mean": 0.039, "q90": 0.045, "shower": 0.142, "track": 0.043},
    "1e1p": {"mean": 0.022, "q90": 0.057, "shower": 0.028, "track": 0.040},
    "1mu1p_lowe": {"mean": 0.023, "q90": 0.022, "shower": 0.062, "track": 0.024},
    "1e1p_lowe": {"mean": 0.039, "q90": 0.115, "shower": 0.038, "track": 0.080},
}
#: the talk's mean ICPF per sample: the numbers to beat (issue 13)
TALK_MEAN_ICPF = {k: v["mean"] for k, v in TALK_ICPF.items()}
#: the targets SSNet is evaluated on (their truth mapped to its classes by :func:`ssnet_truth`)
SSNET_TARGETS = ("ssnet", "track_shower")


def ssnet_truth(label, target: str):
    """SSNet's classes (background 0, track 1, shower 2) of a batch's labels: the ``"ssnet"``
    target's categories by :data:`larseg.models.ssnet.CATEGORY_TO_CLASS`, or the
    ``"track_shower"`` target's track 0 / shower 1 shifted by one, its unlabelled pixels (-1:
    empty or noise) background, as the ``"ssnet"`` target labels them."""
    from ..models.ssnet import CATEGORY_TO_CLASS

    if target == "ssnet":
        table = torch.tensor(CATEGORY_TO_CLASS, dtype=torch.int64)
        return torch.where(label >= 0, table[label.clamp(min=0)], -1)
    if target == "track_shower":
        return torch.where(label >= 0, label + 1, 0)
    raise _not_ssnet_target(target)


def _not_ssnet_target(target: str):
    from ..errors import LarsegError

    return LarsegError(f"data.target '{target}': SSNet is evaluated on the "
                       f"{' or '.join(SSNET_TARGETS)} target")


class _TruthTap(Sequence):
    """An event source that keeps the truth (interactions, particles) of the last event read,
    so the dataset reads each event once and the samples still come from its truth."""

    def __init__(self, source: Sequence) -> None:
        self.source = source
        self.path = getattr(source, "path", None)
        self.last: tuple[list, list] = ([], [])

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index):
        event = self.source[index]
        self.last = (event.interactions, event.particles)
        return event


class ICPFGroups:
    """Per-image ICPF values gathered under named groups (files, samples): each event's values
    are computed once and added to every group it belongs to; :meth:`table` gives a group's
    ICPF per plane and over ``"all planes"`` pooled, as :class:`ICPFEvaluator` summarises."""

    def __init__(self, planes: Sequence[int]) -> None:
        self.planes = list(planes)
        self.per_plane: dict[str, ICPFEvaluator] = {}
        self.pooled: dict[str, ICPFEvaluator] = {}  # every plane image of the group as one set
        self.events: dict[str, int] = {}

    def add(self, names: Iterable[str], values: dict[int, list[dict[str, float]]]) -> None:
        """Add one event's per-image values (``ICPFEvaluator.values``) to each group."""
        for name in names:
            per_plane = self.per_plane.setdefault(name, ICPFEvaluator("classes", self.planes))
            pooled = self.pooled.setdefault(name, ICPFEvaluator("classes", self.planes[:1]))
            self.events[name] = self.events.get(name, 0) + 1
            for k, rows in values.items():
                per_plane.values.setdefault(k, []).extend(rows)
                pooled.values.setdefault(0, []).extend(rows)

    def table(self, name: str) -> dict:
        (everything,) = self.pooled[name].evaluate().values()
        return {"all planes": {k: v for k, v in everything.items() if k != "images"},
                **self.per_plane[name].evaluate()}


def _sample_order(names: Iterable[str]) -> list[str]:
    """The talk's samples in :data:`SAMPLES` order, then the others (file names) as found."""
    names = list(names)
    return [s for s in SAMPLES if s in names] + [n for n in names if n not in SAMPLES]


def evaluate_ssnet(cfg: TrainingConfig, model, weights, files: list[Path], out: Path,
                   max_events: int = 0, rules: SampleRules = SampleRules()) -> dict:
    """SSNet on every plane of the first ``max_events`` events of each file (0: all) at the
    config's resolution, whole planes by tiles of ``data.crop``
    (:func:`larseg.train.tiling.tiled_forward`, margin :func:`~larseg.train.tiling.tiling_for`'s).

    Only the pixels the network sees charge on count (ADC > 0 after its input mask,
    ``model.adc_threshold``): SSNet labels charge, and a pixel with none is nobody's track or
    shower (the talk counts ICPF over "non-background pixels"; what it did with the empty ones
    it does not say). metrics.json: ``classes`` (background, track, shower), ``all`` /
    ``active`` — per plane the confusion of those classes over every pixel / those pixels, all
    files together; ``adc_threshold``;
    ``icpf``, per file, and ``icpf_samples``, per sample of the talk (an event counts in each of
    its samples, :func:`larseg.samples.event_samples` with ``rules``; events with no
    neutrino and no bomb truth under their file's name), each per plane and over
    ``"all planes"`` pooled: the mean ICPF, its 90 % quantile, the images counted and undefined
    (no track or shower pixel, truth or predicted), the mean shower and track ICPF
    (:mod:`larseg.metrics.ssnet`), per plane also each image's values; ``sample_events`` (the
    events of each sample), ``sample_rules`` and the talk's table ``talk_icpf``. report.md has
    the per-sample table in %, beside the talk's mean, then the per-file table."""
    from ..data import DenseDataset
    from ..data.collate import dense_collate
    from ..data.targets import SOURCE_FIELD
    from ..io import open_events
    from ..metrics.segmentation import ConfusionEvaluator
    from ..models.ssnet import SSNET_CLASSES, ssnet_input
    from ..viz.plots import confusion_figure
    from .runtime import autocast
    from .tiling import tiled_forward, tiling_for

    target, planes = cfg.data.target, list(cfg.data.planes)
    threshold = float(getattr(cfg.model, "adc_threshold", 0.0))
    if target not in SSNET_TARGETS:
        raise _not_ssnet_target(target)
    tiling = tiling_for(cfg)
    confusion = ConfusionEvaluator(SSNET_CLASSES, planes)
    by_file, by_sample = ICPFGroups(planes), ICPFGroups(planes)
    names, n = [], 0
    for path in files:
        name = path.name if path.name not in names else str(path)
        names.append(name)
        source = _TruthTap(open_events(path, fields=[SOURCE_FIELD[target], "particles",
                                                     "interactions"]))
        ds = DenseDataset(source, planes=planes, target=target, downsample=cfg.data.downsample,
                          pool=cfg.data.pool, seed=cfg.data.seed, on_empty="skip")
        k = len(ds) if max_events <= 0 else min(len(ds), max_events)
        for i in range(k):
            batch = dense_collate([ds[i]])
            if batch is None:  # an empty event
                continue
            n += 1
            with autocast(cfg.eval.precision, next(model.parameters()).device):
                logits = tiled_forward(model, batch["image"], tiling).float()
            # the pixels that count: those the network sees charge on (its input mask applied)
            seen = ssnet_input(batch["image"], threshold)
            truth = {"image": seen, "label": ssnet_truth(batch["label"], target)}
            confusion.process(truth, logits)
            event = ICPFEvaluator("classes", planes, min_adc=0.0)
            event.process(truth, logits)
            by_file.add([name], event.values)
            by_sample.add(event_samples(*source.last, rules) or [name], event.values)
    samples = _sample_order(by_sample.events)
    metrics = {"weights": str(weights), "data": [str(f) for f in files], "events": n,
               "classes": list(SSNET_CLASSES), "target": target, "adc_threshold": threshold,
               "tiling": {"tile": list(tiling.tile), "margin": tiling.margin},
               **confusion.evaluate(),
               "icpf": {f: by_file.table(f) for f in names if f in by_file.events},
               "icpf_samples": {s: by_sample.table(s) for s in samples},
               "sample_events": {s: by_sample.events[s] for s in samples},
               "sample_rules": asdict(rules), "talk_icpf": TALK_ICPF}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    figure = confusion_figure({p: m["normalised_by_truth"] for p, m in metrics["active"].items()},
                              SSNET_CLASSES, out / "confusion.png",
                              title=f"{Path(weights).name}: active pixels, each truth column "
                                    "normalised")
    (out / "report.md").write_text("\n".join(_ssnet_report(metrics, figure.name)))
    return metrics


def _pct(v: float) -> str:
    return f"{100 * v:.1f}" if np.isfinite(v) else "–"


def _icpf_row(first: str, plane: str, t: dict) -> str:
    s = t["icpf"]
    return (f"| {first} | {plane} | {s['n']} | {_pct(s['mean'])} | {_pct(s['q90'])} | "
            f"{_pct(t['shower'])} | {_pct(t['track'])} | {s['undefined']} |")


def _ssnet_report(m: dict, figure: str) -> list[str]:
    """report.md of :func:`evaluate_ssnet`: the ICPF tables (per sample, then per file), then
    the active-pixel metrics."""
    tile, margin = m["tiling"]["tile"], m["tiling"]["margin"]
    r = m["sample_rules"]
    head = "| plane | images | mean | 90 % quantile | shower | track | undefined |"
    rule = "|---|---|---|---|---|---|---|"
    lines = [f"# Evaluation of {m['weights']}", "",
             f"SSNet on whole planes ({m['events']} events, target `{m['target']}`), tiles of "
             f"{tile[0]} × {tile[1]} with {margin} pixels not kept at each cut edge.", "",
             "## ICPF (incorrectly classified pixel fraction, %)", "",
             "Per plane image, over the pixels with charge the network sees (ADC > 0 after "
             f"its input mask, ADC >= {m['adc_threshold']:g}) that are track or shower in "
             "truth or prediction (larseg.metrics.ssnet); mean and 90 % quantile over the images that have such "
             "pixels (undefined: those without), shower and track columns the means of the "
             "per-class values.", "",
             "### Per sample", "",
             "Samples from each event's truth (larseg.samples): `test` the particle "
             "bomb, `nue_cc` / `numu_cc` / `nc` the neutrino's category, `1e1p` / `1mu1p` CC "
             f"events with one lepton (KE > {r['lepton_min_ke']:g} MeV), one proton (KE > "
             f"{r['proton_min_ke']:g} MeV), no meson and nothing else above "
             f"{r['other_min_ke']:g} MeV; `_lowe`: E_ν < {r['lowe_max_energy']:g} MeV. An "
             "event counts in each of its samples; events with neither a neutrino nor a bomb "
             "are under their file's name. The talk's mean is from its table (the talk does "
             "not say which planes it pools).", "",
             "| sample | events | " + head[2:] + " talk mean |",
             "|---|---|" + rule[1:] + "---|"]
    for sample, table in m["icpf_samples"].items():
        talk = TALK_MEAN_ICPF.get(sample)
        for plane, t in table.items():
            lines.append(_icpf_row(f"{sample} | {m['sample_events'][sample]}", plane, t)
                         + (f" {_pct(talk)} |" if talk is not None else " – |"))
    lines += ["", "The talk's table (%): " + "; ".join(
        f"{k} mean {_pct(v['mean'])}, 90 % {_pct(v['q90'])}, shower {_pct(v['shower'])}, "
        f"track {_pct(v['track'])}" for k, v in TALK_ICPF.items()) + ".", "",
        "### Per file", "", "| file | " + head[2:], "|---|" + rule[1:]]
    for sample, table in m["icpf"].items():
        lines += [_icpf_row(sample, plane, t) for plane, t in table.items()]
    lines += ["", "## Active pixels (ADC > 0)", "", "| plane | accuracy | mean IoU | " + " | ".join(
        f"IoU {c}" for c in m["classes"]) + " |", "|---|---|---|" + "---|" * len(m["classes"])]
    for p, s in m["active"].items():
        lines.append(f"| {p} | {s['accuracy']:.4f} | {s['mean_iou']:.4f} | " + " | ".join(
            f"{s['iou'][c]:.4f}" if np.isfinite(s['iou'][c]) else "–" for c in m["classes"])
            + " |")
    return [*lines, "", f"![confusion]({figure})", ""]
