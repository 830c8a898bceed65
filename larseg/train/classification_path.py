"""The PID CNN's training path (SSNet's transfer learning; :mod:`larseg.train.paths` has the
others): simulated single particles instead of a file, 5-way classification of whole crops.
See :mod:`larseg.train.paths` for what its data settings mean."""

from __future__ import annotations

import numpy as np

from ..errors import LarsegError
from .paths import SINGLE_PARTICLE, SPECIES_TARGET, _image_forward


def particle_source(spec: str, key: str, default_seed: int) -> tuple[int, int]:
    """(count, seed) of ``single_particle:N`` or ``single_particle:N@SEED``."""
    head, _, rest = spec.partition(":")
    count, _, seed = rest.partition("@")
    try:
        if head != SINGLE_PARTICLE:
            raise ValueError
        n = int(count)
        s = int(seed) if seed else default_seed
        if n < 1 or s < 0:
            raise ValueError
    except ValueError:
        raise LarsegError(f"data.{key}: '{spec}' is not a single-particle source; the PID CNN "
                          f"trains on {SINGLE_PARTICLE}:N or {SINGLE_PARTICLE}:N@SEED "
                          "(N ≥ 1 simulated particles)") from None
    return n, s


class ClassificationPath:
    schemes = ("none",)
    targets = (SPECIES_TARGET,)
    whose = "a classification network's"

    def __init__(self, cfg) -> None:
        data = cfg.data
        if len(data.planes) != 1:
            raise LarsegError(f"data.planes: single-particle images are of one plane, got "
                              f"{list(data.planes)} (the PID CNN's: [2], the collection plane)")
        if data.crop[0] != data.crop[1]:
            raise LarsegError(f"data.crop: single-particle images are square, got "
                              f"{list(data.crop)}")
        if data.downsample != 1:
            raise LarsegError(f"data.downsample: single-particle images are at full resolution;"
                              f" set 1, not {data.downsample}")
        self.cfg = cfg
        self.train_seed = particle_source(data.train, "train", data.seed)[1]

    def dataset(self, path: str, key: str, training: bool):
        from ..data.single_particle import SingleParticleConfig, SingleParticleDataset

        cfg = self.cfg
        n, seed = particle_source(path, key, cfg.data.seed + (0 if training else 1))
        if not training and seed == self.train_seed:
            raise LarsegError(f"data.{key}: seed {seed} is the training particles' seed: held-out "
                              f"particles need another ({SINGLE_PARTICLE}:N@SEED)")
        particles = SingleParticleConfig(plane=cfg.data.planes[0], size=cfg.data.crop[0])
        return SingleParticleDataset(n, particles, seed=seed,
                                     cache=cfg.data.cache or not training)

    @staticmethod
    def collate(items):
        from ..data.single_particle import collate_particles

        return collate_particles(items)

    @staticmethod
    def pad(batch: dict, multiple: int) -> dict:
        return batch  # the crop side is checked to be a multiple (path_for)

    def weights(self, batch: dict, device, step: int | None = None):
        return None

    def forward(self, net, batch: dict, device):
        return _image_forward(self.cfg, net, batch, device)

    @staticmethod
    def loss(loss_fn, outputs, batch: dict, weight, device) -> dict:
        return {"cross_entropy": loss_fn(outputs, batch["label"].to(device))}

    @staticmethod
    def predictions(outputs, batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(truth species, predicted species, all True) per image."""
        truth = batch["label"].numpy()
        return truth, outputs.argmax(dim=1).cpu().numpy(), np.ones(len(truth), bool)


__all__ = ["ClassificationPath", "particle_source"]
