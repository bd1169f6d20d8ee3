"""Every answer as SQL: a `Program` as a sqlglot tree, a `Table` as a CREATE TABLE + INSERT script.

The SQL reproduces the exact executor (docs/ops.md) in SQLite and DuckDB and renders in any sqlglot
dialect. Each table column `c` becomes up to four SQL columns, so that every op is a plain comparison:

- `"c"`: the raw cell text (what `print` returns),
- `"c (norm)"`: the normalised text (`Column.text`; `filter_eq`/`filter_any` with text, `mfe`),
- `"c (number)"`: the cell's number (`Column.numbers`; `filter_eq` with a number), NULL when none,
- `"c (value)"`: `Column.values` (number, else date ordinal; comparisons, argmax, sum...), present only
  when some cell is a date without a number; otherwise `"c (number)"` plays both parts.

plus `row_id` (0-based row index): first/last, previous/next and print order go by it.

A program becomes one CTE per selection step (`step1`, `step2`... each holding the rows selected after
that step, with the step as a comment); the last step is folded into the final SELECT, so a one-step
program is a single SELECT. Every identifier and literal is a sqlglot node, never pasted text, so
hostile column names and cell values stay data.

>>> from nqa.table import table_from_rows
>>> from nqa.program import Program, Step
>>> t = table_from_rows(["Nation", "Gold"], [["France", "3"], ["Spain", "5"]])
>>> print(program_to_sql(Program([Step("argmax", 1), Step("print", 0)]), t))
/* step 1: argmax(Gold) */
/* answer: print(Nation) */
SELECT
  "Nation"
FROM "t"
WHERE
  "Gold (number)" = (
    SELECT
      MAX("Gold (number)")
    FROM "t"
  )
ORDER BY
  "row_id"
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from nqa.program import OPS_WITH_COLUMN, OPS_WITH_CONSTANT, SELECT_OPS, TERMINAL_OPS, Program, Step
from nqa.question import Constant, Question
from nqa.table import FALSE_WORDS, TRUE_WORDS, Column, Table

DIALECTS = ("sqlite", "duckdb", "postgres", "spark", "mysql", "bigquery")
INSERT_CHUNK_ROWS = 500  # rows per INSERT statement: keeps statements small for every engine's parser
MAX_NAME_BYTES = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1), the tightest of the usual engines


class SQLError(ValueError):
    """A program or table cannot be written as SQL (bad op, column or constant); the message says which."""


# =============================================================================================
# Schema: the SQL names of the table's columns
# =============================================================================================


@dataclass(frozen=True)
class ColumnNames:
    """The SQL columns standing for one table column (see the module docstring)."""

    raw: str
    norm: str
    number: str
    value: str  # == number when the column has no date-only cells
    year: str | None = None  # Column.years, on a date column only (a year in the question compares with it)
    month: str | None = None  # Column.months, when some cell is a date with a month


@dataclass(frozen=True)
class Schema:
    table: str
    row_id: str
    columns: tuple[ColumnNames, ...]


def schema_for(table: Table, table_name: str = "t") -> Schema:
    """SQL names for `table`, unique the way SQLite and DuckDB compare them (case-insensitively), and
    at most MAX_NAME_BYTES long (PostgreSQL cuts longer names, so two long helper names would clash).

    Raw columns keep the table's names where possible (a NUL is dropped, an empty name becomes
    'column N', a long one is cut); the row id and helper columns give way with ' (2)', ' (3)'... on
    a clash, and a helper column cuts its table column's name to keep its ' (norm)'... ending.
    """
    if not table_name or "\x00" in table_name:
        raise SQLError(f"the SQL table name must be non-empty text without NUL, got {table_name!r}")
    taken: set[str] = set()

    def claim(base: str, ending: str = "") -> str:
        name, k = _fit(base, ending), 2
        while name.casefold() in taken:
            name, k = _fit(base, f"{ending} ({k})"), k + 1
        taken.add(name.casefold())
        return name

    raws = [claim(c.name.replace("\x00", "") or f"column {j + 1}") for j, c in enumerate(table.columns)]
    row_id = claim("row_id")
    cols = []
    for raw, col in zip(raws, table.columns):
        norm, number = claim(raw, " (norm)"), claim(raw, " (number)")
        value = claim(raw, " (value)") if _values_differ(col.numbers, col.values) else number
        year = claim(raw, " (year)") if col.kind == "date" else None  # years compare on date columns only
        month = claim(raw, " (month)") if not np.isnan(col.months).all() else None
        cols.append(ColumnNames(raw, norm, number, value, year, month))
    return Schema(table_name, row_id, tuple(cols))


def _fit(base: str, ending: str) -> str:
    """base + ending in at most MAX_NAME_BYTES UTF-8 bytes, cutting base (never inside a character)."""
    room = MAX_NAME_BYTES - len(ending.encode("utf-8"))
    cut = base.encode("utf-8")[:max(room, 0)].decode("utf-8", errors="ignore")
    return cut + ending


def _values_differ(numbers: np.ndarray, values: np.ndarray) -> bool:
    both_nan = np.isnan(numbers) & np.isnan(values)
    return bool(np.any(~both_nan & (numbers != values)))


# =============================================================================================
# Literals and identifiers (all quoting is sqlglot's)
# =============================================================================================


def _ident(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def _col(name: str) -> exp.Column:
    return exp.Column(this=_ident(name))


def _table(name: str) -> exp.Table:
    return exp.Table(this=_ident(name))


def _text(s: str) -> exp.Expr:
    """A string literal; NUL (which no SQL text may hold) is spliced in as CHR(0)."""
    if "\x00" not in s:
        return exp.Literal.string(s)
    parts: list[exp.Expr] = []
    for k, piece in enumerate(s.split("\x00")):
        if k:
            parts.append(exp.Chr(expressions=[exp.Literal.number(0)]))
        if piece:
            parts.append(exp.Literal.string(piece))
    return parts[0] if len(parts) == 1 else exp.Concat(expressions=parts)


def _number(x: float | None, dialect: str = "sqlite") -> exp.Expr:
    """A float literal that reads back as the same double (NULL for NaN/None)."""
    if x is None or math.isnan(x):
        return exp.Null()
    if math.isinf(x):  # only a 300-digit cell gets here; SQLite reads 9e999 as infinity
        big = exp.Literal.number("9e999") if dialect == "sqlite" else exp.cast(exp.Literal.string("inf"), "DOUBLE")
        return big if x > 0 else exp.Neg(this=big)
    text = str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(float(x))
    return exp.Neg(this=exp.Literal.number(text[1:])) if text.startswith("-") else exp.Literal.number(text)


def _comment(text: str) -> str:
    """Comment text that cannot end or nest a /* */ comment, on one line."""
    text = " ".join(text.replace("\x00", "").split())
    return " " + text.replace("/*", "/ *").replace("*/", "* /") + " "


# =============================================================================================
# Setup: CREATE TABLE + INSERT
# =============================================================================================


def create_table_expression(schema: Schema) -> exp.Create:
    """CREATE TABLE with the row id, raw text columns, then each column's helper columns."""
    text, double = exp.DataType.build("TEXT"), exp.DataType.build("DOUBLE")
    defs = [(schema.row_id, exp.DataType.build("INT"))]
    defs += [(c.raw, text) for c in schema.columns]
    for c in schema.columns:
        defs += [(c.norm, text), (c.number, double)] + ([(c.value, double)] if c.value != c.number else [])
        defs += [(n, double) for n in (c.year, c.month) if n is not None]
    return exp.Create(
        this=exp.Schema(this=_table(schema.table),
                        expressions=[exp.ColumnDef(this=_ident(n), kind=k.copy()) for n, k in defs]),
        kind="TABLE",
    )


