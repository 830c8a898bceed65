"""Whole events: cosmic multiplicity per readout window, pixel occupancy per class and plane."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..data.pooling import downsample_plane
from ..data.sample import PlaneArrays
from ..detectors import get_detector
from ..labels import CosmicLabel, Origin
from ..sim.generators import get_generator
from ..sim.readout import ORIGIN_THRESHOLD_ADC
from ..sim.simulate import SimulationJob, simulate_event
from . import bomb_crops
from .checks import Check


def check_cosmic_multiplicity(out: Path, rng: np.random.Generator, n: int = 400) -> list[Check]:
    """Cosmic muons per readout window for both detectors, against flux × area × window."""
    # every ray of the window, the in-time filter off: this checks the flux normalisation
    gen = get_generator("cosmics", admixture=False, in_time_only=False)
    fig, ax = plt.subplots(figsize=(6, 4))
    checks = []
    for name in ("microboone", "sbnd"):
        det = get_detector(name)
        counts = np.array([len(gen.generate(det, rng).primaries) for _ in range(n)])
        expected = gen.expected_muons(det)
        ax.hist(counts, bins=np.arange(counts.max() + 2) - 0.5, histtype="step",
                label=f"{name}: mean {counts.mean():.1f} (expected {expected:.1f})")
        ok = abs(counts.mean() - expected) < 4 * np.sqrt(expected / n) + 0.05 * expected
        if name == "microboone":
            ok = ok and 20 <= counts.mean() <= 30
        checks.append(Check(f"cosmic muons per {name} window",
                            f"{counts.mean():.1f} ± {counts.std():.1f}",
                            f"{expected:.1f} (flux × area × window)"
                            + ("; ~20–30 expected" if name == "microboone" else ""),
                            "PDG: 70 m⁻² s⁻¹ sr⁻¹ vertical, cos²θ", bool(ok), "cosmic_multiplicity.png"))
    ax.set(xlabel="cosmic muons per readout window", ylabel="windows", title=f"{n} windows")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cosmic_multiplicity.png", dpi=110)
    plt.close(fig)
    return checks


def _sbnd_counts(events) -> np.ndarray:
    """(events, planes, 3): active / cosmic / neutrino pixels at 1024 × 640: pooled ×2, a
    pooled pixel is active if any of its four is, its label the highest (neutrino > cosmic)."""
    rows = []
    for ev in events:
        per_plane = []
        for img in ev.planes:
            pooled = downsample_plane(PlaneArrays.from_plane(img), 2, "max")
            active = pooled.values > 0
            per_plane.append([active.sum(), (pooled.cosmic[active] == CosmicLabel.COSMIC).sum(),
                              (pooled.cosmic[active] == CosmicLabel.NEUTRINO).sum()])
        rows.append(per_plane)
    return np.asarray(rows, dtype=float)


#: The SBND paper quotes averages without a spread; the spread of its public file (cosmic voxels
#: per plane 1.8–10 k over 5 events, a factor ~2.3 either side of their geometric middle) sets
#: the band: a factor 1.5 either side of the paper's average.
SBND_PAPER_BAND = 1.5
#: Note 1091's "~0.5 %": read as 0.5 ± 0.2 %. MicroBooNE's data event 6324/94/4707 (issue 9's
#: reference) keeps 0.37 / 0.53 / 0.36 % (U / V / Y, pixels > 10 ADC): inside it.
MASK_BAND = (0.3, 0.7)


def check_sbnd_occupancy(out: Path, seed: int, n: int = 20) -> Check:
    """SBND paper section 7: ~11,000 active pixels per plane at 1024 × 640, ~2,300 cosmic,
    ~250 neutrino."""
    job = SimulationJob("sbnd", "cosmics+neutrino", seed=seed)
    counts = _sbnd_counts(simulate_event(job, i) for i in range(n))
    mean = counts.mean(axis=0)  # (planes, 3)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = np.arange(3)
    for k, (label, ref) in enumerate((("active", 11000), ("cosmic", 2300), ("neutrino", 250))):
        ax.bar(x + 0.25 * (k - 1), mean[:, k], width=0.25, label=f"{label} (paper ≈ {ref:,})")
        ax.hlines(ref, -0.5, 2.5, colors=f"C{k}", linestyles=":")
    ax.set(xticks=x, xticklabels=["U", "V", "Y"], yscale="log", ylabel="pixels per plane",
           title=f"SBND at 1024 × 640, mean of {n} cosmics+neutrino events")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sbnd_occupancy.png", dpi=110)
    plt.close(fig)
    avg = mean.mean(axis=0)
    ratio = avg / np.array([11000, 2300, 250])
    ok = bool(np.all((ratio > 1 / SBND_PAPER_BAND) & (ratio < SBND_PAPER_BAND)))
    return Check("SBND pixels per plane at 1024 × 640 (active / cosmic / neutrino)",
                 " / ".join(f"{v:,.0f}" for v in avg), "≈ 11,000 / 2,300 / 250",
                 "SBND paper, section 7 (Fig. 7)", ok, "sbnd_occupancy.png",
                 notes=[f"pass band: within a factor {SBND_PAPER_BAND} of the paper for each "
                        "class (planes averaged): the spread of CosmicTagger's public file, "
                        "whose cosmic voxels per plane range over a factor ~2 about their middle "
                        "(1.8–10 k)"])


def _mask_fraction(job: SimulationJob, n: int) -> float:
    """Mean over events and planes of the fraction of pixels with 10 <= ADC <= 300."""
    fractions = []
    for i in range(n):
        for img in simulate_event(job, i).planes:
            keep = (img.values >= 10) & (img.values <= 300)
            fractions.append(keep.sum() / img.meta.n_pixels)
    return float(np.mean(fractions))


#: Note 1091, Fig. 4 caption: over the ~23k test images (Sec. 3.1), per plane, "the smallest
#: number of pixels is O(10^5) for Michel; all other classes vary between 10^6 - 10^7 pixels".
NOTE_TEST_IMAGES = 23_000
#: Orders of magnitude, log10 of the pixel count: O(10^5) for Michel, 10^6-10^7 for the others.
NOTE_CLASS_DECADES = {"Michel": (4.5, 5.5), "other": (5.5, 7.5)}
#: The note's "~0.5 %" (one figure): the bomb crops' kept fraction must bracket it.
NOTE_CROP_FRACTION = 0.5


def check_sparsessnet_occupancy(seed: int, n: int = 20, crop_events: int = 1000) -> list[Check]:
    """Note 1091 (section 2): the 10-300 ADC mask "reduces the number of pixels to ~0.5 % of the
    total pixels in an image". Checked on MicroBooNE readout windows (cosmics + neutrino, the
    images SparseSSNet runs on) and on the note's own images, 512 x 512 crops of the particle
    bomb (:mod:`larseg.validation.bomb_crops`), with Fig. 4's pixel counts per class."""
    lo, hi = MASK_BAND
    window = _mask_fraction(SimulationJob("microboone", "cosmics+neutrino", seed=seed), n)
    stats = bomb_crops.measure(crop_events, seed)  # Michel: ~1 pixel per crop on average
    means = {rule: 100 * float(f.mean()) for rule, f in stats.fractions.items()}
    low, high = min(means.values()), max(means.values())
    notes = [f"pass band: {lo}–{hi} % (the note's '~0.5 %'; MicroBooNE's data event "
             "6324/94/4707 keeps 0.37 / 0.53 / 0.36 % on U / V / Y)"]
    crop_notes = [
        "pass: the note's 0.5 % lies between the least and the most the crop rules keep (the "
        "note does not say where its crops sit); " + ", ".join(
            f"{rule} {v:.2f} %" for rule, v in means.items())
        + f" over {stats.crops} plane crops of {crop_events} events (bomb 85 % / low-E 15 %); "
        f"a whole bomb image keeps {100 * stats.whole:.2f} % (5-10 muons against a window's ~25)"]
    # Fig. 4: pixels per class over the note's test sample, scaled from the training rule's crops
    per_test = stats.classes / stats.crops * 3 * NOTE_TEST_IMAGES
    names = ("HIP", "MIP", "shower", "delta", "Michel")
    # the band on the planes' mean (the caption gives Y, and U and V "fairly similar"): a
    # Michel electron lands in one crop in ~30, so a plane's own count scatters by ~2x
    decades = np.log10(np.maximum(per_test.mean(axis=0), 1.0))
    bands = np.array([NOTE_CLASS_DECADES["Michel" if name == "Michel" else "other"]
                      for name in names])
    ok_classes = bool(np.all((decades >= bands[:, 0]) & (decades <= bands[:, 1])))
    counts = "; ".join("UVY"[k] + " " + " / ".join(f"{v:.1e}" for v in per_test[k]) for k in range(3))
    return [
        Check("MicroBooNE readout window: fraction of pixels kept by the 10–300 ADC mask",
              f"{100 * window:.2f} %", "≈ 0.5 % (data event: 0.42 %, planes averaged)",
              "MicroBooNE note 1091, section 2; data 6324/94/4707", lo < 100 * window < hi, None,
              notes=notes),
        Check("MicroBooNE particle-bomb 512 × 512 crops: fraction of pixels kept by the "
              "10–300 ADC mask", f"{low:.2f}–{high:.2f} % (by where the crop sits)", "≈ 0.5 %",
              "MicroBooNE note 1091, sections 1–3", low <= NOTE_CROP_FRACTION <= high, None,
              notes=crop_notes),
        Check("MicroBooNE particle-bomb test sample: pixels per class (HIP / MIP / shower / delta "
              f"/ Michel) over {NOTE_TEST_IMAGES:,} crops", counts,
              "Michel O(10⁵), the others 10⁶–10⁷", "MicroBooNE note 1091, Fig. 4 (and 11, 12)",
              ok_classes, None,
              notes=["pass band: log10 of the planes' mean count within 4.5–5.5 for Michel and "
                     "5.5–7.5 for the others (the caption's orders of magnitude); crops as "
                     "larseg's SparseSSNet training cuts them (one window per plane); planes' "
                     "mean " + " / ".join(f"{v:.1e}" for v in per_test.mean(axis=0))]),
    ]


