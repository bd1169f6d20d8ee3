"""'I don't know': values the table does not hold, calibrated confidence, the unsure threshold."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nqa.question import parse_question
from nqa.table import load_table
from nqa.unsure import Calibration, missing_values, unsure_reason

ORDERS = load_table(str(Path(__file__).resolve().parents[1] / "data" / "orders.csv"))


@pytest.mark.parametrize("question,missing", [
    ("what is the unit price of the chainsaw?", ["chainsaw"]),
    ("total units for atlantis", ["atlantis"]),
    ("how many orders came from gotham?", ["gotham"]),
    ("what is the unit price of the oak desk?", []),  # a cell
    ("how many orders are there?", []),  # 'orders' names the rows
    ("what were total sales in the east?", []),
    ("how many orders were refunded?", []),  # a column
    ("which city appears most often?", []),
    ("how many orders were shipped in march 2024?", []),
    ("whats the avg total for london pls", []),
])
def test_missing_values(question, missing):
    assert missing_values(parse_question(question, ORDERS), ORDERS) == missing


def test_unsure_reason_names_the_missing_value_then_low_confidence():
    q = parse_question("what is the unit price of the chainsaw?", ORDERS)
    assert unsure_reason(q, ORDERS, 0.99, Calibration()) == "no cell mentions 'chainsaw'"
    q = parse_question("how many orders are there?", ORDERS)
    assert unsure_reason(q, ORDERS, 0.9, Calibration(threshold=0.5)) is None
    assert "low confidence" in unsure_reason(q, ORDERS, 0.2, Calibration(threshold=0.5))


def test_calibration_is_monotonic_and_identity_by_default():
    assert Calibration()(0.3) == pytest.approx(0.3)
    cal = Calibration((0.0, 0.5, 0.9, 1.0), (0.02, 0.45, 0.7, 0.75), threshold=0.5)
    out = [cal(p) for p in [0.0, 0.01, 0.2, 0.5, 0.8, 0.99, 1.0]]
    assert out == sorted(out) and all(0 <= x <= 1 for x in out)
    assert cal(0.95) == pytest.approx(0.725)
    config = {"calibration": {"xs": [0.0, 0.5, 0.9, 1.0], "ys": [0.02, 0.45, 0.7, 0.75], "threshold": 0.5}}
    assert Calibration.from_config(config) == cal
    assert Calibration.from_config({}) == Calibration()
    with pytest.raises(ValueError):
        Calibration.from_config({"calibration": {"xs": [0.0, 1.0], "ys": [0.9, 0.1]}})


def test_calibration_travels_with_the_checkpoint(tiny_qa, tmp_path):
    from nqa.api import TableQA

    tiny_qa.calibration = Calibration((0.0, 1.0), (0.1, 0.8), 0.3)
    try:
        copy = TableQA.from_pretrained(tiny_qa.save_pretrained(tmp_path / "m"))
    finally:
        tiny_qa.calibration = Calibration()
    assert copy.calibration == Calibration((0.0, 1.0), (0.1, 0.8), 0.3)


def test_ask_says_so_when_a_value_is_in_no_cell(tiny_qa):
    answer = tiny_qa.ask(ORDERS, "what is the unit price of the chainsaw?")
    assert answer.unsure == "no cell mentions 'chainsaw'"
    assert answer.to_dict()["unsure"] == answer.unsure
    assert answer.run_sql() == answer.values  # the best guess is still there, with its SQL


def test_a_corrupt_calibration_is_a_checkpoint_error(tiny_qa, tmp_path):
    import json

    from nqa.api import CheckpointError, TableQA

    d = tiny_qa.save_pretrained(tmp_path / "m")
    config = json.loads((d / "config.json").read_text())
    config["calibration"] = {"xs": [0.0, 1.0], "ys": ["a", 0.5]}
    (d / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="bad calibration"):
        TableQA.from_pretrained(d)


def _logistic_calibration() -> Calibration:
    from nqa.confidence import FEATURES

    n = len(FEATURES)
    return Calibration((0.0, 1.0), (0.0, 1.0), 0.4, weights=(2.0,) + (0.0,) * (n - 1), bias=0.5,
                       mean=(0.0,) * n, scale=(1.0,) * n)


def test_logistic_calibration_round_trips_and_answers_use_it(tiny_qa, tmp_path):
    from nqa.api import TableQA

    cal = _logistic_calibration()
    assert Calibration.from_config({"calibration": cal.to_config()}) == cal
    tiny_qa.calibration = cal
    try:
        answer = tiny_qa.ask(ORDERS, "how many orders are there?")
        copy = TableQA.from_pretrained(tiny_qa.save_pretrained(tmp_path / "m"))
    finally:
        tiny_qa.calibration = Calibration()
    assert copy.calibration == cal
    raw = sum(p.probability for p in [answer.program] + [a.program for a in answer.alternatives
                                                          if a.values == answer.values])
    raw = min(max(raw, 1e-3), 1 - 1e-3)
    expected = 1 / (1 + np.exp(-(2.0 * np.log(raw / (1 - raw)) + 0.5)))
    assert answer.confidence == pytest.approx(expected, rel=1e-6)


def test_a_calibration_for_other_features_is_refused():
    config = {"calibration": _logistic_calibration().to_config()}
    config["calibration"]["features"] = config["calibration"]["features"][:-1] + ["something_else"]
    with pytest.raises(ValueError, match="features differ"):
        Calibration.from_config(config)
    config = {"calibration": _logistic_calibration().to_config()}
    config["calibration"]["scale"][0] = 0.0
    with pytest.raises(ValueError, match="positive scale"):
        Calibration.from_config(config)