def column_values(table: Table, schema: Schema, nan_as_none: bool = True) -> list[list | np.ndarray]:
    """The table's SQL columns in CREATE TABLE order, column-wise: lists of Python values with NaN as
    None, or (nan_as_none=False) the float64 arrays themselves for engines that read NaN as NULL."""
    numbers = _nullable if nan_as_none else (lambda a: a)
    out: list[list | np.ndarray] = [list(range(table.n_rows))]
    out += [list(c.raw) for c in table.columns]
    for names, c in zip(schema.columns, table.columns):
        out += [list(c.text), numbers(c.numbers)]
        if names.value != names.number:
            out.append(numbers(c.values))
        if names.year is not None:
            out.append(numbers(c.years))
        if names.month is not None:
            out.append(numbers(c.months))
    return out


def _nullable(a: np.ndarray) -> list[float | None]:
    out: list[float | None] = a.tolist()
    for i in np.flatnonzero(np.isnan(a)):
        out[i] = None
    return out


def table_to_setup_sql(table: Table, dialect: str = "sqlite", table_name: str = "t") -> str:
    """A script that creates and fills the table: `CREATE TABLE ...; INSERT INTO ... VALUES ...;`.

    >>> from nqa.table import table_from_rows
    >>> print(table_to_setup_sql(table_from_rows(["it's"], [["1,000"], [""]])))
    CREATE TABLE "t" (
      "row_id" INTEGER,
      "it's" TEXT,
      "it's (norm)" TEXT,
      "it's (number)" REAL
    );
    INSERT INTO "t" VALUES
      (0, '1,000', '1 000', 1000),
      (1, '', '', NULL);
    """
    _check_dialect(dialect)
    schema = schema_for(table, table_name)
    statements = [create_table_expression(schema).sql(dialect=dialect, pretty=True)]
    literal = _literal_renderer(dialect)
    rows = list(zip(*column_values(table, schema)))
    for start in range(0, len(rows), INSERT_CHUNK_ROWS):
        tuples = ["(" + ", ".join(map(literal, row)) + ")" for row in rows[start:start + INSERT_CHUNK_ROWS]]
        statements.append(f"{_insert_head(schema, dialect)}\n  " + ",\n  ".join(tuples))
    return ";\n".join(statements) + ";"


