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
