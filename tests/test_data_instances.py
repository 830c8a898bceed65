"""sMask-RCNN's instance dataset on small simulated MicroBooNE cosmic windows with a neutrino,
written to and read back from a larcv3 file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.data.instances import (InstanceDataConfig, InstanceDataset, instance_collate,
                                   split_events)
from larseg.errors import InvalidEventError
from larseg.io import EventFile, write_events
from larseg.labels import InstanceClass
from larseg.metrics.instances import InstanceEvaluator

PLANE = 2  # the collection plane


@pytest.fixture(scope="module")
def nu_file(tmp_path_factory):
    import dataclasses

    from larseg.detectors import get_detector
    from larseg.sim.simulate import SimulationJob, simulate_event

    # kept down to 0.5 ADC: like a user's file with less zero suppression than larseg's 10 ADC
    # (MicroBooNE's data images are dense), so that the dataset's own 10 ADC threshold has
    # pixels to remove
    det = get_detector("microboone")
    det = dataclasses.replace(det, readout=dataclasses.replace(det.readout,
                                                               storage_threshold_adc=0.5))
    job = SimulationJob("microboone", "cosmics+neutrino", seed=6)
    path = tmp_path_factory.mktemp("instances") / "cosmics_nu.h5"
    write_events(path, [simulate_event(job, i, det) for i in range(3)])
    return path


@pytest.fixture(scope="module")
def events(nu_file):
    return list(EventFile(nu_file))


def _truth_map(event, plane=PLANE, min_adc=10.0) -> tuple[np.ndarray, list[int]]:
    """Dense (rows, wires) interaction group of every pixel with ADC >= 10 (-1 elsewhere),
    straight from the event (not through the dataset's code)."""
    img = event.planes[plane]
    groups = event.interaction_instance(plane)
    groups = np.where(img.values >= min_adc, groups, -1)
    dense = np.full(img.meta.shape, -1, np.int64)
    dense[img.coords[:, 0], img.coords[:, 1]] = groups
    return dense, event.interaction_groups()[1]


def _box_of(mask: np.ndarray) -> list[float]:
    r, c = np.nonzero(mask)
    return [c.min(), r.min(), c.max() + 1, r.max() + 1]


def test_crops_hold_the_instances_cut_to_the_window(nu_file, events):
    ds = InstanceDataset(nu_file, seed=4)
    assert len(ds) == 3 * 10 and ds.config.crop == (512, 832)
    for i in range(0, len(ds), 3):
        item = ds[i]
        entry = i // 10
        assert item["entry"] == entry and item["index"] == i
        truth, classes = _truth_map(events[entry])
        (r0, c0), = item["offset"].tolist()
        assert 0 <= r0 <= 1008 - 512 and 0 <= c0 <= 3456 - 832
        window = truth[r0:r0 + 512, c0:c0 + 832]
        t = item["target"]
        image = item["image"][0].numpy()
        assert item["image"].shape == (1, 512, 832) and item["image"].dtype == torch.float32
        present = np.unique(window[window >= 0])
        assert len(present) >= 1                               # part of an interaction
        np.testing.assert_array_equal(t["group"].numpy(), present)  # empty instances dropped
        k = len(present)
        assert t["masks"].shape == (k, 512, 832) and t["masks"].dtype == torch.bool
        assert t["boxes"].shape == (k, 4) and t["boxes"].dtype == torch.float32
        assert t["labels"].dtype == torch.int64
        for j, g in enumerate(present):
            mask = t["masks"][j].numpy()
            np.testing.assert_array_equal(mask, window == g)
            assert t["labels"][j] == classes[g]
            # the box encloses the cut mask exactly (end exclusive)
            np.testing.assert_array_equal(t["boxes"][j].numpy(), _box_of(mask))
            assert image[mask].min() >= 10.0
        assert image[image > 0].min() >= 10.0                  # ADC < 10 zeroed
    # crops of one event sit at different, random places
    offsets = {tuple(ds[i]["offset"][0].tolist()) for i in range(10)}
    assert len(offsets) >= 5


def test_whole_images_zero_adc_below_10_and_match_the_event(nu_file, events):
    ds = InstanceDataset(nu_file, crop=None)
    assert len(ds) == 3
    item = ds[1]
    img = events[1].planes[PLANE]
    dense = img.dense()
    image = item["image"][0].numpy()
    assert item["image"].shape == (1, 1008, 3456) and item["offset"].tolist() == [[0, 0]]
    np.testing.assert_array_equal(image, np.where(dense >= 10, dense, 0))
    assert (dense[(dense > 0) & (dense < 10)]).size > 100  # there was something to zero
    truth, classes = _truth_map(events[1])
    groups = np.unique(truth[truth >= 0])
    t = item["target"]
    np.testing.assert_array_equal(t["group"].numpy(), groups)
    assert int((t["labels"] == InstanceClass.NEUTRINO).sum()) == 1
    for j, g in enumerate(groups):
        np.testing.assert_array_equal(t["masks"][j].numpy(), truth == g)
        np.testing.assert_array_equal(t["boxes"][j].numpy(), _box_of(truth == g))
    assert item["category"] in ("nue_cc", "numu_cc", "nc")
    # perfect predictions score 1 on every metric
    ev = InstanceEvaluator()
    preds = [{"mask": m, "label": int(lab), "score": 1.0}
             for m, lab in zip(t["masks"], t["labels"])]
    ev.process(preds, t, item["image"], category=item["category"])
    r = ev.evaluate()
    assert r["truths"] == len(groups)
    assert r["efficiency"] == r["purity"] == r["charge_efficiency"] == r["coverage"] == 1.0


def test_items_are_deterministic_per_seed_and_epoch(nu_file):
    a, b = InstanceDataset(nu_file, seed=1), InstanceDataset(nu_file, seed=1)
    for i in (0, 7, 13):
        x, y = a[i], b[i]
        assert torch.equal(x["image"], y["image"])
        assert torch.equal(x["target"]["boxes"], y["target"]["boxes"])
    offsets = [a[i]["offset"] for i in range(10)]
    a.set_epoch(1)
    assert any(not torch.equal(o, a[i]["offset"]) for i, o in enumerate(offsets))


def test_split_is_disjoint_complete_and_deterministic(nu_file):
    train, val = split_events(10, seed=3)
    assert len(train) == 8 and len(val) == 2
    assert set(train).isdisjoint(val) and sorted([*train, *val]) == list(range(10))
    again = split_events(10, seed=3)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], val)
    others = {tuple(split_events(10, seed=s)[1]) for s in range(6)}
    assert len(others) > 1
    t3, v3 = split_events(3, seed=0)
    ds = InstanceDataset(nu_file, events=v3, crops_per_event=2)
    assert len(ds) == 2 * len(v3) and {ds[i]["entry"] for i in range(len(ds))} == set(v3)
    with pytest.raises(IndexError, match="event index 5 out of range"):
        InstanceDataset(nu_file, events=[5])