def _literal_renderer(dialect: str) -> Callable[[str | float | int | None], str]:
    """value -> its SQL literal in `dialect`, rendered by one sqlglot generator (cached per value:
    a full `.sql()` per cell would take a minute on a 100k-row table)."""
    generator = Dialect.get_or_raise(dialect).generator()
    cache: dict[tuple[type, object], str] = {}

    def render(v: str | float | int | None) -> str:
        key = (type(v), v)
        if key not in cache:
            node = _text(v) if isinstance(v, str) else (
                exp.Literal.number(v) if isinstance(v, int) else _number(v, dialect))
            cache[key] = generator.sql(node)
        return cache[key]

    return render


def _insert_head(schema: Schema, dialect: str) -> str:
    """`INSERT INTO "t" VALUES` as sqlglot renders it (the rows follow, one per line)."""
    probe = exp.Tuple(expressions=[exp.Literal.number(0)])
    one = exp.insert(exp.Values(expressions=[probe]), _table(schema.table)).sql(dialect=dialect)
    head = one.removesuffix(" " + probe.sql(dialect=dialect))
    assert head.endswith(" VALUES"), one
    return head


# =============================================================================================
# Programs: one small function per op. Every node is built fresh, so the builders skip their
# defensive copies (copy=False): that halves the time `Answer.sql` takes.
# =============================================================================================


@dataclass(frozen=True)
class Selection:
    """A row selection as SQL: the rows of relation `source` (a table or CTE) where `where` holds."""

    source: str
    where: exp.Expr | None = None


