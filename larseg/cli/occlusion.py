"""``larseg occlusion``: occlusion maps of a dense network (SSNet) for chosen events, as pictures
(:mod:`larseg.viz.occlusion`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ..errors import LarsegError
from .app import app


def parse_pixel(text: str) -> tuple[int, int]:
    """``"ROW,COL"`` -> (row, column)."""
    try:
        row, col = (int(v) for v in text.split(","))
    except ValueError:
        raise LarsegError(f"--pixel '{text}': give ROW,COL (two integers)") from None
    return row, col


def parse_region(text: str) -> tuple[slice, slice]:
    """``"R0:R1,C0:C1"`` -> (rows, columns) slices, the ends excluded."""
    try:
        rows, cols = text.split(",")
        (r0, r1), (c0, c1) = ((int(v) for v in part.split(":")) for part in (rows, cols))
    except ValueError:
        raise LarsegError(f"--region '{text}': give R0:R1,C0:C1 (rows R0 … R1-1, columns "
                          "C0 … C1-1)") from None
    if r1 <= r0 or c1 <= c0 or r0 < 0 or c0 < 0:
        raise LarsegError(f"--region '{text}' is empty or negative")
    return slice(r0, r1), slice(c0, c1)


def window_origin(centre: int, window: int, length: int) -> int:
    """First row (column) of a ``window``-long crop centred on ``centre``, kept in the image."""
    return int(np.clip(centre - window // 2, 0, length - window))


def _target(image: np.ndarray, pixel: str, region: str) -> tuple[np.ndarray, tuple[int, int]]:
    """(mask of the chosen pixels on the plane image, their centre)."""
    h, w = image.shape
    mask = np.zeros((h, w), dtype=bool)
    if pixel:
        r, c = parse_pixel(pixel)
        if not (0 <= r < h and 0 <= c < w):
            raise LarsegError(f"--pixel {r},{c} is outside the {h} × {w} image")
        mask[r, c] = True
        return mask, (r, c)
    rows, cols = parse_region(region)
    mask[rows, cols] = image[rows, cols] > 0  # the region's charge, not its empty pixels
    if not mask.any():
        raise LarsegError(f"--region {region} holds no pixel with charge on this plane")
    r, c = np.nonzero(mask)
    return mask, ((int(r.min()) + int(r.max())) // 2, (int(c.min()) + int(c.max())) // 2)


def predicted_class(model, crop: np.ndarray, plane: int, target: np.ndarray) -> int:
    """The class the network predicts on the unmasked ``crop`` (P, H, W) at the ``target``
    pixels of position ``plane``, the most frequent over a region (the smallest on a tie)."""
    from ..data._torch import torch

    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None])
    pred = logits[0, plane].argmax(dim=0).numpy()[target]
    return int(np.bincount(pred).argmax())


@app.command(help=(
    "Occlusion maps of a trained dense network (made for SSNet): which parts of the image its "
    "prediction at a pixel relies on (the SSNet talk on PRD 99, 092001, 'inter-pixel "
    "correlation'). A SIZE x SIZE square of zero charge slides over a WINDOW x WINDOW crop of "
    "the plane centred on the chosen --pixel (or --region), STRIDE pixels at a time, and each "
    "cell of the map is the change of the predicted probability of the class (--class; "
    "default: the class predicted there) at that pixel, or averaged over the region's pixels "
    "with charge, when the square sits there: p(masked) - p(unmasked). Blue (negative): the "
    "masked charge supported the class; red: it argued against it; exactly 0: beyond the "
    "network's reach.\n\n"
    "What to look for. On a track pixel near the end of a stopping proton or muon the deepest "
    "blue should lie on the Bragg peak, the dense charge where the particle stops, if the "
    "network uses the energy loss and not only the straightness of the line. On a shower "
    "pixel it should lie on the branching (the forks of the cascade and its separate "
    "fragments), without which a shower looks like a track.\n\n"
    "Rows (time) and columns (wires) are those of the image the network sees (after "
    "data.downsample). Per event OUTPUT gets occlusion_eEVENT_PLANE.png (the ADC of the "
    "window with the pixel or region marked, and the map over it) and a .npz with the map "
    "and the window's origin. Cost: one forward pass of the window per mask position, "
    "((WINDOW - SIZE) / STRIDE + 1)^2 of them.\n\n"
    "Example: larseg occlusion ssnet -w runs/ssnet/model.safetensors -d heldout.h5 -e 3 "
    "--pixel 512,1800 -o occlusion"))
def occlusion(
    config: Path = typer.Argument(..., help="The config the weights were trained with (YAML), "
                                            "or a shipped config's name."),
    weights: Path = typer.Option(..., "--weights", "-w",
                                 help="model.safetensors of a run, or the name of shipped "
                                      "weights."),
    data: Path = typer.Option(..., "--data", "-d", help="larcv3 (or larcv1 ROOT) file."),
    events: list[int] = typer.Option(..., "--event", "-e", min=0,
                                     help="Event index in the file; repeat for more."),
    pixel: str = typer.Option("", "--pixel", metavar="ROW,COL",
                              help="The pixel whose prediction is studied."),
    region: str = typer.Option("", "--region", metavar="R0:R1,C0:C1",
                               help="Or a rectangle (ends excluded): its pixels with charge."),
    plane: int = typer.Option(2, "--plane", min=0, help="Plane (0 U, 1 V, 2 Y)."),
    class_name: str = typer.Option("", "--class",
                                   help="Class whose probability is followed (SSNet: "
                                        "background, track, shower)."),
    window: int = typer.Option(128, "--window", min=1,
                               help="Side of the crop the network sees (a multiple of "
                                    "2^model.depth)."),
    size: int = typer.Option(8, "--size", min=1, help="Side of the mask square."),
    stride: int = typer.Option(4, "--stride", min=1, help="Step of the mask."),
    batch: int = typer.Option(16, "--batch", min=1, help="Masked copies per forward pass."),
    output: Path = typer.Option(Path("occlusion"), "--output", "-o", help="Output directory."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: a.b=value."),
) -> None:
    from ..data.targets import CLASS_NAMES
    from ..io import open_events
    from ..metrics.segmentation import PLANE_NAMES
    from ..models import build
    from ..models.ssnet import SSNET_CLASSES
    from ..train.config import load_config
    from ..train.evaluate import load_weights
    from ..train.paths import path_kind
    from ..train.predict import pooled_image
    from ..train.trainer import TrainingConfig, size_multiple
    from ..viz.occlusion import occlusion_figure, occlusion_map
    from .app import console
    from .common import existing_file
    from .networks import config_path

    if bool(pixel) == bool(region):
        raise LarsegError("give either --pixel ROW,COL or --region R0:R1,C0:C1")
    cfg = load_config(config_path(config), TrainingConfig, overrides)
    if plane not in cfg.data.planes:
        raise LarsegError(f"--plane {plane}: the network sees planes {list(cfg.data.planes)} "
                          "(data.planes)")
    model = build(cfg.model)
    load_weights(model, weights)
    model.eval()
    multiple = size_multiple(model)
    if window % multiple:
        raise LarsegError(f"--window {window} must be a multiple of {multiple} "
                          "(2^model.depth)")
    ssnet = path_kind(model) == "ssnet"
    names = list(SSNET_CLASSES if ssnet else CLASS_NAMES[cfg.data.target])
    target_class = None
    if class_name:
        if class_name not in names:
            raise LarsegError(f"--class '{class_name}': the network's classes are "
                              f"{', '.join(names)}")
        target_class = names.index(class_name)
    source = open_events(existing_file(data))
    output.mkdir(parents=True, exist_ok=True)
    plane_name = PLANE_NAMES[plane] if plane < len(PLANE_NAMES) else str(plane)
    for e in events:
        if e >= len(source):
            raise LarsegError(f"file {data} has {len(source)} events: no event {e}")
        ev = source[e]
        by_plane = {img.plane: img for img in ev.planes}
        missing = [p for p in cfg.data.planes if p not in by_plane]
        if missing:
            raise LarsegError(f"file {data}, event {e}: no plane {missing[0]}")
        image = np.stack([pooled_image(by_plane[p], cfg.data.downsample, cfg.data.pool)
                          for p in cfg.data.planes])
        # SSNet's planes are separate images with shared weights: the chosen one alone suffices
        if ssnet:
            image, k = image[[cfg.data.planes.index(plane)]], 0
        else:
            k = list(cfg.data.planes).index(plane)
        h, w = image.shape[1:]
        if window > h or window > w:
            raise LarsegError(f"--window {window} is larger than the {h} × {w} image")
        mask, (rc, cc) = _target(image[k], pixel, region)
        r0, c0 = window_origin(rc, window, h), window_origin(cc, window, w)
        crop = image[:, r0:r0 + window, c0:c0 + window]
        target = mask[r0:r0 + window, c0:c0 + window]
        if target.sum() != mask.sum():
            raise LarsegError(f"--region {region} does not fit in a {window}-pixel window: "
                              "raise --window or shrink the region")
        at = dict(pixel=tuple(int(v) for v in np.argwhere(target)[0])) if pixel else dict(
            region=target)
        cls = predicted_class(model, crop, k, target) if target_class is None else target_class
        omap = occlusion_map(model, crop, target_class=cls, plane=k, size=size, stride=stride,
                             batch=batch, **at)
        where = f"pixel {pixel}" if pixel else f"region {region}"
        stem = output / f"occlusion_e{e}_{plane_name}"
        title = (f"{Path(data).name} event {e} ({ev.tag}), plane {plane_name}: Δ p({names[cls]}) "
                 f"at {where}; window rows {r0}-{r0 + window - 1}, columns {c0}-{c0 + window - 1}"
                 f", mask {size} px every {stride}")
        occlusion_figure(crop[k], omap, stem.with_suffix(".png"), size=size, stride=stride,
                         title=title, **at)
        i, j = np.unravel_index(int(np.argmin(omap)), omap.shape)
        np.savez(stem.with_suffix(".npz"), map=omap, origin=np.array([r0, c0]),
                 target_class=cls, size=size, stride=stride)
        console.print(f"event {e}, plane {plane_name}: {names[cls]} at {where}; largest drop "
                      f"{omap[i, j]:+.3f} masking rows {r0 + i * stride}-"
                      f"{r0 + i * stride + size - 1}, columns {c0 + j * stride}-"
                      f"{c0 + j * stride + size - 1}; wrote {stem.with_suffix('.png')}",
                      soft_wrap=True, markup=False)
