"""A table in an engine as the model sees it: each column's distinct cells, typed in Python.

The model reads headers, column kinds, which cells match the question, whether a column is a yes/no
flag, and the share of rows with a value (nqa/features.py with_rows=False, nqa/feasibility.py,
nqa/unsure.py). All of these depend on a column's *distinct* cells and how often each occurs, never on
row positions. So a column is profiled once by one engine query,

    SELECT col, COUNT(*) FROM table GROUP BY col ORDER BY COUNT(*) DESC LIMIT cap + 1

and its distinct values are typed here with the very functions `load_table` uses (nqa.table), giving
the same kinds, flags and matches as the in-memory path. The result is a `ProfileTable`: an ordinary
`nqa.table.Table` whose "rows" are distinct cells (each column padded to one length by repeating a
cell with count 0, which changes no "does some cell..." fact) with `Column.counts` holding the row
counts, so the model and the question parser run on it unchanged.

Past the cap (`PROFILE_CAP` distinct values, env NQA_PROFILE_CAP), a column is *incomplete*: the
profile keeps its most frequent values (from the first `SAMPLE_ROWS` rows when even counting them
exactly is too dear), its kind comes from those, and for each question the engine is asked for the
cells that contain the question's words or equal its numbers (`question_table`), up to `EXTRA_SLOTS`
of them; those cells join the profile for that question only. What this misses, past the cap: a
question span made only of stop words ('The Who') is not found, and when more than EXTRA_SLOTS cells
contain a word the shortest are kept.
"""
from __future__ import annotations

import decimal
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlglot import exp

from nqa.sources.base import EngineSource, SourceColumn, SourceQueryError, column
from nqa.table import Column, Table, make_column, unique_names

PROFILE_CAP = int(os.environ.get("NQA_PROFILE_CAP", 100_000))
SAMPLE_ROWS = 1_000_000  # a column estimated past the cap is profiled from this many rows
EXTRA_SLOTS = 512  # cells of incomplete columns that match one question
_ESTIMATE_SLACK = 1.25  # distinct-count estimates (HyperLogLog) err by a few percent


# ---------------------------------------------------------------------------------------------
# one value as text: exactly what nqa.table_io.dataframe_cells writes for a DataFrame cell


def value_text(v: Any) -> str:
    """The cell text of an engine value, as the in-memory path writes the same value read through
    pandas: NULL and NaN '', integers as digits, floats shortest ('3', '2.5', 'inf'), dates ISO,
    timestamps ISO (date only at midnight), booleans 'True'/'False', bytes as UTF-8."""
    from nqa.table_io import _float_text, _object_text

    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return "" if math.isnan(v) else _float_text(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, decimal.Decimal):
        return "" if v.is_nan() else str(v)
    return _object_text(v)