@dataclass(frozen=True)
class _Context:
    schema: Schema
    table: Table
    question: Question | None

    def names(self, step: Step) -> ColumnNames:
        if step.column is None or not 0 <= step.column < len(self.schema.columns):
            raise SQLError(f"{step.op} needs a column of the table (0..{len(self.schema.columns) - 1}), "
                           f"got {step.column}")
        return self.schema.columns[step.column]

    def column(self, step: Step) -> Column:
        """The table's column `step` reads (names() has checked its index)."""
        self.names(step)
        assert step.column is not None
        return self.table.columns[step.column]

    def constant(self, step: Step) -> Constant:
        if self.question is not None and step.constant is not None:
            if not 0 <= step.constant < len(self.question.constants):
                raise SQLError(f"{step.op} points at constant {step.constant}; the question has "
                               f"{len(self.question.constants)}")
            return self.question.constants[step.constant]
        if step.constant_value is None:
            raise SQLError(f"{step.op} needs a question constant (Step.constant_value or a question)")
        return step.constant_value

    def text_constants(self) -> list[str]:
        if self.question is None:
            raise SQLError("filter_any needs the question's text constants: pass question=")
        return list(dict.fromkeys(c.norm for c in self.question.constants if c.kind == "text" and c.norm))


def _all_rows_of(relation: str, column: str) -> exp.Select:
    return exp.select(_col(column)).from_(_table(relation), copy=False)


def _contains_tokens(norm_column: str, needle: str) -> exp.Expr:
    """contains_tokens(text, needle): INSTR(' ' || text || ' ', ' needle ') > 0."""
    padded = exp.Concat(expressions=[exp.Literal.string(" "), _col(norm_column), exp.Literal.string(" ")])
    return exp.GT(this=exp.StrPosition(this=padded, substr=exp.Literal.string(f" {needle} ")),
                  expression=exp.Literal.number(0))


def _match(names: ColumnNames, const: Constant, column: Column) -> exp.Expr:
    """docs/ops.md match(cell, constant): numbers by equality (a year against a date column: the
    cell's year), a month by the date cell's month, text by contains_tokens unless some cell of the
    column is exactly the text (then by equality: the exact cell wins; decided here, on the table)."""
    if const.kind == "month":
        if names.month is None or const.number is None:
            return exp.false()
        return exp.EQ(this=_col(names.month), expression=_number(const.number))
    if const.kind == "number":
        if const.number is None or math.isnan(const.number):
            return exp.false()
        if const.is_year and column.kind == "date" and names.year is not None:
            return exp.EQ(this=_col(names.year), expression=_number(const.number))
        return exp.EQ(this=_col(names.number), expression=_number(const.number))
    return _text_match(names, const.norm, column) if const.norm else exp.false()


def _text_match(names: ColumnNames, norm: str, column: Column) -> exp.Expr:
    """A text constant: equality when a cell of the column is exactly it, else contains_tokens."""
    if norm in column.text:
        return exp.EQ(this=_col(names.norm), expression=_text(norm))
    return _contains_tokens(names.norm, norm)


def _reset(ctx: _Context, step: Step, prev: str) -> Selection:
    return Selection(ctx.schema.table)


def _filter_eq(ctx: _Context, step: Step, prev: str) -> Selection:
    return Selection(prev, _match(ctx.names(step), ctx.constant(step), ctx.column(step)))


def _filter_flag(ctx: _Context, step: Step, prev: str) -> Selection:
    """filter_true / filter_false: a yes/no word or the number 1 / 0, in a flag column only."""
    names = ctx.names(step)
    column = ctx.column(step)
    if not column.is_flag:  # Column.flags is -1 everywhere
        return Selection(prev, exp.false())
    want = step.op == "filter_true"
    words = sorted(TRUE_WORDS if want else FALSE_WORDS)
    is_word = exp.In(this=_col(names.norm), expressions=[exp.Literal.string(w) for w in words])
    is_number = exp.EQ(this=_col(names.number), expression=exp.Literal.number(1 if want else 0))
    return Selection(prev, exp.Paren(this=exp.or_(is_word, is_number)))


def _filter_any(ctx: _Context, step: Step, prev: str) -> Selection:
    names = ctx.names(step)
    needles = ctx.text_constants()
    if not needles:
        return Selection(prev, exp.false())
    column = ctx.column(step)
    return Selection(prev, exp.or_(*[_text_match(names, n, column) for n in needles]))


_COMPARISONS: dict[str, type[exp.Binary]] = {
    "filter_gt": exp.GT, "filter_ge": exp.GTE, "filter_lt": exp.LT, "filter_le": exp.LTE,
}


