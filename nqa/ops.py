"""The operation set: exact (numpy, inference) and soft (torch, training) versions side by side.

docs/ops.md is the contract. The exact version of each op must equal its soft version at one-hot
attention (tests/test_ops.py checks this on random tables).
"""
from __future__ import annotations

import numpy as np

from nqa.program import format_number

# =============================================================================================
# Exact ops. A selection is a bool array (rows,). `values` is Column.values (float, NaN = none),
# `texts` is Column.text (normalised), `match` a bool (rows,) column of nqa.question.match_matrix.
# =============================================================================================


def exact_reset(s: np.ndarray) -> np.ndarray:
    return np.ones_like(s, dtype=bool)


def exact_filter_eq(s: np.ndarray, match: np.ndarray) -> np.ndarray:
    return s & match


def exact_filter_any(s: np.ndarray, text_matches: np.ndarray) -> np.ndarray:
    """text_matches: (text constants, rows) bool; no text constants selects nothing."""
    if text_matches.shape[0] == 0:
        return np.zeros_like(s, dtype=bool)
    return s & text_matches.any(axis=0)


_COMPARE = {
    "filter_gt": np.greater, "filter_ge": np.greater_equal,
    "filter_lt": np.less, "filter_le": np.less_equal,
}


def exact_compare(op: str, s: np.ndarray, values: np.ndarray, number: float | None) -> np.ndarray:
    if number is None:
        return np.zeros_like(s, dtype=bool)
    with np.errstate(invalid="ignore"):
        return s & _COMPARE[op](values, number)  # NaN compares False


def exact_argmax(s: np.ndarray, values: np.ndarray, largest: bool = True) -> np.ndarray:
    valid = s & ~np.isnan(values)
    if not valid.any():
        return np.zeros_like(s, dtype=bool)
    best = values[valid].max() if largest else values[valid].min()
    return valid & (values == best)


def exact_first(s: np.ndarray, last: bool = False) -> np.ndarray:
    out = np.zeros_like(s, dtype=bool)
    idx = np.flatnonzero(s)
    if len(idx):
        out[idx[-1] if last else idx[0]] = True
    return out


def exact_shift(s: np.ndarray, direction: int) -> np.ndarray:
    """previous: direction=-1 (row i selected when i+1 was); next: direction=+1 (not circular)."""
    out = np.zeros_like(s, dtype=bool)
    if direction < 0:
        out[:-1] = s[1:]
    else:
        out[1:] = s[:-1]
    return out


def exact_mfe(s: np.ndarray, texts: list[str]) -> np.ndarray:
    counts: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for i in np.flatnonzero(s):
        t = texts[i]
        if not t:
            continue
        counts[t] = counts.get(t, 0) + 1
        first_seen.setdefault(t, int(i))
    if not counts:
        return np.zeros_like(s, dtype=bool)
    best = min(counts, key=lambda t: (-counts[t], first_seen[t]))
    return s & np.array([t == best for t in texts], dtype=bool)


def exact_terminal(op: str, s: np.ndarray, values: np.ndarray | None, raw: list[str] | None
                   ) -> tuple[list[str], float | None, list[int]]:
    """Returns (answer strings, numeric result or None, rows used)."""
    rows = np.flatnonzero(s)
    if op == "count":
        return [format_number(float(len(rows)))], float(len(rows)), rows.tolist()
    if op == "print":
        assert raw is not None
        return [raw[i] for i in rows], None, rows.tolist()
    assert values is not None
    valued = rows[~np.isnan(values[rows])]
    if op == "difference":
        if len(valued) < 2:
            return [], None, valued.tolist()
        x = abs(float(values[valued[0]]) - float(values[valued[-1]]))
        return [format_number(x)], x, [int(valued[0]), int(valued[-1])]
    if len(valued) == 0:
        return [], None, []
    v = values[valued]
    x = float({"sum": np.sum, "avg": np.mean, "max": np.max, "min": np.min}[op](v))
    return [format_number(x)], x, valued.tolist()
