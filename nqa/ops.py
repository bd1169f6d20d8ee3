"""The operation set: exact (numpy, inference) and soft (torch, training) versions side by side.

docs/ops.md is the contract. The exact version of each op must equal its soft version at one-hot
attention (tests/test_ops.py checks this on random tables).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def exact_filter_flag(s: np.ndarray, flags: np.ndarray, want: bool) -> np.ndarray:
    """filter_true / filter_false: rows of s whose flag cell (Column.flags) says yes / no."""
    return s & (flags == (1 if want else 0))


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


def exact_terminal(op: str, s: np.ndarray, values: np.ndarray | None, raw: list[str] | None,
                   texts: list[str] | None = None) -> tuple[list[str], float | None, list[int]]:
    """Returns (answer strings, numeric result or None, rows used)."""
    rows = np.flatnonzero(s)
    if op == "count":
        return [format_number(float(len(rows)))], float(len(rows)), rows.tolist()
    if op == "share":  # the selected rows as a percentage of all rows
        if len(s) == 0:
            return [], None, []
        x = 100.0 * len(rows) / len(s)
        return [format_number(x)], x, rows.tolist()
    if op == "count_distinct":
        assert texts is not None
        used = [int(i) for i in rows if texts[i]]
        x = float(len({texts[i] for i in used}))
        return [format_number(x)], x, used
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
    aggregate: dict[str, Callable[[np.ndarray], Any]] = {"sum": _sum_in_order, "avg": _mean_in_order,
                                                         "max": np.max, "min": np.min}
    x = float(aggregate[op](v))
    return [format_number(x)], x, valued.tolist()


def _sum_in_order(v: np.ndarray) -> float:
    """The sum added up in row order, one value at a time, as SQLite's and DuckDB's SUM do it, so
    the answer is the double the SQL returns (numpy's pairwise sum may differ in the last bit)."""
    return float(np.cumsum(v)[-1])


def _mean_in_order(v: np.ndarray) -> float:
    """AVG as the SQL engines compute it: the in-order sum divided by the count."""
    return _sum_in_order(v) / len(v)


# =============================================================================================
# Soft ops (torch, training). Batched over B examples padded to R rows, C columns, K constants.
#
#   s          (B, R)     row selection in [0, 1], 0 on padded rows
#   values     (B, R, C)  float64 Column.values with NaN replaced by 0 (valid says which are real)
#   valid      (B, R, C)  bool, the cell has a value (non-NaN)
#   nonempty   (B, R, C)  bool, the cell's normalised text is non-empty (mfe ignores empty cells)
#   groups     (B, R, C)  long, index of the first row of the column with the same normalised text
#   match      (B, K, R, C) float, nqa.question.match_matrix (filter_eq's predicate)
#
# Every op runs for all columns (and constants) at once; `soft_select_step` mixes them with the
# op / column / constant attention. At one-hot attention each equals its exact twin above
# (tests/test_ops.py checks every op on random tables). Nothing here builds an R x R tensor: the
# superlatives sort once per column and use a cumulative product, O(R log R).
# =============================================================================================

from dataclasses import dataclass as _dataclass  # noqa: E402

import torch  # noqa: E402  (the exact section above stays numpy-only)

from nqa.program import SELECT_OPS, TERMINAL_OPS  # noqa: E402


@_dataclass
class SoftTable:
    """The table side of a padded batch, as the soft ops read it (built by nqa.features.collate)."""

    values: torch.Tensor  # (B, R, C) float64, 0 where not valid
    valid: torch.Tensor  # (B, R, C) bool
    nonempty: torch.Tensor  # (B, R, C) bool
    groups: torch.Tensor  # (B, R, C) long in [0, R)
    row_mask: torch.Tensor  # (B, R) bool, real rows
    match: torch.Tensor  # (B, K, R, C) float
    const_number: torch.Tensor  # (B, K) float64, the constant's number (0 for text constants)
    const_is_number: torch.Tensor  # (B, K) bool
    const_is_text: torch.Tensor  # (B, K) bool
    # yes/no flags (Column.flags == 1 / == 0) and the year comparisons of date columns
    truthy: torch.Tensor  # (B, R, C) bool
    falsy: torch.Tensor  # (B, R, C) bool
    years: torch.Tensor  # (B, R, C) float64 Column.years, 0 where none
    year_valid: torch.Tensor  # (B, R, C) bool
    col_is_date: torch.Tensor  # (B, C) bool: a year constant compares with this column's years
    const_is_year: torch.Tensor  # (B, K) bool (Constant.is_year)

    def to(self, device) -> SoftTable:
        return SoftTable(**{k: v.to(device) for k, v in self.__dict__.items()})


def _exclusive_cumprod(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """out_i = Π_{j<i} x_j along dim (1 at i = 0)."""
    ones = torch.ones_like(x.narrow(dim, 0, 1))
    return torch.cumprod(torch.cat([ones, x.narrow(dim, 0, x.shape[dim] - 1)], dim=dim), dim=dim)


def soft_reset(row_mask: torch.Tensor) -> torch.Tensor:
    """(B, R) -> (B, R): all real rows."""
    return row_mask.float()


def soft_filter_eq(s: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
    """s (B, R), match (B, K, R, C) -> (B, K, R, C) = s · match."""
    return s[:, None, :, None] * match


def soft_filter_any(s: torch.Tensor, match: torch.Tensor, const_is_text: torch.Tensor) -> torch.Tensor:
    """-> (B, R, C) = s · max over text constants of match (no text constant: no row)."""
    B, K, R, C = match.shape
    if K == 0:
        return s.new_zeros(B, R, C)
    m = (match * const_is_text[:, :, None, None].to(match.dtype)).amax(dim=1)
    return s[:, :, None] * m


_SOFT_COMPARE = {
    "filter_gt": torch.gt, "filter_ge": torch.ge, "filter_lt": torch.lt, "filter_le": torch.le,
}


def soft_compare(op: str, s: torch.Tensor, t: SoftTable) -> torch.Tensor:
    """-> (B, K, R, C) = s · [value op constant]; invalid cells and text constants never pass. A year
    constant against a date column compares with the cell's year ('after 2019': year > 2019)."""
    c = t.const_number[:, :, None, None]
    ind = _SOFT_COMPARE[op](t.values[:, None], c) & t.valid[:, None]
    by_year = _SOFT_COMPARE[op](t.years[:, None], c) & t.year_valid[:, None]
    year_mode = (t.const_is_year[:, :, None] & t.col_is_date[:, None, :])[:, :, None, :]  # (B, K, 1, C)
    ind = torch.where(year_mode, by_year, ind) & t.const_is_number[:, :, None, None]
    return s[:, None, :, None] * ind.to(s.dtype)


def soft_filter_flag(s: torch.Tensor, flag: torch.Tensor) -> torch.Tensor:
    """filter_true / filter_false: s (B, R), flag (B, R, C) bool -> (B, R, C) = s · flag."""
    return s[:, :, None] * flag.to(s.dtype)


def soft_count_distinct(s: torch.Tensor, groups: torch.Tensor, nonempty: torch.Tensor) -> torch.Tensor:
    """-> (B, C): Σ over distinct non-empty values g of P(some row of g is selected) = 1 − Π_{i∈g}(1 − s_i).
    At 0/1 selections it is the number of distinct values among the selected rows."""
    w = s[:, :, None] * nonempty.to(s.dtype)
    none = torch.ones_like(w).scatter_reduce(1, groups, 1 - w, reduce="prod", include_self=True)
    return (1 - none).sum(1)  # a position that starts no group keeps its 1: adds 0


def soft_argmax(s: torch.Tensor, values: torch.Tensor, valid: torch.Tensor, largest: bool = True) -> torch.Tensor:
    """s (B, R), values/valid (B, R, C) -> (B, R, C): w_i · Π_{j: v_j > v_i} (1 − w_j), w = s · valid.

    Ties are all kept (a row is suppressed only by strictly better rows). Sort once per column, then
    an exclusive cumulative product in sorted order, read at the start of each tie group.
    """
    w = s[:, :, None] * valid.to(s.dtype)  # (B, R, C)
    key = values if largest else -values
    key = key.masked_fill(~valid, float("-inf"))
    key_sorted, order = key.sort(dim=1, descending=True, stable=True)
    w_sorted = w.gather(1, order)
    before = _exclusive_cumprod(1 - w_sorted, dim=1)  # Π over rows earlier in sorted order
    R = key.shape[1]
    pos = torch.arange(R, device=s.device)[None, :, None].expand_as(key_sorted)
    new_group = torch.ones_like(key_sorted, dtype=torch.bool)
    new_group[:, 1:] = key_sorted[:, 1:] != key_sorted[:, :-1]
    start = torch.where(new_group, pos, torch.zeros_like(pos)).cummax(dim=1).values  # tie group start
    out_sorted = w_sorted * before.gather(1, start)
    return torch.zeros_like(w).scatter(1, order, out_sorted)


def soft_first(s: torch.Tensor, last: bool = False) -> torch.Tensor:
    """s (B, R, ...) -> s_i · Π_{j<i} (1 − s_j) along rows (last: j > i)."""
    if last:
        return soft_first(s.flip(1)).flip(1)
    return s * _exclusive_cumprod(1 - s, dim=1)


def soft_shift(s: torch.Tensor, direction: int, row_mask: torch.Tensor) -> torch.Tensor:
    """previous (direction −1): out_i = s_{i+1}; next (+1): out_i = s_{i−1}; not circular. (B, R)."""
    out = torch.zeros_like(s)
    if s.shape[1] > 1:
        if direction < 0:
            out[:, :-1] = s[:, 1:]
        else:
            out[:, 1:] = s[:, :-1]
    return out * row_mask.to(s.dtype)


def soft_mfe(s: torch.Tensor, groups: torch.Tensor, nonempty: torch.Tensor) -> torch.Tensor:
    """-> (B, R, C): the rows of s holding the most frequent (soft count) non-empty value of each column.

    count_g = Σ_{i in g} s_i. Ties between values go to the one whose first selected row comes first
    (the exact rule), so the sort key is count · (R + 1) − first_row: equal within a group, distinct
    between groups. The key carries no gradient; the gradient flows through s in soft_argmax.
    """
    B, R, C = groups.shape
    w = s[:, :, None] * nonempty.to(s.dtype)  # (B, R, C)
    counts = torch.zeros_like(w).scatter_add(1, groups, w)  # (B, R(groups), C)
    pos = torch.arange(R, device=s.device)[None, :, None].expand(B, R, C)
    chosen = torch.where(w > 0.5, pos, torch.full_like(pos, R))
    first = torch.full_like(pos, R).scatter_reduce(1, groups, chosen, reduce="amin", include_self=True)
    key = counts.detach().to(torch.float64).gather(1, groups) * (R + 1) - first.gather(1, groups).to(torch.float64)
    return soft_argmax(s, key, nonempty & (w > 0), largest=True)


def soft_select_all(s: torch.Tensor, t: SoftTable) -> dict[str, torch.Tensor]:
    """Every selection op on s: (B, R) for ops without a column, (B, R, C) with a column,
    (B, K, R, C) with a column and a constant."""
    values_valid = (t.values, t.valid)
    return {
        "reset": soft_reset(t.row_mask).expand_as(s),
        "filter_eq": soft_filter_eq(s, t.match),
        "filter_any": soft_filter_any(s, t.match, t.const_is_text),
        "filter_gt": soft_compare("filter_gt", s, t),
        "filter_ge": soft_compare("filter_ge", s, t),
        "filter_lt": soft_compare("filter_lt", s, t),
        "filter_le": soft_compare("filter_le", s, t),
        "argmax": soft_argmax(s, *values_valid, largest=True),
        "argmin": soft_argmax(s, *values_valid, largest=False),
        "first": soft_first(s),
        "last": soft_first(s, last=True),
        "previous": soft_shift(s, -1, t.row_mask),
        "next": soft_shift(s, +1, t.row_mask),
        "mfe": soft_mfe(s, t.groups, t.nonempty),
        "filter_true": soft_filter_flag(s, t.truthy),
        "filter_false": soft_filter_flag(s, t.falsy),
    }


def soft_select_step(s: torch.Tensor, t: SoftTable, op_w: torch.Tensor, col_w: torch.Tensor,
                     const_w: torch.Tensor) -> torch.Tensor:
    """One soft selection step: every op's result mixed by the attention.

    s (B, R), op_w (B, len(SELECT_OPS)), col_w (B, C) or per op (B, len(SELECT_OPS), C),
    const_w (B, K) -> (B, R).
    """
    outs = soft_select_all(s, t)
    new = torch.zeros_like(s)
    for o, name in enumerate(SELECT_OPS):
        x = outs[name]
        cw = col_w[:, o] if col_w.dim() == 3 else col_w
        if x.dim() == 4:  # (B, K, R, C): mix constants and columns
            x = torch.einsum("bkrc,bk,bc->br", x, const_w, cw)
        elif x.dim() == 3:  # (B, R, C)
            x = torch.einsum("brc,bc->br", x, cw)
        new = new + op_w[:, o:o + 1] * x
    return new


def soft_terminal_scalars(s: torch.Tensor, t: SoftTable) -> torch.Tensor:
    """The numeric terminal ops for every column: (B, len(TERMINAL_OPS) - 1, C) in TERMINAL_OPS order
    without print (count is the same for every column). Empty cases give 0."""
    v = t.values.to(s.dtype)  # (B, R, C)
    valid = t.valid.to(s.dtype)
    w = s[:, :, None] * valid  # (B, R, C)
    count = s.sum(1, keepdim=True).expand(-1, v.shape[2])  # (B, C)
    total = (w * v).sum(1)
    n_valued = w.sum(1)
    avg = total / n_valued.clamp_min(1e-6)
    amax = soft_argmax(s, t.values, t.valid, largest=True)
    amin = soft_argmax(s, t.values, t.valid, largest=False)
    vmax = (amax * v).sum(1) / amax.sum(1).clamp_min(1e-6)
    vmin = (amin * v).sum(1) / amin.sum(1).clamp_min(1e-6)
    first = soft_first(w)
    last = soft_first(w, last=True)
    diff = ((first * v).sum(1) - (last * v).sum(1)).abs()
    distinct = soft_count_distinct(s, t.groups, t.nonempty)
    n_rows = t.row_mask.to(s.dtype).sum(1, keepdim=True).clamp_min(1)
    share = 100 * count / n_rows
    by_op = {"count": count, "sum": total, "avg": avg, "max": vmax, "min": vmin, "difference": diff,
             "count_distinct": distinct, "share": share}
    return torch.stack([by_op[op] for op in TERMINAL_OPS if op != "print"], dim=1)


def soft_lookup(s: torch.Tensor, col_w: torch.Tensor) -> torch.Tensor:
    """print: lookup (B, R, C) = s_i · α_col(j)."""
    return s[:, :, None] * col_w[:, None, :]