def test_collate_pads_images_and_keeps_targets(nu_file):
    crops = InstanceDataset(nu_file, crop=(64, 96), crops_per_event=1)
    small = InstanceDataset(nu_file, crop=(40, 200), crops_per_event=1)
    items = [crops[0], small[1], None]
    batch = instance_collate(items)
    assert batch["image"].shape == (2, 1, 64, 200) and batch["n_skipped"] == 1
    assert batch["image_sizes"] == [(64, 96), (40, 200)]
    assert torch.equal(batch["image"][0, :, :64, :96], items[0]["image"])
    assert batch["image"][0, :, :, 96:].abs().sum() == 0          # padding is zero
    assert torch.equal(batch["image"][1, :, :40, :], items[1]["image"])
    assert batch["targets"][1] is items[1]["target"]
    assert batch["offset"].shape == (2, 1, 2) and batch["entries"].tolist() == [0, 1]
    assert instance_collate([None]) is None


def test_bad_input_names_file_event_and_field(nu_file, events):
    with pytest.raises(InvalidEventError) as exc:
        InstanceDataset(nu_file, plane=3)[0]
    msg = str(exc.value)
    assert str(nu_file) in msg and "event 1/6/0" in msg and "field planes" in msg
    no_instance = EventFile(nu_file, fields=["particles"])
    with pytest.raises(InvalidEventError, match=r"event 1/6/1, field plane2\.instance"):
        InstanceDataset(no_instance)[10]
    no_particles = EventFile(nu_file, fields=["instance"])
    with pytest.raises(InvalidEventError, match=r"file .*cosmics_nu\.h5, event 1/6/0, "
                                                r"field particles"):
        InstanceDataset(no_particles, crop=None)[0]
    with pytest.raises(ValueError, match="crop must be"):
        InstanceDataConfig(crop=(0, 10))


def test_events_without_instances_raise_or_are_skipped(nu_file):
    from larseg.data import EmptyEventError

    ev = EventFile(nu_file)[0]  # a fresh copy: the module's events stay as read
    cosmic_free = ev.planes[PLANE]
    cosmic_free.values = np.minimum(cosmic_free.values, 9.0)  # nothing left above 10 ADC
    with pytest.raises(EmptyEventError, match="no instance pixel"):
        InstanceDataset([ev])[0]
    assert InstanceDataset([ev], on_empty="skip")[0] is None
    whole = InstanceDataset([ev], crop=None)[0]
    assert whole["target"]["boxes"].shape == (0, 4) and whole["image"].abs().sum() == 0
