"""``larseg agree`` on files written here: a larcv1 ROOT file in MicroBooNE's member layout
(flat branches with larcv's names, as tests/test_io_root.py writes them) carrying ``wire`` and
stored network outputs (``ssnettrack`` / ``ssnetshower`` scores, ``sparseuresnet_prediction``
labels, ``uburn_plane<p>`` score pairs), and a larcv3 file that ``larseg predict`` writes from
it with a tiny untrained SparseSSNet. Every number of the verb's JSON is recomputed here with
numpy from the arrays written (no real MicroBooNE file with stored scores is available)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from larseg.cli.app import register_all
from tests.factories import write_larcv1_root

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")

runner = CliRunner()
app = register_all()

IDS = ((7001, 3, 11), (7001, 3, 12))
ROWS, COLS = 24, 40
T, S, U = 0, 1, -1
TINY = ["model.name=sparse_ssnet", "model.filters=4", "model.levels=3", "model.backend=reference",
        "data.target=semantic", "data.downsample=1", "data.crop=[128, 128]"]


def write_root(path: Path, products: dict, ids=IDS) -> None:
    write_larcv1_root(path, products, ids)


def _planes(images):
    return [list(enumerate(ev)) for ev in images]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(ROOT file, larcv3 prediction file, the arrays written) shared by the tests."""
    import torch

    from larseg.models import build
    from larseg.train.config import load_config
    from larseg.train.predict import predict
    from larseg.train.trainer import TrainingConfig
    from larseg.weights.loading import save_weights

    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("agree")
    shape = (len(IDS), 3, ROWS, COLS)
    # charge on ~35 % of the pixels, 2-400 ADC: some below 10, some above SparseSSNet's 300
    wire = np.where(rng.random(shape) < 0.35, rng.uniform(2, 400, shape), 0).astype(np.float32)
    on = wire > 0
    track = np.where(on, rng.uniform(0, 1, shape), 0).astype(np.float32)
    shower = np.where(on, (1 - track) * rng.uniform(0.6, 1.0, shape), 0).astype(np.float32)
    ubdl = np.where(on, rng.integers(0, 4, shape), 0).astype(np.float32)  # 0: not scored
    ub_track = np.where(on, rng.uniform(0, 1, shape), 0).astype(np.float32)
    ub_shower = np.where(on, 1 - ub_track, 0).astype(np.float32)
    products = {"wire": _planes(wire), "ssnettrack": _planes(track),
                "ssnetshower": _planes(shower), "sparseuresnet_prediction": _planes(ubdl)}
    for p in range(3):  # MicroBooNE's DL files: the shower score image, then the track one
        products[f"uburn_plane{p}"] = [[(p, ub_shower[e, p]), (p, ub_track[e, p])]
                                       for e in range(len(IDS))]
    root = d / "ub.root"
    write_root(root, products)

    cfg = load_config(None, TrainingConfig, TINY)
    torch.manual_seed(0)
    weights = save_weights(d / "tiny.safetensors", build(cfg.model), cfg)
    pred = d / "pred.h5"
    assert predict(cfg, weights, root, pred) == len(IDS)
    arrays = {"wire": wire, "track": track, "shower": shower, "ubdl": ubdl,
              "ub_track": ub_track, "ub_shower": ub_shower}
    return root, pred, arrays