def _filter_compare(ctx: _Context, step: Step, prev: str) -> Selection:
    names, const = ctx.names(step), ctx.constant(step)
    if const.kind != "number" or const.number is None or math.isnan(const.number):  # text, month: nothing
        return Selection(prev, exp.false())
    by_year = const.is_year and ctx.column(step).kind == "date" and names.year is not None
    column = names.year if by_year and names.year is not None else names.value
    return Selection(prev, _COMPARISONS[step.op](this=_col(column), expression=_number(const.number)))


def _argmax(ctx: _Context, step: Step, prev: str) -> Selection:
    """Rows whose value equals the MAX (MIN) over the selection; ties kept, NULLs never equal."""
    value = ctx.names(step).value
    agg = exp.Max if step.op == "argmax" else exp.Min
    best = exp.select(agg(this=_col(value))).from_(_table(prev), copy=False).subquery()
    return Selection(prev, exp.EQ(this=_col(value), expression=best))


def _first(ctx: _Context, step: Step, prev: str) -> Selection:
    row_id = ctx.schema.row_id
    agg = exp.Min if step.op == "first" else exp.Max
    edge = exp.select(agg(this=_col(row_id))).from_(_table(prev), copy=False).subquery()
    return Selection(prev, exp.EQ(this=_col(row_id), expression=edge))


def _shift(ctx: _Context, step: Step, prev: str) -> Selection:
    """previous: rows whose next row is selected (row_id + 1 IN ...); next: row_id - 1 IN ..."""
    row_id = ctx.schema.row_id
    arith = exp.Add if step.op == "previous" else exp.Sub
    neighbour = arith(this=_col(row_id), expression=exp.Literal.number(1))
    return Selection(ctx.schema.table,
                     exp.In(this=neighbour, query=_all_rows_of(prev, row_id).subquery()))


def _mfe(ctx: _Context, step: Step, prev: str) -> Selection:
    """Rows holding the most frequent non-empty normalised text; ties go to the earliest first row."""
    norm, row_id = ctx.names(step).norm, ctx.schema.row_id
    most = (exp.select(_col(norm)).from_(_table(prev), copy=False)
            .where(exp.NEQ(this=_col(norm), expression=exp.Literal.string("")), copy=False)
            .group_by(_col(norm), copy=False)
            .order_by(exp.Ordered(this=exp.Count(this=exp.Star()), desc=True),
                      exp.Min(this=_col(row_id)), copy=False)  # bare: ascending without NULLS noise
            .limit(1, copy=False))
    return Selection(prev, exp.EQ(this=_col(norm), expression=most.subquery()))


SELECTION_SQL: dict[str, Callable[[_Context, Step, str], Selection]] = {
    "reset": _reset, "filter_eq": _filter_eq, "filter_any": _filter_any,
    **dict.fromkeys(_COMPARISONS, _filter_compare),
    "argmax": _argmax, "argmin": _argmax, "first": _first, "last": _first,
    "previous": _shift, "next": _shift, "mfe": _mfe, "filter_true": _filter_flag, "filter_false": _filter_flag,
}
assert set(SELECTION_SQL) == set(SELECT_OPS)


def _select_from(columns: list[exp.Expr], sel: Selection) -> exp.Select:
    q = exp.select(*columns).from_(_table(sel.source), copy=False)
    return q.where(sel.where, copy=False) if sel.where is not None else q


def _answer(e: exp.Expr) -> exp.Expr:
    return exp.alias_(e, "answer", quoted=False)


def _count(ctx: _Context, step: Step, sel: Selection) -> exp.Select:
    return _select_from([_answer(exp.Count(this=exp.Star()))], sel)


_AGGREGATES: dict[str, type[exp.Func]] = {"sum": exp.Sum, "avg": exp.Avg, "max": exp.Max, "min": exp.Min}


def _aggregate(ctx: _Context, step: Step, sel: Selection) -> exp.Select:
    """SUM/AVG/MAX/MIN ignore NULLs and give NULL over no values (`_no_row_for_null` drops that row)."""
    return _select_from([_answer(_AGGREGATES[step.op](this=_col(ctx.names(step).value)))], sel)


