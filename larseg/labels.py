"""Label encodings shared by every stage of larseg (simulator, files, datasets, metrics).

The encodings are the papers':
- cosmic tagger (SBND, Acciarri et al. 2021): 0 background, 1 cosmic, 2 neutrino;
- SparseSSNet (MicroBooNE note 1091): HIP 0, MIP 1, shower 2, delta 3, Michel 4, re-classified
  into track (HIP, MIP) and shower (shower, delta, Michel);
- sMask-RCNN ancestor classes (cosmic, neutrino, proton, electron, neutron, other).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

#: Per-pixel value for "no label" (a pixel with charge from noise only, or no instance).
NO_LABEL = -1


class CosmicLabel(IntEnum):
    BACKGROUND = 0
    COSMIC = 1
    NEUTRINO = 2


class SemanticLabel(IntEnum):
    HIP = 0
    MIP = 1
    SHOWER = 2
    DELTA = 3
    MICHEL = 4


class TrackShowerLabel(IntEnum):
    TRACK = 0
    SHOWER = 1


class Origin(IntEnum):
    """Where a particle's ancestry starts: decides its cosmic-tagger label."""

    COSMIC = 0
    NEUTRINO = 1
    BOMB = 2  # particle-bomb "interaction": labelled as neutrino-like activity


class InstanceClass(IntEnum):
    """sMask-RCNN ancestor classes (Table I of the sMask-RCNN paper)."""

    COSMIC = 0
    NEUTRINO = 1
    PROTON = 2
    ELECTRON = 3
    NEUTRON = 4
    OTHER = 5


N_COSMIC_CLASSES = len(CosmicLabel)
N_SEMANTIC_CLASSES = len(SemanticLabel)

COSMIC_NAMES = tuple(c.name.lower() for c in CosmicLabel)
SEMANTIC_NAMES = ("HIP", "MIP", "shower", "delta", "Michel")
TRACK_SHOWER_NAMES = ("track", "shower")

# semantic class -> track/shower class (note 1091, section 3.2); index = semantic class
_SEMANTIC_TO_TRACK_SHOWER = np.array(
    [TrackShowerLabel.TRACK, TrackShowerLabel.TRACK, TrackShowerLabel.SHOWER,
     TrackShowerLabel.SHOWER, TrackShowerLabel.SHOWER],
    dtype=np.int64,
)


def semantic_to_track_shower(semantic: np.ndarray) -> np.ndarray:
    """Map 5-class SparseSSNet labels to track (0) / shower (1); NO_LABEL stays NO_LABEL."""
    semantic = np.asarray(semantic)
    out = np.full(semantic.shape, NO_LABEL, dtype=np.int64)
    valid = semantic >= 0
    out[valid] = _SEMANTIC_TO_TRACK_SHOWER[semantic[valid].astype(np.int64)]
    return out.astype(semantic.dtype) if semantic.dtype.kind in "iu" else out


def cosmic_label_for_origin(origin: Origin) -> CosmicLabel:
    """Cosmic-tagger label of charge deposited by a particle of the given origin."""
    return CosmicLabel.COSMIC if origin == Origin.COSMIC else CosmicLabel.NEUTRINO


# larcv3's ShapeType_t (larcv3 src/larcv3/core/dataformat/DataFormatTypes.h): kShapeShower 0,
# kShapeTrack 1, kShapeUnknown 2. (larcv2 had Michel/Delta/LEScatter codes; larcv3 does not.)
LARCV_SHAPE_SHOWER = 0
LARCV_SHAPE_TRACK = 1
LARCV_SHAPE_UNKNOWN = 2

# Particles whose tracks are "highly ionising" in SparseSSNet's sense: protons and heavier
# hadrons/nuclei. Muons, charged pions and kaons are MIP-like (note 1091, section 3.2).
_HIP_PDGS = frozenset({2212, -2212, 1000010020, 1000010030, 1000020030, 1000020040})

# GEANT4 process names of δ-ray production by ionisation, and of a muon's decay products.
DELTA_PROCESSES = frozenset({"muIoni", "hIoni", "eIoni", "ionIoni"})
DECAY_PROCESSES = frozenset({"Decay", "muMinusCaptureAtRest", "DecayWithSpin"})


def is_hip_pdg(pdg: int) -> bool:
    return pdg in _HIP_PDGS or abs(pdg) > 1000000000