def _dense_larcv3(reader, producer: str, entry: int, fill: float) -> np.ndarray:
    """(planes, rows, columns) of a sparse2d product: voxel id = wire × rows + row."""
    out = np.full((3, ROWS, COLS), fill, np.float32)
    for proj in reader.read_sparse2d(producer, entry):
        ids = proj.ids.astype(np.int64)
        out[proj.meta.projection_id, ids % ROWS, ids // ROWS] = proj.values
    return out


def _direct(adc, pred, ref, threshold=10.0):
    """Per plane: 2 × 2 table [prediction, reference] and the disagreeing (row, column)s."""
    out = []
    for a, p, r in zip(adc, pred, ref):
        keep = (a >= threshold) & (p >= 0) & (r >= 0)
        table = np.array([[np.sum(keep & (p == i) & (r == j)) for j in (T, S)] for i in (T, S)])
        out.append((table, set(map(tuple, np.argwhere(keep & (p != r)).tolist()))))
    return out


def _score_decisions(track, shower):
    return np.where((track == 0) & (shower == 0), U, np.where(shower > track, S, T))


def _run(args, out: Path) -> dict:
    result = runner.invoke(app, ["agree", *map(str, args), "-o", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    rep = json.loads((out / "agreement.json").read_text())
    if "--json" in args:
        assert json.loads(result.stdout) == rep
    return rep


def test_larcv3_prediction_against_stored_ssnet_scores_in_a_root_file(files, tmp_path):
    root, pred, a = files
    rep = _run([pred, "--reference-file", root, "--reference", "ssnettrack,ssnetshower",
                "--prediction", "pred_semantic", "--display", "1"], tmp_path)
    from larseg.io import Larcv3Reader

    r = Larcv3Reader(pred)
    totals = np.zeros((3, 2, 2), np.int64)
    rows = set()
    for e in range(len(IDS)):
        adc = _dense_larcv3(r, "wire", e, 0.0)
        np.testing.assert_allclose(adc, a["wire"][e], rtol=1e-6)  # predict kept the ROOT's ADC
        sem = _dense_larcv3(r, "pred_semantic", e, -1.0)
        assert np.all(sem[adc > 300] == -1)  # outside SparseSSNet's input mask: no class
        p = np.where(sem < 0, U, np.where(sem <= 1, T, S))
        per = _direct(adc, p, _score_decisions(a["track"][e], a["shower"][e]))
        ev = rep["events"][e]
        assert (ev["run"], ev["subrun"], ev["event"], ev["entry"]) == (*IDS[e], e)
        for k, (table, wrong) in enumerate(per):
            totals[k] += table
            got = ev["planes"]["UVY"[k]]
            assert got["compared"] == table.sum() and got["disagreeing"] == len(wrong)
            rows |= {(e, "UVY"[k], rr, cc) for rr, cc in wrong}
    for k, name in enumerate("UVY"):
        s = rep["planes"][name]
        assert s["table"] == totals[k].tolist()
        assert s["agreement"] == pytest.approx(np.trace(totals[k]) / totals[k].sum())
        assert s["pixels_above_threshold"] == int((a["wire"][:, k] >= 10).sum())
        # the prediction says nothing of the counted pixels above 300 ADC
        assert s["prediction_undecided"] == int((a["wire"][:, k] > 300).sum())
        assert s["reference_undecided"] == 0  # every charged pixel has scores
    assert rep["all_planes"]["table"] == totals.sum(axis=0).tolist()
    assert totals.sum() > 1000 and (totals[:, 0, 1] + totals[:, 1, 0]).sum() > 100
    with open(tmp_path / "disagreements.csv") as fh:
        got = [(int(x["entry"]), x["plane"], int(x["row"]), int(x["wire"]))
               for x in csv.DictReader(fh)]
    assert len(got) == len(rows) and set(got) == rows
    assert rep["display"]["entry"] == 1 and (tmp_path / "agreement_event1.png").stat().st_size \
        > 20_000
    assert rep["reference"]["kind"] == "scores" and rep["prediction"]["encoding"] == "semantic"


def test_one_root_file_with_two_stored_networks(files, tmp_path):
    """Both sources from one larcv1 file: the stored SparseSSNet labels against SSNet's scores
    (preset ssnet) and against the uburn score pairs (shower image first)."""
    root, _, a = files
    pred = np.where(a["ubdl"] == 0, U, np.where(a["ubdl"] <= 2, T, S))
    for preset, ref in (("ssnet", _score_decisions(a["track"], a["shower"])),
                        ("uburn", _score_decisions(a["ub_track"], a["ub_shower"]))):
        out = tmp_path / preset
        rep = _run([root, "--prediction", "sparseuresnet", "--reference", preset]
                   + (["--no-display", "--json"] if preset == "uburn" else []), out)
        per_event = [_direct(a["wire"][e], pred[e], ref[e]) for e in range(len(IDS))]
        for k, name in enumerate("UVY"):
            assert rep["planes"][name]["table"] == sum(pe[k][0] for pe in per_event).tolist()
            assert rep["planes"][name]["prediction_undecided"] == int(
                ((a["wire"][:, k] >= 10) & (a["ubdl"][:, k] == 0)).sum())
        n_wrong = [sum(len(w) for _, w in pe) for pe in per_event]
        if preset == "ssnet":  # the event drawn: the one with the most disagreeing pixels
            assert rep["display"]["entry"] == int(np.argmax(n_wrong))
            assert (out / f"agreement_event{int(np.argmax(n_wrong))}.png").is_file()
        else:
            assert "display" not in rep and not list(out.glob("*.png"))
        assert rep["prediction"]["encoding"] == "ubdl"
    # uburn's two score images swapped would be another table: the #1/#0 images are used
    assert rep["planes"]["Y"]["table"] != _direct(
        a["wire"][0], pred[0], _score_decisions(a["ub_shower"][0], a["ub_track"][0]))[2][0]\
        .tolist()


def test_single_shower_score_reference_and_threshold(files, tmp_path):
    root, _, a = files
    rep = _run([root, "--prediction", "sparseuresnet", "--reference", "ssnetshower",
                "--threshold", "50", "--no-display"], tmp_path)
    pred = np.where(a["ubdl"] == 0, U, np.where(a["ubdl"] <= 2, T, S))
    ref = np.where(a["shower"] == 0, U, np.where(a["shower"] > 0.5, S, T))
    for k, name in enumerate("UVY"):
        want = sum(_direct(a["wire"][e], pred[e], ref[e], 50.0)[k][0] for e in range(2))
        assert rep["planes"][name]["table"] == want.tolist()
        assert rep["planes"][name]["pixels_above_threshold"] == int((a["wire"][:, k] >= 50).sum())
    assert rep["adc_threshold"] == 50.0 and rep["reference"]["kind"] == "shower-score"


def test_missing_event_product_and_shape_mismatch_name_file_event_and_product(files, tmp_path):
    root, pred, a = files
    other = tmp_path / "other.root"  # the second event is 12 → 13
    write_root(other, {"ssnettrack": _planes(a["track"]), "ssnetshower": _planes(a["shower"])},
               ids=(IDS[0], (7001, 3, 13)))
    res = runner.invoke(app, ["agree", str(pred), "--reference-file", str(other),
                              "--reference", "ssnet", "-o", str(tmp_path / "o1")])
    assert res.exit_code != 0
    assert f"file {other}, product 'ssnettrack': no event 7001/3/12" in str(res.exception)

    res = runner.invoke(app, ["agree", str(pred), "--reference-file", str(root), "--reference",
                              "ssnettrack,ssnetfoo", "-o", str(tmp_path / "o2")])
    assert res.exit_code != 0
    assert f"file {root}: no image product 'ssnetfoo'; it holds: " in str(res.exception)

    narrow = tmp_path / "narrow.root"
    write_root(narrow, {"ssnettrack": _planes(a["track"][..., :36]),
                        "ssnetshower": _planes(a["shower"][..., :36])})
    res = runner.invoke(app, ["agree", str(pred), "--reference-file", str(narrow),
                              "--reference", "ssnet", "-o", str(tmp_path / "o3")])
    assert res.exit_code != 0
    assert (f"file {narrow}, event 7001/3/11, product 'ssnettrack', plane 0: image of 24 rows "
            f"× 36 wires, but the ADC ('wire' of {pred}) is 24 × 40") in str(res.exception)


def test_display_marks_exactly_the_disagreeing_pixels():
    from matplotlib.colors import to_rgba

    from larseg.cli.agree import EventArrays, agreement_figure

    adc = np.zeros((10, 12), np.float32)
    adc[2:8, 3:9] = 40.0
    adc[5, 5] = 5.0  # below the threshold: not drawn although the two disagree there
    pred = np.where(adc > 0, T, U).astype(np.int8)
    ref = pred.copy()
    ref[[2, 3, 7, 5], [3, 4, 8, 5]] = S  # three counted disagreements and (5, 5)
    ev = EventArrays(0, 1, 2, 3, (2,), {2: adc}, {2: pred}, {2: ref})
    fig = agreement_figure(ev, 10.0, ("pred_semantic", "ssnet"))
    axes = fig.axes
    assert [ax.get_title(loc="left") for ax in axes] == [
        "plane Y · ADC", "plane Y · prediction: pred_semantic", "plane Y · reference: ssnet",
        "plane Y · difference"]
    diff = np.asarray(axes[3].images[0].get_array())
    assert diff.shape[:2] == (10, 12)  # the whole small image, one cell per pixel
    red = np.all(np.isclose(diff, to_rgba("#d62728"), atol=1e-3), axis=-1)
    assert sorted(map(tuple, np.argwhere(red).tolist())) == [(2, 3), (3, 4), (7, 8)]


def test_reference_in_a_larcv3_file_is_matched_by_event_id(files, tmp_path):
    """The reference as larcv3 image2d products, its events written in the reverse order: the
    verb matches them by run/subrun/event, giving the ROOT reference's tables."""
    from larseg.io import Image2D, ImageMeta2D, Larcv3Writer

    root, pred, a = files
    ref = tmp_path / "ref.h5"
    with Larcv3Writer(ref) as w:
        for e in reversed(range(len(IDS))):
            def image2d(x):  # larcv axis 0 = wire: the transposed (rows, columns) image
                return [Image2D(ImageMeta2D(p, (COLS, ROWS), (COLS * 0.3, ROWS * 0.3)),
                                x[e, p].T) for p in range(3)]
            w.write_event(*IDS[e], image2d={"ssnettrack": image2d(a["track"]),
                                            "ssnetshower": image2d(a["shower"])})
    from_h5 = _run([pred, "--reference-file", ref, "--reference", "ssnet", "--no-display"],
                   tmp_path / "h5")
    from_root = _run([pred, "--reference-file", root, "--reference", "ssnet", "--no-display"],
                     tmp_path / "root")
    assert from_h5["planes"] == from_root["planes"] and from_h5["events"] == from_root["events"]
    assert from_h5["all_planes"]["compared"] > 1000


def test_product_lists_presets_and_conventions():
    import typer

    from larseg.cli.agree import SourceSpec, parse_source

    assert parse_source("pred_semantic") == SourceSpec(("pred_semantic",), "labels", "semantic")
    assert parse_source("pred_ssnet").encoding == "ssnet_categories"
    assert parse_source("pred_track_shower", "labels").encoding == "track_shower"
    assert parse_source("ssnetshower") == SourceSpec(("ssnetshower",), "shower-score")
    assert parse_source("a, b") == SourceSpec(("a", "b"), "scores")
    assert parse_source("segment", "auto", "larcv_shape") == SourceSpec(
        ("segment",), "labels", "larcv_shape")
    assert parse_source("uburn").products == ("uburn_plane{plane}#1", "uburn_plane{plane}#0")
    assert parse_source("ssnet", "labels").products == ("ssnet",)  # a kind given: no preset
    for args, says in ((("a,b,c,d",), "give 2"), (("a,b", "labels"), "give one product"),
                       (("pred_cosmic",), "not track / shower"), (("x", "dense"), "kind"),
                       (("x", "labels", "five"), "label encoding 'five'")):
        with pytest.raises(typer.BadParameter, match=says):
            parse_source(*args)
