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
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlglot import exp

from nqa.sources.base import EngineSource, SourceColumn, SourceQueryError, column
from nqa.table import Column, Table, make_column, unique_names

if TYPE_CHECKING:
    from nqa.program import Program
    from nqa.question import Question

PROFILE_CAP = int(os.environ.get("NQA_PROFILE_CAP", 100_000))  # distinct cells held per text column
# Numbers, dates and timestamps need no distinct list for exactness: their SQL forms are the engine's
# own casts and date parts (nqa.sources.relation), and a question's numbers are looked up. So they are
# profiled in full only up to this many distinct values.
NUMERIC_CAP = int(os.environ.get("NQA_PROFILE_NUMERIC_CAP", 2_000))
SAMPLE_CAP = 10_000  # values kept of a column past its cap (its kind is read from them)
SAMPLE_ROWS = 1_000_000  # a column estimated far past its cap is sampled from this many rows
EXTRA_SLOTS = 512  # cells of incomplete columns that match one question
_ESTIMATE_SLACK = 1.25  # distinct-count estimates (HyperLogLog) err by a few percent
NUMERIC_KINDS = ("integer", "float", "decimal", "date", "timestamp")


def column_cap(col: SourceColumn, cap: int = PROFILE_CAP) -> int:
    return min(cap, NUMERIC_CAP) if col.kind in NUMERIC_KINDS else cap


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
    `n_rows` is the profile's length; `source_rows` the engine table's count of records (its closing
    summary rows, `footer`, left out as load_table leaves them out). The exact executor
    must never run on it (its rows are not the table's rows): nqa.sources.answer runs SQL instead."""

    source_rows: int = 0
    profiles: list[ColumnProfile] = field(default_factory=list, repr=False, compare=False)
    n_distinct: list[int] = field(default_factory=list, repr=False, compare=False)  # profiled entries per column
    engine: EngineSource | None = field(default=None, repr=False, compare=False)  # where the rows are

    def selects_nothing(self, program: Program, question: Question | None) -> bool:
        """Whether the program's selection steps leave no row, asked of the engine (decoding checks
        this where the in-memory path runs the exact executor: nqa.decode._selects_nothing)."""
        from nqa.program import Program, Step
        from nqa.sources.answer import run_program

        if self.engine is None:
            raise SourceQueryError(f"{self.source}: this profile is not connected to its engine")
        ran = run_program(self.engine, self, Program(list(program.selection_steps) + [Step("count")]), question)
        return ran is None or ran.values == ["0"]

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
    # Closing summary rows ('Total') are left out of every query from here on, as load_table leaves
    # them out (looked for afresh: the table may have changed since the source was opened).
    footer = source.find_footer()
    try:
        n_rows, estimates = source.distinct_estimates([c.name for c in cols])
    except SourceQueryError as e:
        raise _column_error(source, cols, e) from None
    profiles = []
    for j, (col, est) in enumerate(zip(cols, estimates)):
        if progress:
            progress((j + 0.5) / (len(cols) + 1), f"indexing column {col.name!r} (~{est:,} distinct values)")
        profiles.append(_profile_column(source, col, est, column_cap(col, cap)))
    incomplete = [p for p in profiles if not p.complete]
    if incomplete:
        _weigh_samples(source, incomplete, n_rows)
        for p in incomplete:
            source.prepare_lookup(p.source)
    table = build_profile_table(source.name, n_rows, profiles, footer)
    table.engine = source
    if progress:
        progress(1.0, f"indexed {n_rows:,} rows")
    return table, time.perf_counter() - start


def _column_error(source: EngineSource, cols: list[SourceColumn], error: SourceQueryError) -> SourceQueryError:
    """The error naming the column the engine cannot read or compare (each probed alone)."""
    for col in cols:
        try:
            source.distinct_estimates([col.name])
        except SourceQueryError as e:
            return SourceQueryError(f"{source.name}: column {col.name!r} ({col.engine_type or col.kind}): the engine "
                                    f"cannot read or compare its values ({e})")
    return error


def _profile_column(source: EngineSource, col: SourceColumn, estimate: int, cap: int) -> ColumnProfile:
    """The column's distinct values with their counts: all of them (complete) when at most `cap`,
    else the SAMPLE_CAP most frequent (of the first SAMPLE_ROWS rows when far past the cap)."""
    key = key_expression(col)
    count = exp.Count(this=exp.Star())
    relation: exp.Expr = source.records()
    far = estimate > cap * _ESTIMATE_SLACK
    if far:  # counting every distinct value would cost more than the profile is worth
        relation = exp.select(exp.Star()).from_(relation).limit(SAMPLE_ROWS).subquery("nqa_sample")
    keep = SAMPLE_CAP if far else cap + 1
    q = (exp.select(exp.alias_(key, "v", quoted=True), exp.alias_(count, "n", quoted=True)).from_(relation)
         .group_by(key.copy()).order_by(exp.Ordered(this=count.copy(), desc=True)).limit(keep))
    try:
        rows = source.query(q)
    except SourceQueryError as e:
        raise SourceQueryError(f"{source.name}: column {col.name!r} ({col.engine_type or col.kind}) cannot be "
                               f"grouped or compared by the engine: {e}") from None
    complete = not far and len(rows) <= cap
    if not complete:
        rows = rows[:SAMPLE_CAP]
    return ColumnProfile(col, [r[0] for r in rows], np.array([int(r[1]) for r in rows], dtype=np.int64),
                         complete, estimate)


def _weigh_samples(source: EngineSource, profiles: list[ColumnProfile], n_rows: int) -> None:
    """Scale a sampled column's counts to its true non-NULL count (one scan for all of them), so that
    the share of rows with a value is the table's, not the sample's."""
    counts = [exp.Count(this=column(p.source.name)) for p in profiles]
    row = source.query(exp.select(*counts).from_(source.records()))[0]
    for p, non_null in zip(profiles, row):
        is_null = np.array([v is None for v in p.values], dtype=bool)
        sampled = int(p.counts[~is_null].sum())
        if sampled:
            p.counts = np.where(is_null, 0, np.rint(p.counts * (int(non_null) / sampled))).astype(np.int64)
        if n_rows - int(non_null) > 0:
            if is_null.any():
                p.counts[np.flatnonzero(is_null)[0]] = n_rows - int(non_null)
            else:
                p.values.append(None)
                p.counts = np.append(p.counts, n_rows - int(non_null))


def build_profile_table(name: str, n_rows: int, profiles: list[ColumnProfile],
                        footer: list[list[str]] | None = None) -> ProfileTable:
    """The ProfileTable of these column profiles (typing each distinct value once); `footer`: the
    closing summary rows left out of the records (EngineSource.find_footer), as Table.footer."""
    lengths = [max(len(p.values), 1) for p in profiles]
    extra = EXTRA_SLOTS if any(not p.complete for p in profiles) else 0
    width = max(lengths) + extra
    names = unique_names([p.source.name for p in profiles])
    columns = [_typed_column(names[j], p.source.name, p.values, p.counts, width) for j, p in enumerate(profiles)]
    return ProfileTable(columns, name, footer=list(footer or []), source_rows=n_rows, profiles=profiles,
                        n_distinct=lengths)


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
    """`base`, or (when some column is past its cap) a copy where each incomplete column also holds
    the cells the engine finds for this question's words and numbers (typed once each; the base
    column's typed cells are reused, not typed again)."""
    incomplete = [j for j, p in enumerate(base.profiles) if not p.complete]
    if not incomplete:
        return base
    terms = question_terms(question)
    columns = list(base.columns)
    for j in incomplete:
        prof = base.profiles[j]
        known = prof.cache.get("known")
        if known is None:
            known = prof.cache["known"] = set(prof.values)
        extra = [v for v in dict.fromkeys(_matching_cells(source, prof.source, terms)) if v not in known]
        if extra:
            columns[j] = _with_extra(base.columns[j], len(prof.values), extra)
    return ProfileTable(columns, base.source, footer=base.footer, source_rows=base.source_rows,
                        profiles=base.profiles, n_distinct=base.n_distinct, engine=base.engine)


def _with_extra(col: Column, n: int, extra: list[Any]) -> Column:
    """`col` (its first n entries real, the rest padding) with `extra` cells in place of padding."""
    extra = extra[: len(col.raw) - n]
    typed = _typed_column(col.name, col.raw_name, extra, np.zeros(len(extra), dtype=np.int64), len(extra))
    k = n + len(extra)
    pad = len(col.raw) - k
    assert col.counts is not None

    def join(a: list, b: list) -> list:
        return a[:n] + b + a[:1] * pad

    numbers = np.concatenate([col.numbers[:n], typed.numbers, col.numbers[:1].repeat(pad)])
    out = Column(name=col.name, raw_name=col.raw_name, raw=join(col.raw, typed.raw), text=join(col.text, typed.text),
                 numbers=numbers, dates=join(col.dates, typed.dates), kind=col.kind,
                 counts=np.concatenate([col.counts[:n], typed.counts, np.zeros(pad, dtype=np.int64)]))
    return out


@dataclass(frozen=True)
class QuestionTerms:
    """What of a question may name a cell: normalised non-stop words, and the numbers, years and
    months nqa.question reads (digits, number words, dates)."""

    words: list[str]
    numbers: list[float]
    years: list[float]
    months: list[float]


def question_terms(question: str) -> QuestionTerms:
    from nqa.question import STOP_WORDS, parse_question
    from nqa.table import normalize_text

    words = [w for w in dict.fromkeys(normalize_text(question).split()) if w not in STOP_WORDS]
    numbers, years, months = [], [], []
    for c in parse_question(question).constants:
        if c.number is None:
            continue
        if c.kind == "month":
            months.append(float(c.number))
        elif c.kind == "number":
            numbers.append(float(c.number))
            if c.is_year:
                years.append(float(c.number))
    return QuestionTerms(words, list(dict.fromkeys(numbers)), list(dict.fromkeys(years)), list(dict.fromkeys(months)))


def _matching_cells(source: EngineSource, col: SourceColumn, terms: QuestionTerms) -> list[Any]:
    """Distinct cells of `col` that may match the question: numbers equal to one of its numbers;
    dates in one of its years or months; text containing one of its words as a token of its
    normalised text (in the engine's lookup relation, EngineSource.lookup_relation), else as a
    substring of its lower-cased text (a superset); shortest cells first."""
    lookup = source.lookup_relation(col)
    relation, c = (lookup, column("v")) if lookup is not None else (source.records(), key_expression(col))
    found: list[Any] = []

    def fetch(cond: exp.Expr, order: exp.Expr | None, limit: int) -> None:
        q = exp.select(c.copy()).from_(relation.copy()).where(cond).group_by(c.copy())
        if order is not None:
            q = q.order_by(order)
        found.extend(r[0] for r in source.query(q.limit(limit)))

    if col.kind in ("integer", "float", "decimal"):
        if terms.numbers:
            fetch(exp.In(this=exp.cast(c.copy(), "DOUBLE"),
                         expressions=[exp.Literal.number(repr(x)) for x in terms.numbers]), None, EXTRA_SLOTS)
        return found
    if col.kind in ("date", "timestamp"):
        parts = [exp.In(this=exp.Extract(this=exp.var(part), expression=c.copy()),
                        expressions=[exp.Literal.number(int(x)) for x in xs])
                 for part, xs in (("YEAR", terms.years), ("MONTH", terms.months)) if xs]
        if parts:
            fetch(exp.or_(*parts), None, EXTRA_SLOTS)
        return found
    per_word = max(16, EXTRA_SLOTS // max(len(terms.words), 1))
    if lookup is not None:  # the normalised text is there: search whole tokens, as nqa matches
        padded: exp.Expr = exp.DPipe(this=exp.DPipe(this=exp.Literal.string(" "), expression=column("norm")),
                                     expression=exp.Literal.string(" "))
        pattern = "% {} %"
    else:
        padded, pattern = source.lower_text(exp.cast(c.copy(), "TEXT")), "%{}%"
    for w in terms.words:
        cond = exp.Like(this=padded.copy(), expression=exp.Literal.string(pattern.format(_escape_like(w))))
        fetch(cond, exp.Length(this=exp.cast(c.copy(), "TEXT")), per_word)
    return found


def _escape_like(w: str) -> str:
    return w.replace("\\", "").replace("%", "").replace("_", "")