def check_labels(seed: int, n: int = 10) -> Check:
    """Label consistency on full simulated events: every labelled pixel has charge, neutrino
    precedence, instance = max-charge particle."""
    bad = 0
    total = 0
    for det in ("microboone", "sbnd"):
        job = SimulationJob(det, "cosmics+neutrino", seed=seed)
        for i in range(n):
            ev = simulate_event(job, i)
            origin = np.array([p.origin for p in ev.particles])
            for img in ev.planes:
                lab = img.cosmic > 0
                total += int(lab.sum())
                bad += int((img.values[lab] <= 0).sum())
                pc = img.particle_charge
                nu_q = np.bincount(pc.pixel, weights=pc.charge * (origin[pc.particle] != Origin.COSMIC),
                                   minlength=len(img))
                should_be_nu = lab & (nu_q >= ORIGIN_THRESHOLD_ADC)
                bad += int((img.cosmic[should_be_nu] != CosmicLabel.NEUTRINO).sum())
                bad += int((img.cosmic[lab & (nu_q < ORIGIN_THRESHOLD_ADC)] == CosmicLabel.NEUTRINO).sum())
    return Check("label consistency (both detectors)", f"{bad} violations in {total:,} labelled pixels",
                 "0", f"design: labels only on charge; neutrino precedence (≥ {ORIGIN_THRESHOLD_ADC} ADC of neutrino charge)", bad == 0)
