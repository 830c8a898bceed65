"""Evaluate every snapshot of a run (``train.snapshot_every``) on one file, to choose a step.

Runs ``larseg evaluate RUN/config.yaml --weights SNAPSHOT --data FILE`` for each
``RUN/snapshots/step_*.safetensors`` (and the run's final weights), prints one row per step with
the cosmic tagger's all-plane Table 2 numbers (mean IoU, non-background accuracy, cosmic and
neutrino IoU, plane Y's non-background accuracy), and writes them to
``RUN/snapshot_scan.json``. Choose on a validation file, never on the held-out set; with a
constant learning rate, the run's config with ``train.steps`` = the chosen step makes exactly that
snapshot's weights (tests/test_train_engine.py).

    .venv/bin/python benchmarks/snapshot_scan.py runs/cosmic_tagger_plane_acc8 \
        --data runs/data/sbnd_val.h5 [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from larseg.metrics.cosmic import table2

LARSEG = str(Path(sys.executable).with_name("larseg"))


def headline(metrics: dict) -> dict[str, float]:
    """The numbers a row shows, from an evaluation's metrics.json: the dense tagger's Table 2,
    or larseg.metrics.cosmic.table2 of the sparse tagger's active-voxel confusion: the pixels
    without charge are background and predicted so (the sparse network labels only its voxels),
    so they change none of these numbers (docs/results.md)."""
    if "cosmic_tagger" in metrics:
        table = metrics["cosmic_tagger"]["table2"]
    else:
        planes = metrics["active"]
        total = [[sum(planes[p]["confusion"][i][j] for p in ("U", "V", "Y")) for j in range(3)]
                 for i in range(3)]
        table = {"all planes": table2(total), "Y": table2(planes["Y"]["confusion"])}
    every = table["all planes"]
    return {"mean_iou": every["mean_iou"],
            "non_background_accuracy": every["non_background_accuracy"],
            "cosmic_iou": every["cosmic_iou"], "neutrino_iou": every["neutrino_iou"],
            "y_non_background_accuracy": table["Y"]["non_background_accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", required=True, help="the validation file")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    weights = sorted((args.run / "snapshots").glob("step_*.safetensors"))
    final = args.run / "model.safetensors"
    snapped = {json.loads(w.with_suffix(".json").read_text())["step"] for w in weights}
    if final.is_file() and json.loads(final.with_suffix(".json").read_text())["step"] not in snapped:
        weights.append(final)  # the run's last step, unless a snapshot holds it
    if not weights:
        raise SystemExit(f"{args.run} has no snapshots and no model.safetensors")
    rows = []
    for w in weights:
        out = args.run / "snapshot_scan" / w.stem
        old = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() \
            else {}
        if old.get("weights") == str(w) and old.get("data") == [args.data]:
            done = None  # evaluated by an earlier scan
        else:
            done = subprocess.run([LARSEG, "evaluate", str(args.run / "config.yaml"),
                                   "--weights", str(w), "--data", args.data, "-o", str(out),
                                   "--set", f"train.threads={args.threads}"],
                                  capture_output=True, text=True)
        if done is not None and done.returncode:
            raise SystemExit(f"evaluating {w} failed:\n{done.stderr[-2000:]}")
        step = json.loads(w.with_suffix(".json").read_text())["step"]
        rows.append({"weights": str(w), "step": step,
                     **headline(json.loads((out / "metrics.json").read_text()))})
        r = rows[-1]
        print(f"step {step:6d}  mean IoU {r['mean_iou']:.3f}  non-bg acc "
              f"{r['non_background_accuracy']:.3f}  cosmic IoU {r['cosmic_iou']:.3f}  "
              f"neutrino IoU {r['neutrino_iou']:.3f}  Y non-bg acc "
              f"{r['y_non_background_accuracy']:.3f}", flush=True)
    (args.run / "snapshot_scan.json").write_text(json.dumps({"data": args.data, "rows": rows},
                                                            indent=1))
    best = max(rows, key=lambda r: r["mean_iou"])
    print(f"best mean IoU on {args.data}: step {best['step']} ({best['mean_iou']:.3f}); "
          f"wrote {args.run / 'snapshot_scan.json'}")


if __name__ == "__main__":
    main()