def semantic_to_larcv_shape(semantic: SemanticLabel | int) -> int:
    """larcv3 shape of a particle of this class: track for HIP/MIP, shower for the rest."""
    if semantic in (SemanticLabel.HIP, SemanticLabel.MIP):
        return LARCV_SHAPE_TRACK
    if semantic in (SemanticLabel.SHOWER, SemanticLabel.DELTA, SemanticLabel.MICHEL):
        return LARCV_SHAPE_SHOWER
    return LARCV_SHAPE_UNKNOWN


def semantic_class(pdg: int, process: str = "", parent_pdg: int | None = None) -> int:
    """The one rule for a particle's SparseSSNet class (note 1091's definitions).

    e± and γ: an electron made by ionisation is a δ-ray; an electron from a decay is a Michel
    electron when its parent is a muon or is not known (``None`` or 0: in practice the decay
    electrons of a LArTPC are the muons'); every other e± or γ starts a shower. Protons and
    heavier are HIP; other charged particles MIP. ``Event.semantic_of``, the larcv3 reader and
    the simulator's kernels (tests/test_labels_rule.py) follow it.
    """
    a = abs(pdg)
    if a in (11, 22):
        if a == 11 and process in DELTA_PROCESSES:
            return int(SemanticLabel.DELTA)
        if a == 11 and process in DECAY_PROCESSES and (not parent_pdg or abs(parent_pdg) == 13):
            return int(SemanticLabel.MICHEL)
        return int(SemanticLabel.SHOWER)
    return int(SemanticLabel.HIP if is_hip_pdg(pdg) else SemanticLabel.MIP)


def larcv_shape_to_semantic(shape: int, pdg: int, process: str = "", parent_pdg: int = 0) -> int:
    """SparseSSNet class of a larcv3 particle: larcv3 only says track or shower, the finer class
    follows :func:`semantic_class` (``parent_pdg`` 0: not known)."""
    if shape == LARCV_SHAPE_TRACK:
        return int(SemanticLabel.HIP if is_hip_pdg(pdg) else SemanticLabel.MIP)
    if shape == LARCV_SHAPE_SHOWER:
        if abs(pdg) in (11, 22):
            return semantic_class(pdg, process, parent_pdg)
        return int(SemanticLabel.SHOWER)  # a shower-shaped hadron: larcv says shower
    return NO_LABEL


def instance_class_for(origin: Origin, ancestor_pdg: int) -> InstanceClass:
    """sMask-RCNN class of an ancestor interaction, from its origin and its ancestor's PDG code."""
    if origin in (Origin.NEUTRINO, Origin.BOMB):
        return InstanceClass.NEUTRINO
    a = abs(ancestor_pdg)
    if a == 13:
        return InstanceClass.COSMIC
    if a == 2212:
        return InstanceClass.PROTON
    if a in (11, 22):
        return InstanceClass.ELECTRON
    if a == 2112:
        return InstanceClass.NEUTRON
    return InstanceClass.OTHER


#: Names of the LArSoft ``simb::int_type_`` interaction codes the generators use
#: (nusimdata/SimulationBase/MCNeutrino.h).
INTERACTION_MODE_NAMES: dict[int, str] = {
    10: "MEC (2p2h)",
    1001: "CC QE", 1002: "NC QE",
    1003: "CC RES ν p → ℓ⁻ p π⁺", 1004: "CC RES ν n → ℓ⁻ p π⁰", 1005: "CC RES ν n → ℓ⁻ n π⁺",
    1006: "NC RES ν p → ν p π⁰", 1007: "NC RES ν p → ν n π⁺", 1008: "NC RES ν n → ν n π⁰",
    1009: "NC RES ν n → ν p π⁻",
    1010: "CC RES ν̄ n → ℓ⁺ n π⁻", 1011: "CC RES ν̄ p → ℓ⁺ n π⁰", 1012: "CC RES ν̄ p → ℓ⁺ p π⁻",
    1013: "NC RES ν̄ p → ν̄ p π⁰", 1014: "NC RES ν̄ p → ν̄ n π⁺", 1015: "NC RES ν̄ n → ν̄ n π⁰",
    1016: "NC RES ν̄ n → ν̄ p π⁻",
    1091: "CC DIS", 1092: "NC DIS",
}


def interaction_mode_name(mode: int) -> str:
    """``'CC QE (1001)'``-style name of a LArSoft interaction code."""
    name = INTERACTION_MODE_NAMES.get(int(mode))
    return f"{name} ({mode})" if name else f"mode {mode}"
