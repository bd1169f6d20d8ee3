"""Calibration maths: isotonic regression undoes a known miscalibration, ECE, the unsure threshold."""
from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import choose_threshold, expected_calibration_error, fit_isotonic


def test_isotonic_calibration_fixes_overconfidence_at_the_top():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    true = np.where(p < 0.7, p, 0.7 + (p - 0.7) * 0.2)  # calibrated below 0.7, overconfident above
    y = (rng.uniform(size=p.size) < true).astype(float)
    xs, ys = fit_isotonic(p, y)
    assert xs[0] == 0.0 and xs[-1] == 1.0 and list(ys) == sorted(ys) and len(xs) <= 26
    calibrated = np.interp(p, xs, ys)
    assert expected_calibration_error(calibrated, y) < 0.02 < expected_calibration_error(p, y)
    assert np.interp(0.95, xs, ys) == pytest.approx(0.75, abs=0.05)


def test_ece_of_a_perfect_forecaster_is_zero_and_of_a_liar_is_large():
    conf = np.array([0.9] * 10 + [0.1] * 10)
    right = np.array([1] * 9 + [0] + [1] + [0] * 9, dtype=float)
    assert expected_calibration_error(conf, right) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(10, 0.95), np.zeros(10)) == pytest.approx(0.95)


def test_threshold_keeps_answers_that_are_more_often_right():
    conf = np.array([0.95, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2])
    right = np.array([True, True, True, False, False, True, False])
    t = choose_threshold(conf, right)
    assert 0.6 < t < 0.8  # answers at 0.8 and above: 3 right; adding 0.6 would add a wrong one
    assert choose_threshold(np.array([0.9, 0.5]), np.array([False, False])) == 1.0


def test_logistic_fit_recovers_a_known_model_and_calibrates():
    from nqa.confidence import fit_logistic

    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, 0.0]
    true_w, true_b = np.array([1.5, -0.4, 0.0]), 0.3
    p = 1 / (1 + np.exp(-(x @ true_w + true_b)))
    y = (rng.uniform(size=p.size) < p).astype(float)
    w, b, mean, scale = fit_logistic(x, y, l2=0.0)
    # back from the standardised space: weight / scale, bias - Σ weight·mean/scale
    assert np.allclose(w / scale, true_w, atol=0.05)
    assert b - np.sum(w * mean / scale) == pytest.approx(true_b, abs=0.05)
    fitted = 1 / (1 + np.exp(-(((x - mean) / scale) @ w + b)))
    assert expected_calibration_error(fitted, y) < 0.02


def test_logistic_sample_weight_counts_an_example_that_many_times():
    """Weighing sources equally (training.calibrate --weigh-sources equal) relies on this."""
    from nqa.confidence import fit_logistic

    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 2))
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-x[:, 0]))).astype(float)
    twice = np.r_[np.arange(400), np.arange(100)]  # the first 100 examples count twice
    w_dup, b_dup, mean, scale = fit_logistic(x[twice], y[twice])
    weight = np.r_[np.full(100, 2.0), np.ones(300)]
    # the same standardisation on both sides, so compare the fitted probabilities, not the weights
    w, b, m2, s2 = fit_logistic(x, y, sample_weight=weight)
    p_dup = 1 / (1 + np.exp(-(((x - mean) / scale) @ w_dup + b_dup)))
    p_w = 1 / (1 + np.exp(-(((x - m2) / s2) @ w + b)))
    assert np.allclose(p_dup, p_w, atol=2e-3)


def test_features_on_a_real_answer():
    from pathlib import Path

    from nqa.confidence import FEATURES, TERMINAL_INDICATORS, confidence_features
    from nqa.program import Program, Step
    from nqa.question import parse_question
    from nqa.table import load_table

    table = load_table(Path(__file__).resolve().parents[1] / "data" / "orders.csv")
    q = parse_question("total units for london", table)
    city, units = table.column_names.index("City"), table.column_names.index("Units")
    london = next(k for k, c in enumerate(q.constants) if c.norm == "london")
    program = Program([Step("filter_eq", city, constant=london), Step("sum", units)])
    f = dict(zip(FEATURES, confidence_features(0.5, program, q, table, ["42"])))
    assert f["logit_p"] == pytest.approx(0.0) and f["terminal_sum"] == 1.0 and f["covered"] == 0.0
    assert sum(f[f"terminal_{op}"] for op in TERMINAL_INDICATORS) == 1.0
    # 'total' also spells the Total column, which the program does not use
    assert f["constants_used"] == 1 and f["named_columns"] == 2 and f["named_columns_unused"] == 1
    assert f["steps"] == 2 and f["log_rows"] == pytest.approx(np.log1p(table.n_rows))
    none = confidence_features(float("nan"), None, None, None, [])
    assert none[0] == pytest.approx(np.log(1e-3 / (1 - 1e-3))) and not none[1:].any()


def test_report_only_keeps_the_checkpoint_calibration(tmp_path, capsys):
    """--report-only reports how the checkpoint's own calibration does and writes nothing; without
    it the fit replaces the calibration in config.json."""
    import json

    from nqa.api import update_config
    from nqa.training.data import write_tiny_wtq
    from tiny_model import make_tiny_checkpoint
    from training.calibrate import main

    root = write_tiny_wtq(tmp_path / "wtq", n_tables=4)
    ckpt = make_tiny_checkpoint(tmp_path / "model")
    kept = {"xs": [0.0, 1.0], "ys": [0.1, 0.6], "threshold": 0.3}
    update_config(ckpt, "calibration", kept)
    before = (ckpt / "config.json").read_bytes()
    args = ["--model", str(ckpt), "--dev", "tiny-dev", "--wtq-root", str(root)]
    assert main(args + ["--report-only"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (ckpt / "config.json").read_bytes() == before
    assert report["method"] == "kept" and report["threshold"] == 0.3 and 0.0 <= report["ece"] <= 1.0
    assert main(args) == 0
    assert json.loads((ckpt / "config.json").read_text())["calibration"] != kept