def _count_distinct(ctx: _Context, step: Step, sel: Selection) -> exp.Select:
    """COUNT(DISTINCT normalised text) over the selected rows' non-empty cells."""
    norm = ctx.names(step).norm
    nonempty = exp.NEQ(this=_col(norm), expression=exp.Literal.string(""))
    where = nonempty if sel.where is None else exp.and_(sel.where, nonempty)
    count = exp.Count(this=exp.Distinct(expressions=[_col(norm)]))
    return _select_from([_answer(count)], Selection(sel.source, where))


def _share(ctx: _Context, step: Step, sel: Selection) -> exp.Select:
    """100 · selected rows / all rows of the table, in doubles: a bare 100.0 is a DECIMAL in PostgreSQL,
    Spark and DuckDB (Spark's decimal division keeps 6 decimals: 33.333333)."""
    total = exp.select(exp.Count(this=exp.Star())).from_(_table(ctx.schema.table), copy=False).subquery()
    hundred = exp.cast(exp.Literal.number(100), exp.DataType.build("DOUBLE"))
    share = exp.Div(this=exp.Mul(this=hundred, expression=exp.Count(this=exp.Star())),
                    expression=exp.Nullif(this=total, expression=exp.Literal.number(0)))
    return _select_from([_answer(share)], sel)


def _print(ctx: _Context, step: Step, sel: Selection) -> exp.Select:
    return _select_from([_col(ctx.names(step).raw)], sel).order_by(_col(ctx.schema.row_id), copy=False)


def _difference(ctx: _Context, step: Step, sel: Selection) -> exp.Select:
    """|first valued row - last valued row| when there are at least two valued rows, else NULL."""
    assert sel.where is None, "difference reads a named selection"
    value, row_id = ctx.names(step).value, ctx.schema.row_id

    def edge(desc: bool) -> exp.Expr:
        order = exp.Ordered(this=_col(row_id), desc=True) if desc else _col(row_id)
        return (exp.select(_col(value)).from_(_table(sel.source), copy=False)
                .where(exp.Not(this=exp.Is(this=_col(value), expression=exp.Null())), copy=False)
                .order_by(order, copy=False).limit(1, copy=False).subquery())

    gap = exp.Abs(this=exp.Sub(this=edge(False), expression=edge(True)))
    enough = exp.GTE(this=exp.Count(this=_col(value)), expression=exp.Literal.number(2))
    answer = _answer(exp.Case(ifs=[exp.If(this=enough, true=gap)]))
    return exp.select(answer).from_(_table(sel.source), copy=False)


TERMINAL_SQL: dict[str, Callable[[_Context, Step, Selection], exp.Select]] = {
    "count": _count, **dict.fromkeys(_AGGREGATES, _aggregate), "print": _print, "difference": _difference,
    "count_distinct": _count_distinct, "share": _share,
}
assert set(TERMINAL_SQL) == set(TERMINAL_OPS)
# Terminal ops that need the final selection as a named relation rather than a WHERE clause.
_NEEDS_NAMED_SELECTION = {"difference"}
# Terminal ops whose SQL gives NULL when there is no value to aggregate: their query returns no row
# then, as the executor returns no answer (docs/ops.md, "empty case").
_NO_ROW_FOR_NULL = {"sum", "avg", "max", "min", "difference", "share"}


def _no_row_for_null(query: exp.Select) -> exp.Select:
    """SELECT answer FROM (query) AS result WHERE NOT answer IS NULL. (`HAVING COUNT(v) > 0` reads
    shorter, but HAVING without GROUP BY needs SQLite 3.39, newer than many systems' Python has.)"""
    answer = exp.column("answer")
    return (exp.select(answer).from_(query.subquery("result", copy=False), copy=False)
            .where(exp.Not(this=exp.Is(this=answer.copy(), expression=exp.Null())), copy=False))


