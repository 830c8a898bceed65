"""The event side of larseg.metrics.agreement: source specs (refused with ValueError, no CLI
types), decisions of a spec, and one event's per-plane agreement and disagreeing-pixel rows."""

from __future__ import annotations

import numpy as np
import pytest

from larseg.metrics.agreement import (DISAGREEMENT_COLUMNS, SOURCE_PRESETS, EventArrays,
                                      SourceSpec, decide, disagreement_rows, event_agreement,
                                      source_spec)

T, S, U = 0, 1, -1


def test_source_spec_refuses_with_value_error():
    assert source_spec("ssnet") is SOURCE_PRESETS["ssnet"]
    assert source_spec("pred_semantic_score_MIP") == SourceSpec(("pred_semantic_score_MIP",),
                                                                "shower-score")
    for args, says in ((("",), "no product given"), (("a,b,c,d",), "got 4"),
                       (("x", "dense"), "kind 'dense'"), (("pred_cosmic",), "'cosmic'")):
        with pytest.raises(ValueError, match=says):
            source_spec(*args)


def test_decide_follows_the_spec():
    track, shower = np.array([0.7, 0.2, 0.0]), np.array([0.3, 0.8, 0.0])
    np.testing.assert_array_equal(decide(SourceSpec(("t", "s"), "scores"), [track, shower]),
                                  [T, S, U])
    one = SourceSpec(("s",), "shower-score")
    np.testing.assert_array_equal(decide(one, [shower]), [T, S, U])
    np.testing.assert_array_equal(decide(one, [shower], 0.25), [S, S, U])  # 0.3 > 0.25
    np.testing.assert_array_equal(decide(SourceSpec(("l",), "labels", "ubdl"),
                                         [np.array([0, 2, 3])]), [U, T, S])


def test_event_agreement_and_rows_per_plane():
    adc = {0: np.array([[5.0, 20.0], [30.0, 40.0]]), 2: np.array([[50.0, 0.0], [12.5, 11.0]])}
    pred = {0: np.array([[S, S], [T, U]], np.int8), 2: np.array([[T, S], [S, T]], np.int8)}
    ref = {0: np.array([[T, T], [T, S]], np.int8), 2: np.array([[S, T], [S, T]], np.int8)}
    ev = EventArrays(4, 7, 8, 9, (2, 0), adc, pred, ref)
    results = event_agreement(ev, 10.0)
    assert [r.plane for r in results] == [2, 0]
    # (0,0) T/S, (1,0) S/S, (1,1) T/T; (0,1) differs but has 0 ADC
    assert results[0].table.tolist() == [[1, 1], [0, 1]]
    assert results[1].table.tolist() == [[1, 0], [1, 0]] and results[1].prediction_undecided == 1
    rows = list(disagreement_rows(ev, results))
    assert len(DISAGREEMENT_COLUMNS) == len(rows[0])
    assert rows == [(4, 7, 8, 9, "Y", 0, 0, "50", T, S), (4, 7, 8, 9, "U", 0, 1, "20", S, T)]
