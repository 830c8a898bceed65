"""Verbs of the networks: train, evaluate, predict, export (the engine, with its small UResNet
so far)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from ..errors import LarsegError
from .app import app



def _shipped_config(config: Path) -> Path | None:
    """``larseg/configs/NAME.yaml`` when ``config`` is a bare NAME with no file of its own."""
    if not config.exists() and config.suffix == "" and len(config.parts) == 1:
        shipped = Path(__file__).resolve().parents[1] / "configs" / f"{config}.yaml"
        if shipped.is_file():
            return shipped
    return None


def config_path(config: Path) -> Path:
    """A config file, or the name of a shipped one (``cosmic_tagger`` ->
    ``larseg/configs/cosmic_tagger.yaml``)."""
    from .common import existing_file

    return _shipped_config(config) or existing_file(config)


def network_config(config: Path, overrides: list[str]):
    """The training config a CONFIG argument names: a YAML file, a shipped config's name
    (:func:`config_path`), or else a shipped network's name, whose config is stored with its
    weights (``mask_rcnn_dense``: the sMask-RCNN config with the dense backbone)."""
    from ..train.config import config_from_data, load_config
    from ..train.trainer import TrainingConfig
    from ..weights import available, read_sidecar, shipped

    name = str(config)
    if _shipped_config(config) is None and not config.exists() and name in available():
        return config_from_data(read_sidecar(shipped(name))["config"], TrainingConfig,
                                overrides, f"of the shipped network {name}")
    return load_config(config_path(config), TrainingConfig, overrides)


@app.command(help=(
    "Train a network from a YAML config: a file, or the name of a shipped one (cosmic_tagger, "
    "sparse_cosmic_tagger, sparse_ssnet, ssnet, pid_cnn, mask_rcnn: larseg/configs/, each saying "
    "in its header how to simulate its data). Sections: model (name: uresnet, cosmic_tagger, "
    "sparse_cosmic_tagger, sparse_ssnet, ssnet, pid_cnn, mask_rcnn, and that network's fields; "
    "model.init_from: SSNet's encoder from a PID CNN run, sMask-RCNN's sparse backbone from a "
    "dense run), data (files, target, crops, downsampling), loss (scheme: the SBND paper's mild / "
    "image / full / none, note 1091's cluster+vertex, SSNet's inverse_frequency and larseg's "
    "inverse_frequency_active / _features; cross_entropy or focal), optim (rmsprop / adam / "
    "adamw, lr, accumulate, clip_norm, schedule), train (steps, checkpoint_every, validate_every, "
    "snapshot_every, threads, device, precision fp32 / bf16 / fp16, channels_last, compile, tensorboard). Unknown "
    "keys and wrong types are one line naming the key.\n\n"
    "Checkpoints go to OUTPUT every train.checkpoint_every steps and at the end (atomically); "
    "Ctrl-C or SIGTERM stops after the step in progress with a checkpoint, and --resume "
    "continues exactly where the run stood. OUTPUT gets config.yaml (the resolved config), "
    "log.csv (every loss term per step) and model.safetensors + model.json (the final weights); "
    "with train.snapshot_every=N also snapshots/step_NNNNNN.safetensors every N steps, to choose "
    "a step on a validation file afterwards. "
    "Data-parallel: torchrun --standalone --nproc_per_node 2 -m larseg train ...\n\n"
    "Example: larseg train cosmic_tagger --set train.steps=200 -o runs/ct"))
def train(
    config: Path = typer.Argument(..., help="Training config (YAML), a shipped config's name, "
                                            "or a shipped network's name (its stored config)."),
    output: Path = typer.Option(Path("run"), "--output", "-o", help="Run directory."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: a.b=value."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUTPUT."),
    device: str = typer.Option("", "--device",
                               help="cpu, cuda, cuda:N or auto (default: train.device)."),
) -> None:
    import time

    from ..train.trainer import train as run_training
    from .app import console
    from .common import progress_bar

    extra = [f"train.device={device}"] if device else []
    cfg = network_config(config, [*overrides, *extra])
    first = [None]

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
    "Evaluate trained weights on one or more files: every event at the config's resolution, "
    "per plane confusion matrices over all labelled and over active (ADC > 0) pixels, accuracy, "
    "IoU per class and mean IoU. For the cosmic tagger (target cosmic) also the SBND paper's "
    "Table 2 (accuracy, non-background accuracy, cosmic / neutrino / mean IoU), its event "
    "selection (efficiency for nue CC, numu CC, NC; rejection of cosmic-only events: give a "
    "cosmics file as a second --data) and IoU against neutrino energy. A sparse network "
    "(SparseSSNet) runs on whole events after its input mask (10-300 ADC) and reports, per "
    "plane over its input pixels (note 1091's non-zero pixels), the 5-class and 2-class "
    "(track/shower) confusion normalised by truth and by prediction, accuracy overall and per "
    "class, and an event display (the note's Figs. 4-6, 11, 12). Writes "
    "OUTPUT/metrics.json, OUTPUT/report.md and its pictures.\n\n"
    "Example: larseg evaluate runs/a/config.yaml --weights runs/a/model.safetensors "
    "--data heldout.h5 --data heldout_cosmics.h5 -o runs/a/eval"))
def evaluate(
    config: Path = typer.Argument(..., help="The config the weights were trained with (YAML), "
                                            "a shipped config's name, or a shipped network's "
                                            "name (mask_rcnn_dense: the config stored with it)."),
    weights: Path = typer.Option(..., "--weights", "-w",
                                 help="model.safetensors of a run, or the name of shipped "
                                      "weights."),
    data: list[Path] = typer.Option([], "--data", "-d",
                                    help="larcv3 (or larcv1 ROOT) file; repeat for more "
                                         "(default: the config's eval.data)."),
    output: Path = typer.Option(Path("evaluation"), "--output", "-o", help="Output directory."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: a.b=value."),
    max_events: int = typer.Option(-1, "--max-events", "-n", min=-1,
                                   help="Events per file (0: every event; default: "
                                        "eval.max_events)."),
    device: str = typer.Option("cpu", "--device",
                               help="cpu, cuda, cuda:N or auto (dense networks)."),
    precision: str = typer.Option("", "--precision",
                                  help="fp32 or bf16 (autocast; default eval.precision)."),
) -> None:
    from ..train.evaluate import evaluate as run_evaluation
    from .app import console
    from .common import existing_file

    extra = [f"eval.precision={precision}"] if precision else []
    cfg = network_config(config, [*overrides, *extra])
    particles = cfg.data.target == "species"  # the PID CNN: single_particle:N@SEED sources
    if not data:
        data = [Path(d.strip()) for d in cfg.eval.data.split(",") if d.strip()]
        if not data and particles and cfg.data.validation:
            data = [Path(cfg.data.validation)]  # its held-out particles
        if not data:
            raise LarsegError("give the held-out files with --data, or in the config's "
                              "eval.data")
    n = cfg.eval.max_events if max_events < 0 else max_events
    m = run_evaluation(cfg, weights, data if particles else [existing_file(d) for d in data],
                       output, n, device)
    if particles:
        console.print(f"PID CNN on {m['particles']} held-out particles: accuracy "
                      f"{m['accuracy']:.4f} (" + ", ".join(
                          f"{s} {a:.3f}" for s, a in m["per_species_accuracy"].items())
                      + f"); wrote {output / 'report.md'}", soft_wrap=True)
        return
    if cfg.data.target == "instances":  # sMask-RCNN: the paper's instance metrics
        console.print(f"sMask-RCNN on {m['events']} events ({m['truths']} truths): efficiency "
                      f"{m['efficiency']:.4f}, purity {m['purity']:.4f}, coverage "
                      f"{m['coverage']:.4f}; wrote {output / 'report.md'}", soft_wrap=True)
        return
    for plane, s in m["active"].items():
        two = (f", track/shower accuracy {m['track_shower'][plane]['accuracy']:.4f}"
               if "track_shower" in m else "")
        console.print(f"plane {plane}: active-pixel accuracy {s['accuracy']:.4f}, "
                      f"mean IoU {s['mean_iou']:.4f}{two}", soft_wrap=True)
    if "cosmic_tagger" in m:
        t = m["cosmic_tagger"]["table2"]["all planes"]
        sel = m["cosmic_tagger"]["selection"]
        console.print(f"all planes: non-background accuracy {t['non_background_accuracy']:.3f}, "
                      f"cosmic IoU {t['cosmic_iou']:.3f}, neutrino IoU {t['neutrino_iou']:.3f}; "
                      "selection efficiency " + ", ".join(
                          f"{c} {e:.2f}" for c, e in sel["efficiency"].items())
                      + f"; cosmic-only rejection {sel['rejection']:.2f}", soft_wrap=True)
    console.print(f"wrote {output / 'report.md'}")


@app.command(help=(
    "Run trained weights over a larcv3 (or larcv1 ROOT) file and write its events with the "
    "predictions on the same voxels: sparse2d pred_<target> (the class) and "
    "pred_<target>_score_<class> (softmax scores); for a sparse network (SparseSSNet) voxels "
    "outside its input mask (10-300 ADC) get class -1 and scores 0. Atomic and resumable like "
    "simulate (Ctrl-C "
    "keeps what is complete; the same command resumes). Show them with "
    "larseg display OUT --prediction pred_<target>. sMask-RCNN (mask_rcnn) writes its "
    "instances instead: cluster2d + particle pred_instances (one cluster per object, with class "
    "and score).\n\n"
    "With --ray ADDRESS the events are cut into blocks of --shard-size, one Ray task each "
    "('local': a local instance with --workers CPUs): -o is then a directory of shard files "
    "plus manifest.json, which together equal the single-machine output event by event "
    "(pip install 'larseg\\[ray]'; on a cluster every node must see the weights and the file "
    "at the same path).\n\n"
    "Example: larseg predict runs/a/config.yaml --weights runs/a/model.safetensors data.h5 "
    "-o data_pred.h5\n\n"
    "Example: larseg predict runs/a/config.yaml -w runs/a/model.safetensors big.h5 "
    "-o big_pred --ray local --workers 2 --shard-size 50"))
def predict(
    config: Path = typer.Argument(..., help="The config the weights were trained with (YAML), "
                                            "a shipped config's name, or a shipped network's "
                                            "name (mask_rcnn_dense: the config stored with it)."),
    file: Path = typer.Argument(..., help="larcv3 (or larcv1 ROOT) file to run on."),
    weights: Path = typer.Option(..., "--weights", "-w",
                                 help="model.safetensors of a run, or the name of shipped "
                                      "weights."),
    output: Path = typer.Option(..., "--output", "-o", help="larcv3 file to write."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: a.b=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    device: str = typer.Option("cpu", "--device",
                               help="cpu, cuda, cuda:N or auto (dense networks)."),
    ray: str = typer.Option("", "--ray", metavar="ADDRESS",
                            help="Shard over a Ray cluster at ADDRESS ('local': a local "
                                 "instance with --workers CPUs); -o is then a directory."),
    shard_size: int = typer.Option(100, "--shard-size", min=1, help="Events per shard with --ray."),
    workers: int = typer.Option(0, "--workers", "-j", min=0,
                                help="CPUs of a local Ray instance (0: one per core)."),
    precision: str = typer.Option("", "--precision",
                                  help="fp32 or bf16 (autocast; default eval.precision)."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an output written by another job (other "
                                        "weights, input or config) instead of refusing it."),
) -> None:
    from ..io import open_events
    from ..train.predict import predict as run_prediction
    from .app import console
    from .common import existing_file, progress_bar

    extra = [f"eval.precision={precision}"] if precision else []
    cfg = network_config(config, [*overrides, *extra])
    if ray:
        from ..train.predict import predict_sharded

        manifest = predict_sharded(cfg, weights, existing_file(file), output,
                                   shard_size=shard_size, address=ray, num_cpus=workers or None)
        console.print(f"wrote the predictions in shards of {shard_size} events; manifest "
                      f"{manifest}", soft_wrap=True, markup=False)
        return
    n = len(open_events(existing_file(file)))
    with progress_bar("predicting", total=n, disable=quiet) as done:
        total = run_prediction(cfg, weights, file, output, on_event=done, device=device,
                               overwrite=overwrite)
    console.print(f"wrote {output}: {total} events with predictions", soft_wrap=True)


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"


@app.command(name="export", help=(
    "Export a dense network's trained weights for use outside larseg: ONNX (onnxruntime, "
    "TensorRT, …) or TorchScript (C++ libtorch). The network is rebuilt from the config in the "
    "JSON beside the weights (a run's model.json), so no config argument is needed. The "
    "exported model takes 'image' (batch, planes, height, width) float32 ADC at the config's "
    "resolution (data.downsample, pooled as data.pool), height and width multiples of "
    "2^depth, and returns 'logits' (batch, planes, classes, height, width); batch, planes and "
    "image size are free. After writing, the exported model is run on a random image and "
    "compared with torch (--no-check to skip). ONNX needs pip install 'larseg\\[export]'. "
    "Sparse networks cannot be exported.\n\n"
    "Example: larseg export --weights runs/a/model.safetensors --format onnx -o cosmic.onnx"))
def export(
    weights: Path = typer.Option(..., "--weights", "-w",
                                 help="model.safetensors of a run (its model.json beside it), "
                                      "or the name of shipped weights."),
    fmt: ExportFormat = typer.Option(..., "--format", "-f", help="onnx or torchscript."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="File to write (default: the weights' name with .onnx "
                                     "or .pt)."),
    check: bool = typer.Option(True, "--check/--no-check",
                               help="Compare the exported model with torch after writing."),
) -> None:
    from ..train.export import max_difference
    from ..train.export import export as run_export
    from .app import console

    out = run_export(weights, fmt.value, output)
    console.print(f"wrote {out} ({fmt.value}): input 'image' (batch, planes, height, width), "
                  "output 'logits' (batch, planes, classes, height, width)", soft_wrap=True,
                  markup=False)
    if check:
        try:
            diff = max_difference(weights, out, fmt.value)
        except LarsegError as e:  # onnxruntime not installed: the file is still good
            console.print(f"not checked: {e}", soft_wrap=True, markup=False)
        else:
            console.print(f"checked: largest |exported - torch| logit on a random image "
                          f"{diff:.2e}", soft_wrap=True, markup=False)