def _describe(ctx: _Context, step: Step) -> str:
    """The step as `op(column, constant)` with the table's column names (for the SQL comments)."""
    args = []
    if step.op in OPS_WITH_COLUMN and step.column is not None and 0 <= step.column < ctx.table.n_cols:
        args.append(ctx.column(step).name)
    if step.op in OPS_WITH_CONSTANT:
        const = ctx.constant(step)
        args.append(repr(const.norm) if const.kind != "number" else _number(const.number).sql())
    return f"{step.op}({', '.join(args)})" if args else step.op


def program_to_expression(program: Program, table: Table, table_name: str = "t",
                          question: Question | None = None) -> exp.Select:
    """The program as a sqlglot tree (one CTE per selection step but the last, folded into the SELECT).

    `question` supplies the constants (`Step.constant_value` is used without it); `filter_any` needs it.
    """
    _check_program(program)
    ctx = _Context(schema_for(table, table_name), table, question)
    names = _cte_names(len(program.selection_steps), table_name)
    ctes: list[tuple[str, exp.Select, str]] = []
    relation = table_name  # the relation holding the current selection
    selection = Selection(relation)
    comments: list[str] = []
    steps = program.selection_steps
    for k, step in enumerate(steps):
        selection = SELECTION_SQL[step.op](ctx, step, relation)
        comment = f"step {k + 1}: {_describe(ctx, step)}"
        if k < len(steps) - 1 or program.terminal.op in _NEEDS_NAMED_SELECTION:
            ctes.append((names[k], _select_from([exp.Star()], selection), comment))
            relation = names[k]
            selection = Selection(relation)
        else:
            comments.append(comment)
    query = TERMINAL_SQL[program.terminal.op](ctx, program.terminal, selection)
    if program.terminal.op in _NO_ROW_FOR_NULL:
        query = _no_row_for_null(query)
    comments.append(f"answer: {_describe(ctx, program.terminal)}")
    for name, body, _ in ctes:
        query = query.with_(_ident(name), as_=body, copy=False)
    for (_, _, comment), cte in zip(ctes, query.ctes):
        cte.add_comments([_comment(comment)])
    query.add_comments([_comment(c) for c in comments], prepend=True)
    return query


def program_to_sql(program: Program, table: Table, dialect: str = "sqlite", table_name: str = "t",
                   question: Question | None = None, pretty: bool = True) -> str:
    """The program's SQL in `dialect`; run after `table_to_setup_sql` it returns the executor's answer."""
    _check_dialect(dialect)
    return program_to_expression(program, table, table_name, question).sql(dialect=dialect, pretty=pretty)


def _cte_names(n: int, table_name: str) -> list[str]:
    suffix = ""
    while any(f"step{k + 1}{suffix}".casefold() == table_name.casefold() for k in range(n)):
        suffix += "_"
    return [f"step{k + 1}{suffix}" for k in range(n)]


def _check_program(program: Program) -> None:
    if not program.steps:
        raise SQLError("an empty program has no SQL")
    for k, step in enumerate(program.steps):
        allowed = TERMINAL_OPS if k == len(program.steps) - 1 else SELECT_OPS
        if step.op not in allowed:
            where = "last (terminal)" if k == len(program.steps) - 1 else "selection"
            raise SQLError(f"step {k + 1}: {step.op!r} is not a {where} op; expected one of {allowed}")


def _check_dialect(dialect: str) -> None:
    try:
        Dialect.get_or_raise(dialect)
    except ValueError as e:
        raise SQLError(f"unknown SQL dialect {dialect!r} (try one of {DIALECTS})") from e


def sql_record(example_id: str, table: Table, program: Program, answer: list[str],
               question: Question | None = None, table_name: str = "t") -> dict:
    """One `nqa predict --sql-out` line: running `setup_sql` then `sql` in a fresh SQLite gives `answer`.

    Cells come back as text; a numeric answer comes back as the very number the answer holds
    (SQLite's SUM gives 3.0 for "3", 18.714347826086954 for "18.714347826086954"); no answer
    comes back as no row. `nqa.sql_run.run_script` runs both steps.
    """
    return {
        "id": example_id,
        "answer": list(answer),
        "sql": program_to_sql(program, table, "sqlite", table_name, question),
        "setup_sql": table_to_setup_sql(table, "sqlite", table_name),
    }
