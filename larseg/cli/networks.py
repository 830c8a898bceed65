"""Verbs of the networks: train, evaluate, predict (the engine, with its small UResNet so far)."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app



@app.command(help=(
    "Train a network from a YAML config (sections model, data, loss, optim, train; unknown keys "
    "and wrong types are errors naming the key). Checkpoints go to OUTPUT every "
    "train.checkpoint_every steps and at the end (written atomically); Ctrl-C or SIGTERM stops "
    "after the step in progress with a checkpoint, and --resume continues exactly where the run "
    "stood. OUTPUT also gets config.yaml (the resolved config), log.csv (every loss term per "
    "step) and model.safetensors + model.json (the final weights).\n\n"
    "Example: larseg train my.yaml --set data.train=sbnd.h5 --set optim.lr=1e-3 -o runs/a"))
def train(
    config: Path = typer.Argument(..., help="Training config (YAML)."),
    output: Path = typer.Option(Path("run"), "--output", "-o", help="Run directory."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: a.b=value."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUTPUT."),
) -> None:
    from ..train.config import load_config
    from ..train.trainer import TrainingConfig, train as run_training
    from .app import console
    from .common import existing_file

    from .common import progress_bar

    cfg = load_config(existing_file(config), TrainingConfig, overrides)
    import time

    t0, first = time.perf_counter(), [None]

    with progress_bar("training", total=cfg.train.steps) as done:
        def show(row: dict) -> None:
            if first[0] is None:
                first[0] = (row["step"], time.perf_counter())
            s0, ts = first[0]
            rate = (row["step"] - s0) / (time.perf_counter() - ts) if row["step"] > s0 else 0.0
            images = rate * cfg.optim.accumulate * cfg.data.batch_size * len(cfg.data.planes)
            val = (f", val {row['val_loss']:.3f}" if isinstance(row.get("val_loss"), float)
                   else "")
            done(row["step"], f"loss {row['loss']:.3f}{val}, {images:.1f} images/s")

        last = run_training(cfg, output, resume=resume, on_step=show)
    console.print(f"trained to step {last.get('step', cfg.train.steps)} "
                  f"(loss {last.get('loss', float('nan')):.4f}); weights in "
                  f"{output / 'model.safetensors'}", soft_wrap=True)


@app.command(help=(
    "Evaluate trained weights on a file: every event at the config's resolution, per plane "
    "confusion matrices over all labelled and over active (ADC > 0) pixels, accuracy, IoU per "
    "class and mean IoU. Writes OUTPUT/metrics.json, OUTPUT/report.md and OUTPUT/confusion.png."
    "\n\nExample: larseg evaluate runs/a/config.yaml --weights runs/a/model.safetensors "
    "--data heldout.h5 -o runs/a/eval"))
def evaluate(
    config: Path = typer.Argument(..., help="The config the weights were trained with (YAML)."),
    weights: Path = typer.Option(..., "--weights", "-w", help="model.safetensors of a run."),
    data: Path = typer.Option(..., "--data", "-d", help="larcv3 (or larcv1 ROOT) file."),
    output: Path = typer.Option(Path("evaluation"), "--output", "-o", help="Output directory."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: a.b=value."),
    max_events: int = typer.Option(0, "--max-events", "-n", min=0, help="0: every event."),
) -> None:
    from ..train.config import load_config
    from ..train.evaluate import evaluate as run_evaluation
    from ..train.trainer import TrainingConfig
    from .app import console
    from .common import existing_file

    cfg = load_config(existing_file(config), TrainingConfig, overrides)
    m = run_evaluation(cfg, weights, existing_file(data), output, max_events)
    for plane, s in m["active"].items():
        console.print(f"plane {plane}: active-pixel accuracy {s['accuracy']:.4f}, "
                      f"mean IoU {s['mean_iou']:.4f}")
    console.print(f"wrote {output / 'report.md'}")


@app.command(help=(
    "Run trained weights over a larcv3 (or larcv1 ROOT) file and write its events with the "
    "predictions on the same voxels: sparse2d pred_<target> (the class) and "
    "pred_<target>_score_<class> (softmax scores). Atomic and resumable like simulate (Ctrl-C "
    "keeps what is complete; the same command resumes). Show them with "
    "larseg display OUT --prediction pred_<target>.\n\n"
    "Example: larseg predict runs/a/config.yaml --weights runs/a/model.safetensors data.h5 "
    "-o data_pred.h5"))
def predict(
    config: Path = typer.Argument(..., help="The config the weights were trained with (YAML)."),
    file: Path = typer.Argument(..., help="larcv3 (or larcv1 ROOT) file to run on."),
    weights: Path = typer.Option(..., "--weights", "-w", help="model.safetensors of a run."),
    output: Path = typer.Option(..., "--output", "-o", help="larcv3 file to write."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: a.b=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from ..io import open_events
    from ..train.config import load_config
    from ..train.predict import predict as run_prediction
    from ..train.trainer import TrainingConfig
    from .app import console
    from .common import existing_file, progress_bar

    cfg = load_config(existing_file(config), TrainingConfig, overrides)
    n = len(open_events(existing_file(file)))
    with progress_bar("predicting", total=n, disable=quiet) as done:
        total = run_prediction(cfg, weights, file, output, on_event=done)
    console.print(f"wrote {output}: {total} events with predictions", soft_wrap=True)