def value_number(v: Any) -> float:
    """The exact number of a numeric engine value (NaN for anything else, inf, NaN)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return math.nan
    x = float(v)
    return x if math.isfinite(x) else math.nan


# ---------------------------------------------------------------------------------------------
# profiles


@dataclass
class ColumnProfile:
    source: SourceColumn
    values: list[Any]  # distinct engine values, most frequent first (None: NULL)
    counts: np.ndarray  # (len(values),) int64 rows holding each
    complete: bool  # False: more distinct values than the cap; `values` are the most frequent ones
    estimate: int = 0  # the engine's distinct-count estimate
    # derived data kept with the profile (nqa.sources.relation's typed mappings), built once
    cache: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass
class ProfileTable(Table):
    """A Table of distinct cells standing for a table kept in an engine (see the module docstring).
    `n_rows` is the profile's length; `source_rows` the engine table's row count. The exact executor
    must never run on it (its rows are not the table's rows): nqa.sources.answer runs SQL instead."""

    source_rows: int = 0
    profiles: list[ColumnProfile] = field(default_factory=list, repr=False, compare=False)
    n_distinct: list[int] = field(default_factory=list, repr=False, compare=False)  # profiled entries per column

    def __repr__(self) -> str:
        return (f"ProfileTable({self.source!r}, {self.source_rows:,} rows x {self.n_cols} cols: "
                f"{self.column_names[:8]})")


def key_expression(col: SourceColumn, table: str | None = None) -> exp.Expr:
    """How a column is grouped and joined: itself, or its text when its type is one nqa does not type
    (lists, structs, JSON...: read as their text)."""
    c = column(col.name, table)
    return exp.cast(c, "TEXT") if col.kind == "other" else c


def profile_source(source: EngineSource, cap: int = PROFILE_CAP, progress=None) -> tuple[ProfileTable, float]:
    """Profile every column (one estimate scan, then one GROUP BY per column); (table, seconds).
    `progress(fraction, message)` is called as columns are done (the app shows it)."""
    start = time.perf_counter()
    cols = source.columns()
    if not cols:
        raise SourceQueryError(f"{source.name}: the table has no columns")
    if progress:
        progress(0.0, f"counting rows and distinct values of {len(cols)} columns")
    n_rows, estimates = source.distinct_estimates([c.name for c in cols])
    profiles = []
    for j, (col, est) in enumerate(zip(cols, estimates)):
        if progress:
            progress((j + 0.5) / (len(cols) + 1), f"indexing column {col.name!r} ({est:,} distinct values)")
        profiles.append(_profile_column(source, col, est, cap))
    table = build_profile_table(source.name, n_rows, profiles)
    if progress:
        progress(1.0, f"indexed {n_rows:,} rows")
    return table, time.perf_counter() - start


def _profile_column(source: EngineSource, col: SourceColumn, estimate: int, cap: int) -> ColumnProfile:
    key = key_expression(col)
    count = exp.Count(this=exp.Star())
    relation: exp.Expr = source.relation()
    if estimate > cap * _ESTIMATE_SLACK:  # too many to count exactly: the most frequent of a sample
        relation = exp.select(exp.Star()).from_(relation).limit(SAMPLE_ROWS).subquery("nqa_sample")
    q = (exp.select(exp.alias_(key, "v", quoted=True), exp.alias_(count, "n", quoted=True)).from_(relation)
         .group_by(key.copy()).order_by(exp.Ordered(this=count.copy(), desc=True)).limit(cap + 1))
    try:
        rows = source.query(q)
    except SourceQueryError as e:
        raise SourceQueryError(f"{source.name}: column {col.name!r} ({col.engine_type or col.kind}) cannot be "
                               f"grouped or compared by the engine: {e}") from None
    complete = len(rows) <= cap and estimate <= cap * _ESTIMATE_SLACK
    rows = rows[:cap]
    return ColumnProfile(col, [r[0] for r in rows], np.array([int(r[1]) for r in rows], dtype=np.int64),
                         complete, estimate)


def build_profile_table(name: str, n_rows: int, profiles: list[ColumnProfile]) -> ProfileTable:
    """The ProfileTable of these column profiles (typing each distinct value once)."""
    lengths = [max(len(p.values), 1) for p in profiles]
    extra = EXTRA_SLOTS if any(not p.complete for p in profiles) else 0
    width = max(lengths) + extra
    names = unique_names([p.source.name for p in profiles])
    columns = [_typed_column(names[j], p.source.name, p.values, p.counts, width) for j, p in enumerate(profiles)]
    return ProfileTable(columns, name, source_rows=n_rows, profiles=profiles, n_distinct=lengths)


def _typed_column(name: str, raw_name: str, values: list[Any], counts: np.ndarray, width: int,
                  kind: str | None = None) -> Column:
    """A Column of `values` (typed like load_table types a DataFrame's cells), padded to `width` by
    repeating the first value with count 0."""
    if not values:
        values, counts = [None], np.zeros(1, dtype=np.int64)
    pad = width - len(values)
    vals = list(values) + [values[0]] * pad
    weights = np.concatenate([counts, np.zeros(pad, dtype=np.int64)])
    texts = [value_text(v) for v in vals]
    numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
    numbers = np.array([value_number(v) for v in vals], dtype=np.float64) if numeric else None
    col = make_column(name, raw_name, texts, numbers, weights)
    if kind is not None:
        col.kind = kind
    return col


# ---------------------------------------------------------------------------------------------
# per question: the cells of incomplete columns that match it


def question_table(source: EngineSource, base: ProfileTable, question: str) -> ProfileTable:
    """`base`, or (when some column is past the cap) a copy where each incomplete column also holds
    the cells the engine finds for this question's words and numbers."""
    incomplete = [j for j, p in enumerate(base.profiles) if not p.complete]
    if not incomplete:
        return base
    words, numbers = question_terms(question)
    columns = list(base.columns)
    for j in incomplete:
        prof = base.profiles[j]
        found = _matching_cells(source, prof.source, words, numbers)
        known = set(prof.values)
        extra = [v for v in dict.fromkeys(found) if v not in known][:EXTRA_SLOTS]
        if not extra:
            continue
        width = base.n_rows
        values = prof.values + extra
        counts = np.concatenate([prof.counts, np.zeros(len(extra), dtype=np.int64)])
        columns[j] = _typed_column(base.columns[j].name, prof.source.name, values, counts, width,
                                   kind=base.columns[j].kind)
    return ProfileTable(columns, base.source, source_rows=base.source_rows, profiles=base.profiles,
                        n_distinct=base.n_distinct)


def question_terms(question: str) -> tuple[list[str], list[float]]:
    """(words that may name a cell, numbers) of a question: normalised non-stop words, and the
    numbers nqa.question reads (digits, number words, dates' years)."""
    from nqa.question import STOP_WORDS, parse_question
    from nqa.table import normalize_text

    words = [w for w in dict.fromkeys(normalize_text(question).split()) if w not in STOP_WORDS]
    numbers = []
    for c in parse_question(question).constants:
        if c.number is not None and c.kind == "number":
            numbers.append(float(c.number))
    return words, list(dict.fromkeys(numbers))


def _matching_cells(source: EngineSource, col: SourceColumn, words: list[str], numbers: list[float]) -> list[Any]:
    """Distinct cells of `col` containing one of `words` (as a substring of the lower-cased text: a
    superset of nqa's token match; shortest first) or equal to one of `numbers`."""
    c = key_expression(col)
    found: list[Any] = []
    if col.kind in ("integer", "float", "decimal"):
        if numbers:
            equal = exp.In(this=exp.cast(c, "DOUBLE"), expressions=[exp.Literal.number(repr(x)) for x in numbers])
            q = exp.select(c).from_(source.relation()).where(equal).group_by(c.copy()).limit(EXTRA_SLOTS)
            found += [r[0] for r in source.query(q)]
        return found
    per_word = max(16, EXTRA_SLOTS // max(len(words), 1))
    lowered = source.lower_text(exp.cast(c, "TEXT"))
    for w in words:
        cond = exp.Like(this=lowered.copy(), expression=exp.Literal.string(f"%{_escape_like(w)}%"))
        q = (exp.select(c).from_(source.relation()).where(cond).group_by(c.copy())
             .order_by(exp.Length(this=exp.cast(c.copy(), "TEXT"))).limit(per_word))
        found += [r[0] for r in source.query(q)]
    return found


def _escape_like(w: str) -> str:
    return w.replace("\\", "").replace("%", "").replace("_", "")
