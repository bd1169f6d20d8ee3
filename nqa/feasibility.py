"""Which (op, column, constant) choices can mean anything on this table: decoding picks among those.

The controller scores an op, a column and a constant as three distributions; read independently, they
can pair "casa bella" with the category column although only supplier cells hold it, or a sum with a
text column. Such a step selects nothing (or adds up nothing) on every table the question could be
about, so decoding takes the most probable *feasible* choice instead (execution-guided decoding,
Wang et al. 2018), the way a person reading the table would. Training is unchanged: the masks only
restrict the argmax and the beam.

Feasible, for a selection op:
  filter_eq(col, k)                 some cell of col matches constant k (nqa.question.match_matrix)
  filter_gt/ge/lt/le(col, k)        k is a number and some cell of col has a value
  filter_any(col)                   some cell of col matches some text constant
  filter_true/filter_false(col)     col is a yes/no column (Column.flags) the question names: a
                                    word of its name (not a stop word; plurals as singulars) is in
                                    the question. "how many listings in total" is no question
                                    about the Sold column.
  argmax/argmin(col)                some cell of col has a value
  mfe(col)                          some cell of col is non-empty
  ops without a column              always
and for a terminal op: sum/avg/max/min/difference over a column with values, count_distinct over a
column with non-empty cells, print over any column, count and share always.
"""
from __future__ import annotations

import numpy as np

from nqa.program import SELECT_OPS, TERMINAL_OPS
from nqa.question import STOP_WORDS, Question, match_matrix, stem
from nqa.table import Table, normalize_text

_NUMERIC_TERMINALS = {"sum", "avg", "max", "min", "difference"}


def _column_facts(table: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(has a value, has a non-empty cell, is a yes/no column) per column, once per table."""
    facts = table._cache.get("feasibility_columns")
    if facts is None:
        facts = table._cache["feasibility_columns"] = (
            np.array([bool(np.isfinite(c.values).any()) for c in table.columns], dtype=bool),
            np.array([any(c.text) for c in table.columns], dtype=bool),
            np.array([c.is_flag for c in table.columns], dtype=bool))
    return facts


def feasible_steps(table: Table, question: Question, n_cols: int, n_const: int,
                   const_col: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(select (ops, n_cols, max(n_const, 1)), terminal (ops, n_cols)) bool masks. For ops without a
    column (or constant) every index is feasible: the decoder reads only index 0 of an absent argument.
    `const_col` (K, C): whether constant k matches a cell of column c, when already computed
    (nqa.features.Features.const_col); else from match_matrix."""
    C, K = table.n_cols, len(question.constants)
    if const_col is None:
        const_col = np.asarray(match_matrix(question, table).any(axis=1)) if K else np.zeros((0, C), bool)
    const_col = np.asarray(const_col, dtype=bool)[:K, :C]  # (K, C)
    valued, nonempty, flag = _column_facts(table)
    is_number = np.array([c.kind == "number" for c in question.constants], dtype=bool)
    is_text = np.array([c.kind == "text" for c in question.constants], dtype=bool)
    nk = max(n_const, 1)
    sel = np.ones((len(SELECT_OPS), n_cols, nk), dtype=bool)
    for o, op in enumerate(SELECT_OPS):
        m = np.zeros((n_cols, nk), dtype=bool)
        if op == "filter_eq":
            m[:C, :K] = const_col.T
        elif op in ("filter_gt", "filter_ge", "filter_lt", "filter_le"):
            m[:C, :K] = valued[:, None] & is_number[None, :]
        elif op == "filter_any":
            m[:C, :] = (const_col[is_text].any(axis=0) if is_text.any() else np.zeros(C, bool))[:, None]
        elif op in ("filter_true", "filter_false"):
            m[:C, :] = (flag & _named(table, question))[:, None]
        elif op in ("argmax", "argmin"):
            m[:C, :] = valued[:, None]
        elif op == "mfe":
            m[:C, :] = nonempty[:, None]
        else:
            continue
        sel[o] = m
    term = np.ones((len(TERMINAL_OPS), n_cols), dtype=bool)
    for o, op in enumerate(TERMINAL_OPS):
        if op in _NUMERIC_TERMINALS:
            term[o] = False
            term[o, :C] = valued
        elif op == "count_distinct":
            term[o] = False
            term[o, :C] = nonempty
    return sel, term


def _named(table: Table, question: Question) -> np.ndarray:
    """(C,) bool: a word of the column's name (not a stop word) is a word of the question, plurals
    read as singulars ('smokers' names 'smoker', 'in stock' names 'in_stock')."""
    names = table._cache.get("feasibility_name_stems")
    if names is None:  # once per table, as _column_facts
        names = table._cache["feasibility_name_stems"] = [
            frozenset(stem(w) for w in normalize_text(col.name.replace("_", " ")).split() if w not in STOP_WORDS)
            for col in table.columns]
    words = {stem(w) for w in normalize_text(question.text).split()}
    return np.array([not name.isdisjoint(words) for name in names], dtype=bool)


def masked(lp: np.ndarray, ok: np.ndarray | np.bool_) -> np.ndarray:
    """Log-probabilities with infeasible entries at -inf."""
    return np.where(ok, lp, np.float32(-np.inf))
