"""SSNet: MicroBooNE's dense U-Net for pixel-level track / shower labelling (PRD 99, 092001; the
talk in ``../shared/papers/`` 004).

What the talk specifies, and how it is built here:

- an encoding (down-sampling) path and a decoding (up-scaling) path, the spatial resolution
  "recovered via concatenation" of the encoder's feature maps into the decoder (talk, slide
  "Semantic segmentation": "concatenate" at every level);
- the encoder is initialised from a particle-identification CNN trained first (talk, slide
  "Transfer learning"): the encoder is one module, :class:`SSNetEncoder`, which
  :mod:`larseg.models.pid_cnn` reuses, so the CNN's state dict maps onto it one to one;
- pixel-level class vectors for track, shower and background: 3 outputs. Training splits the
  background into two *weight categories*, the 2-pixel edge band around features and the rest
  (talk, slide "Pixel-wise loss": "enhanced by separating background into 2 categories"); the
  band is not a fourth output. :data:`CATEGORY_TO_CLASS` maps the ``"ssnet"`` target of
  :mod:`larseg.data.targets` (background 0, edge 1, track 2, shower 3) to the outputs
  (background 0, track 1, shower 2), and :func:`ssnet_training_targets` gives the classes and
  the per-category inverse-frequency weights the loss uses.

Layers (our construction; the talk shows the U shape but gives no layer widths or depth, so the
defaults below are our choice for 512 × 512 crops, not numbers from the talk): an initial 7×7
convolution; per encoder level residual blocks (:class:`larseg.models.blocks.ResidualBlock`,
their output is the level's skip), 2×2 max-pool and a 1×1 bottleneck doubling the filters; at
the bottom more residual blocks; per decoder level a 2×2 transposed convolution halving the
filters (U-Net's "up-convolution", Ronneberger et al. 2015, cited by the talk), concatenation
with the skip (2c channels), a 3×3 convolution-BatchNorm-LeakyReLU back to c and residual blocks;
a final 1×1 convolution to the 3 classes.

Input ``(B, P, H, W)`` float, each plane an image of the batch (shared weights, as
:mod:`larseg.models.uresnet`); H and W must divide by ``size_multiple`` = 2**depth. Output
logits ``(B, P, 3, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data._torch import torch
from ..data.weights import inverse_frequency_weights
from .blocks import ResidualBlock, bottleneck

nn = torch.nn

#: output classes (index = class id)
SSNET_CLASSES = ("background", "track", "shower")
#: ``"ssnet"`` target category (background, edge, track, shower) -> output class: the edge band
#: is background, weighted as its own category (talk, slide "Pixel-wise loss")
CATEGORY_TO_CLASS = (0, 0, 1, 2)
#: the weight category larseg adds for ``inverse_frequency_active``: background pixels that
#: carry charge the network sees (noise, or charge the truth does not label)
ACTIVE_BACKGROUND = len(CATEGORY_TO_CLASS)
#: SSNet's weight schemes: the talk's four categories, the same with the charged background
#: pixels as a fifth (larseg's), those with track and shower as one category (larseg's), or none
SSNET_SCHEMES = ("inverse_frequency", "inverse_frequency_active", "inverse_frequency_features",
                 "none")


@dataclass(frozen=True)
class SSNetConfig:
    name: str = "ssnet"
    n_classes: int = 3          # track / shower / background (talk, slide "Semantic segmentation")
    filters: int = 16           # initial filters: our choice (the talk gives no widths)
    depth: int = 5              # encoder levels: our choice, 512 / 2**5 = 16 at the bottom
    blocks_per_level: int = 2   # residual blocks per level, both paths: our choice
    stem_kernel: int = 7        # initial convolution, as the other larseg U-Nets
    # transfer learning (talk, slide "Transfer learning"): a PID CNN's weights (a run's
    # model.safetensors, or shipped weights' name) whose encoder initialises this one before
    # training (the trainer does it; "" = random initialisation). The network ignores it.
    init_from: str = ""
    # input mask: pixels below it (ADC) are set to 0 before the first layer, so the noise floor
    # of the processed images never reaches the network; 10 = MicroBooNE's noise floor, the
    # threshold its other networks use (note 1091 section 2, sMask-RCNN section II.A; the talk
    # gives none). Training ignores truth features below it, ICPF counts the pixels above it.
    # 0 = no mask.
    adc_threshold: float = 0.0


def ssnet_input(image, adc_threshold: float):
    """The image SSNet sees: pixels with ADC below ``adc_threshold`` set to 0 (none if 0)."""
    if adc_threshold <= 0:
        return image
    return image.masked_fill(image < adc_threshold, 0.0)


class SSNetEncoder(nn.Module):
    """Stem and down levels of SSNet; also the body of the PID CNN (transfer learning).

    ``forward(x)`` on (N, 1, H, W) returns the bottom features (N, f·2**depth, H/2**depth,
    W/2**depth) and the skips, level 0 first (level k: f·2**k filters at H/2**k)."""

    def __init__(self, filters: int, depth: int, blocks_per_level: int, stem_kernel: int = 7
                 ) -> None:
        super().__init__()
        f = filters
        self.filters, self.depth = f, depth
        self.stem = nn.Conv2d(1, f, stem_kernel, padding=stem_kernel // 2)
        self.levels = nn.ModuleList(_blocks(f << k, blocks_per_level) for k in range(depth))
        self.widen = nn.ModuleList(bottleneck(f << k, f << (k + 1)) for k in range(depth))
        self.bottom = _blocks(f << depth, blocks_per_level)
        self.pool = nn.MaxPool2d(2)
        self.out_channels = f << depth

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for blocks, widen in zip(self.levels, self.widen):
            x = blocks(x)
            skips.append(x)
            x = widen(self.pool(x))
        return self.bottom(x), skips


class DecoderLevel(nn.Module):
    """2c -> c by a 2×2 transposed convolution, concatenation with the skip (c), 3×3 conv-BN-
    LeakyReLU from 2c to c, residual blocks at c."""

    def __init__(self, c: int, blocks_per_level: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.merge = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.BatchNorm2d(c),
                                   nn.LeakyReLU())
        self.blocks = _blocks(c, blocks_per_level)

    def forward(self, x, skip):
        return self.blocks(self.merge(torch.cat((self.up(x), skip), dim=1)))


def _blocks(c: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(ResidualBlock(c) for _ in range(n)))


def encoder_from(cfg) -> SSNetEncoder:
    """The encoder of a config with ``filters``, ``depth``, ``blocks_per_level``,
    ``stem_kernel`` (SSNet's and the PID CNN's)."""
    return SSNetEncoder(cfg.filters, cfg.depth, cfg.blocks_per_level, cfg.stem_kernel)


class SSNet(nn.Module):
    # the trainer's SSNet path: 4 categories -> 3 classes, inverse-frequency weights
    # (larseg.train.paths.SSNetPath)
    training_path = "ssnet"

    def __init__(self, cfg: SSNetConfig) -> None:
        super().__init__()
        self.encoder = encoder_from(cfg)
        f = cfg.filters
        self.decoder = nn.ModuleList(DecoderLevel(f << k, cfg.blocks_per_level)
                                     for k in reversed(range(cfg.depth)))
        self.feature_channels = f
        self.head = nn.Conv2d(f, cfg.n_classes, 1)
        self.size_multiple = 2 ** cfg.depth  # image sides must divide by it
        self.adc_threshold = float(cfg.adc_threshold)

    def features(self, image):
        """The backbone (encoder and decoder): ``(B, P, H, W)`` -> ``(B × P, f, H, W)``."""
        b, p, h, w = image.shape
        image = ssnet_input(image, self.adc_threshold)
        x, skips = self.encoder(image.reshape(b * p, 1, h, w))
        for level, skip in zip(self.decoder, reversed(skips)):
            x = level(x, skip)
        return x

    def forward(self, image):
        b, p, h, w = image.shape
        return self.head(self.features(image)).reshape(b, p, -1, h, w)


def ssnet_training_targets(categories, scheme: str = "inverse_frequency", image=None,
                           adc_threshold: float = 0.0):
    """Output classes and per-pixel loss weights of a batch of ``"ssnet"`` categories.

    ``categories`` (B, P, H, W) int (background 0, edge 1, track 2, shower 3; -1 ignored);
    ``image`` the batch's ADC (B, P, H, W), needed with ``adc_threshold`` > 0 or the ``active``
    scheme. Returns (classes, weights), both (B, P, H, W): classes by :data:`CATEGORY_TO_CLASS`,
    -1 (ignored) where the truth is -1 and, with ``adc_threshold``, on track / shower pixels
    below it (the network sees no charge there, :func:`ssnet_input`). Weights, by ``scheme``:

    - ``inverse_frequency``: inverse to each category's pixel count within each plane image
      (:func:`larseg.data.weights.inverse_frequency_weights`, the talk's "weights inversely
      proportional to pixel count in each category");
    - ``inverse_frequency_active``: the same with the background pixels whose ADC the network
      sees (> 0 after the mask) as a fifth category (:data:`ACTIVE_BACKGROUND`), so noise
      weighs as much as a track: with the talk's four, a noise pixel inside the huge background
      category is worth almost nothing and the network called it shower (docs/results.md);
    - ``inverse_frequency_features``: as ``inverse_frequency_active`` with track and shower as
      one category, so a track pixel weighs as much as a shower pixel and the weights only
      balance the features against the background categories (with the talk's categories a
      shower pixel weighs ~3 track pixels, and the network calls shower wherever it is unsure);
    - ``none``: 1 for every labelled pixel;

    0 for ignored pixels in every case."""
    if scheme not in SSNET_SCHEMES:
        raise ValueError(f"SSNet weight scheme '{scheme}': choose one of "
                         f"{', '.join(SSNET_SCHEMES)}")
    cat = np.array(categories.cpu().numpy() if hasattr(categories, "cpu") else categories)
    seen = None
    if image is not None:
        seen = ssnet_input(torch.as_tensor(image).cpu(), adc_threshold).numpy() > 0
    if adc_threshold > 0:
        if seen is None:
            raise ValueError("an ADC threshold needs the batch's image")
        cat[(cat >= 2) & ~seen] = -1  # a feature the network cannot see: no loss
    table = np.asarray(CATEGORY_TO_CLASS, dtype=np.int64)
    classes = np.where(cat >= 0, table[np.clip(cat, 0, None)], -1)
    n_categories = len(CATEGORY_TO_CLASS)
    if scheme in ("inverse_frequency_active", "inverse_frequency_features"):
        if seen is None:
            raise ValueError(f"the {scheme} weights need the batch's image")
        cat[(classes == 0) & seen] = ACTIVE_BACKGROUND
        n_categories += 1
        if scheme == "inverse_frequency_features":
            cat[cat == 3] = 2  # shower pixels share the track category
    if scheme == "none":
        weights = (cat >= 0).astype(np.float64)
    else:
        flat = cat.reshape(-1, *cat.shape[-2:])
        weights = np.stack([inverse_frequency_weights(im, n_categories)
                            for im in flat]).reshape(cat.shape)
    return torch.from_numpy(classes), torch.from_numpy(weights).float()
