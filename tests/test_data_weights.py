"""Loss weights of the papers, each against a hand-computed example."""

from __future__ import annotations

import numpy as np
import pytest

from larseg.data.weights import (SBND_MILD_WEIGHTS, balance_weights, class_weights,
                                 cluster_weights, inverse_frequency_weights, ssnet_categories,
                                 vertex_weights)


def test_class_weights_sbnd_mild():
    labels = np.array([0, 1, 2, 1, -1])
    np.testing.assert_array_equal(class_weights(labels, SBND_MILD_WEIGHTS), [1, 1.5, 10, 1.5, 0])
    with pytest.raises(ValueError, match="label 3"):
        class_weights(np.array([3]), SBND_MILD_WEIGHTS)


def test_balance_per_image_and_full():
    a = np.array([0, 0, 0, 1])        # 3 background, 1 cosmic
    b = np.array([0, 2])              # 1 background, 1 neutrino
    wa, wb = balance_weights([a, b], 3, "image")
    # image a: 4 pixels, 2 classes -> w_c N_c = 2: background 2/3, cosmic 2
    np.testing.assert_allclose(wa, [2 / 3, 2 / 3, 2 / 3, 2])
    np.testing.assert_allclose(wb, [1, 1])
    fa, fb = balance_weights([a, b], 3, "full")
    # batch: 4 background, 1 cosmic, 1 neutrino, 6 pixels -> w_c N_c = 2
    np.testing.assert_allclose(fa, [0.5, 0.5, 0.5, 2])
    np.testing.assert_allclose(fb, [0.5, 2])
    na, = balance_weights([np.array([0, -1, 1])], 3, "none")
    np.testing.assert_array_equal(na, [1, 0, 1])


def test_cluster_weights_inverse_size_clipped():
    cluster = np.array([7] * 10 + [3] + [5] * 10_000 + [-1])
    w = cluster_weights(cluster)
    assert w[0] == pytest.approx(0.02)                      # 1/10 = 0.1 clipped to 2e-2
    assert w[10] == pytest.approx(0.02)                     # 1/1 clipped
    assert w[11] == pytest.approx(2e-4)                     # 1/10000 = 1e-4 clipped up
    assert w[-1] == 0.0
    w2 = cluster_weights(np.array([1] * 200 + [2] * 100))
    np.testing.assert_allclose(w2[[0, 250]], [1 / 200, 1 / 100])


def test_vertex_weights_near_another_label():
    # a MIP line in row 0, cols 0..9; a shower pixel at (1, 12): MIP pixels at cols 9 .. within 3
    coords = np.array([[0, c] for c in range(10)] + [[1, 12], [-1, -1]])
    labels = np.array([1] * 10 + [2, -1])
    w = vertex_weights(coords, labels)
    near = {9, 10}  # col 9 is 3 columns from col 12 (Chebyshev 3); the shower pixel itself
    expect = [0.02 if i in near else 0.0 for i in range(10)] + [0.02, 0.0]
    np.testing.assert_allclose(w, expect)


def test_ssnet_categories_and_inverse_frequency():
    ts = np.full((7, 7), -1)
    ts[3, 3] = 0          # a track pixel
    cat = ssnet_categories(ts)
    assert cat[3, 3] == 2
    assert (cat == 1).sum() == 24          # the 5 x 5 square around it, minus the pixel
    assert cat[0, 0] == 0 and cat[1, 1] == 1 and cat[0, 3] == 0
    w = inverse_frequency_weights(cat.reshape(-1), 4)
    # 49 pixels, 3 categories present: each carries 49 / 3 of the total weight
    counts = {0: 24, 1: 24, 2: 1}
    for k, n in counts.items():
        np.testing.assert_allclose(w[cat.reshape(-1) == k], 49 / (3 * n))
    assert w.sum() == pytest.approx(49)


def test_event_weights_are_the_sum_of_the_schemes_and_reach_the_display(simulated_files,
                                                                         tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from larseg.data.weights import event_weights
    from larseg.io import EventFile

    ev = EventFile(simulated_files["microboone"])[0]
    both = event_weights(ev, "cluster+vertex")
    for img, w, c, v in zip(ev.planes, both, event_weights(ev, "cluster"),
                            event_weights(ev, "vertex")):
        assert len(w) == len(img)
        np.testing.assert_allclose(w, c + v)
        assert np.all(w[img.semantic < 0] == 0) and w.max() <= 0.02 + 0.02 + 1e-12
    mild = event_weights(ev, "mild")[2]
    np.testing.assert_array_equal(np.unique(mild), np.unique(np.array(SBND_MILD_WEIGHTS)[
        np.unique(ev.planes[2].cosmic)]))
    with pytest.raises(ValueError, match="unknown weight scheme"):
        event_weights(ev, "focal")
    larseg = str(Path(sys.executable).with_name("larseg"))
    done = subprocess.run([larseg, "display", str(simulated_files["microboone"]), "--loss-weights",
                           "cluster+vertex", "-o", str(tmp_path), "--no-html"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "microboone_event0.png").stat().st_size > 10_000


def test_batch_weights_schemes_by_hand():
    from larseg.data.weights import batch_weights

    label = np.array([[[[0, 0, 0, 1]]], [[[0, 2, -1, 2]]]])      # (B=2, P=1, 1, 4)
    np.testing.assert_allclose(batch_weights(label, "mild", 3)[0, 0, 0], [1, 1, 1, 1.5])
    img = batch_weights(label, "image", 3)
    np.testing.assert_allclose(img[0, 0, 0], [2 / 3, 2 / 3, 2 / 3, 2])   # 4 px, 2 classes
    np.testing.assert_allclose(img[1, 0, 0], [1.5, 0.75, 0, 0.75])      # 3 px, 2 classes
    full = batch_weights(label, "full", 3)
    # batch: 4 background, 1 cosmic, 2 neutrino (7 px, 3 classes): w_c N_c = 7/3
    np.testing.assert_allclose(full[0, 0, 0], [7 / 12, 7 / 12, 7 / 12, 7 / 3])
    np.testing.assert_allclose(full[1, 0, 0], [7 / 12, 7 / 6, 0, 7 / 6])
    np.testing.assert_array_equal(batch_weights(label, "none", 3)[1, 0, 0], [1, 1, 0, 1])
