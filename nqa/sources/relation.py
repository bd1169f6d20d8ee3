"""A program's SQL over the user's raw table, as the engine runs it.

`nqa.sql` writes a program against a relation with derived columns per table column ("c (norm)",
"c (number)", "c (value)", "c (year)", "c (month)", "row_id"; see its docstring). On the engine path
that relation is a CTE computed from the user's table, never a table written anywhere:

    WITH "nqa_t" AS (
      SELECT src."Region" AS "Region", m0."norm" AS "Region (norm)", ..., src."nqa_row" AS "row_id"
      FROM (SELECT *, <row number> AS "nqa_row" FROM <user's table>) AS src
      LEFT JOIN <mapping of Region> AS m0 ON src."Region" = m0."key"
    ), step1 AS (...)
    SELECT ... FROM "nqa_t" ...

Only the columns (and derived forms) the program reads are computed. A profiled column's derived
values come from its mapping: each distinct engine value with the norm/number/value/year/month that
nqa.table gives it (the same typing as the in-memory path, so the same answer); the engine decides
how the mapping travels (`EngineSource.mapping_relation`: inline VALUES by default, a registered
Arrow table in DuckDB). A column past the profile cap is derived in SQL instead (numbers cast, dates
by their parts, text normalised by the engine's regular expressions): see README "Tables that stay
where they are" for what that approximates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlglot import exp

from nqa.program import Program
from nqa.question import Question
from nqa.sources.base import EngineSource, SourceColumn, column, free_name, ident
from nqa.sources.profile import ProfileTable, key_expression
from nqa.sql import ColumnNames, Schema, program_to_expression, schema_for

_DERIVED = ("norm", "number", "value", "year", "month")
# Derived forms an engine computes exactly as nqa.table types the same value (checked by the agreement
# runs and tests/test_sources.py): integers' digits and numbers, floats' numbers, dates' ISO text,
# ordinal, year and month, timestamps' date parts. Everything else of a profiled column comes from its
# mapping (the Python typing of each distinct value).
NATIVE: dict[str, tuple[str, ...]] = {
    "integer": ("norm", "number", "value"),
    "decimal": ("number", "value"),
    "float": ("number", "value"),
    "date": ("norm", "number", "value", "year", "month"),
    "timestamp": ("number", "value", "year", "month"),
}


@dataclass(frozen=True)
class EngineQuery:
    """The program as the engine runs it: the whole SELECT, and the name of its derived relation."""

    select: exp.Select
    relation: str


def relation_name(source: EngineSource, schema_names: list[str]) -> str:
    """A CTE name that is neither the user's table's name nor a step CTE's."""
    return free_name("nqa_t", [*schema_names, source.name])


def engine_query(source: EngineSource, table: ProfileTable, program: Program,
                 question: Question | None) -> EngineQuery:
    """The program's SELECT over the user's table (raises nqa.sql.SQLError for a program that does not
    fit the table, as program_to_sql does)."""
    name = relation_name(source, table.column_names)
    schema = schema_for(table, name)
    select = _filters_through_lookups(source, table, schema, program_to_expression(program, table, name, question))
    used = {c.name for c in select.find_all(exp.Column)}
    derived = derived_relation(source, table, schema, used)
    # Inlined where it is read (DuckDB and PostgreSQL would materialise a CTE read twice: every row's
    # derived columns written out before the filters run).
    inline = False if source.dialect in ("duckdb", "postgres") else None
    cte = exp.CTE(this=derived, alias=exp.TableAlias(this=ident(name)), materialized=inline)
    with_ = select.args.get("with_")
    if with_ is None:
        select.set("with_", exp.With(expressions=[cte]))
    else:
        with_.set("expressions", [cte, *with_.expressions])
    return EngineQuery(select, name)


def _filters_through_lookups(source: EngineSource, table: ProfileTable, schema: Schema,
                             select: exp.Select) -> exp.Select:
    """Filters on a column's normalised text, asked of its distinct values: a predicate P("c (norm)")
    (equality, token containment, IN) becomes "c" IN (SELECT key FROM <distinct values> WHERE P(norm)),
    over the column's typed mapping (profiled columns) or the engine's lookup relation (columns past
    the cap). The same rows (a NULL cell fails both), but the predicate runs once per distinct value
    instead of a join on every row: on 10 million rows that join cost up to a second a program."""
    for j, (names, prof) in enumerate(zip(schema.columns, table.profiles)):
        if prof.source.kind == "other":  # joined on its text, not its own values: keep the join
            continue
        nodes = [node for node in select.find_all(exp.EQ, exp.GT, exp.In)
                 if (cols := list(node.find_all(exp.Column))) and all(c.name == names.norm for c in cols)
                 and node.find(exp.Select) is None]
        if not nodes:
            continue
        if prof.complete:
            values: exp.Expr | None = source.mapping_relation(f"nqa_map_{j}", _mapping_columns(table, j, names,
                                                                                             ["norm"]))
            key = "key"
        else:
            values, key = source.lookup_relation(prof.source), "v"
        if values is None:
            continue
        for node in nodes:
            inner = node.copy()
            for c in list(inner.find_all(exp.Column)):
                c.replace(column("norm"))
            keys = exp.select(column(key)).from_(exp.alias_(values.copy(), "d", table=True)).where(inner)
            node.replace(exp.In(this=exp.Column(this=ident(names.raw)), query=keys.subquery()))
    return select


def derived_relation(source: EngineSource, table: ProfileTable, schema: Schema, used: set[str]) -> exp.Select:
    """SELECT computing the derived columns in `used` from the user's table (see the module docstring)."""
    src = "src"
    row_name = free_name("nqa_row", [p.source.name for p in table.profiles])
    needs_row = schema.row_id in used
    inner: exp.Expr = source.records()
    if needs_row:
        inner = source.numbered_records(row_name).subquery(src)
    else:
        inner = exp.select(exp.Star()).from_(inner).subquery(src)
    select = exp.select().from_(inner)
    outputs: list[exp.Expr] = []
    for j, (names, prof) in enumerate(zip(schema.columns, table.profiles)):
        wanted, targets = [], set()
        for f in _DERIVED:  # each SQL column once ("value" is "number" on columns without dates)
            target = getattr(names, f)
            if target in used and target not in targets:
                wanted.append(f)
                targets.add(target)
        if names.raw in used:
            outputs.append(exp.alias_(column(prof.source.name, src), names.raw, quoted=True))
        if not wanted:
            continue
        # The engine's own casts and date parts where they equal nqa's typing; the mapping elsewhere.
        native = [f for f in wanted if not prof.complete or f in NATIVE.get(prof.source.kind, ())]
        mapped = [f for f in wanted if f not in native]
        lookup = source.lookup_relation(prof.source) if not prof.complete and "norm" in native else None
        if lookup is not None:  # the engine keeps each distinct value's normalised text: join it
            native.remove("norm")
            alias = f"l{j}"
            select = select.join(exp.alias_(lookup, alias, table=True, quoted=True), join_type="left",
                                 on=exp.EQ(this=key_expression(prof.source, src), expression=column("v", alias)))
            outputs.append(exp.alias_(column("norm", alias), names.norm, quoted=True))
        if native:
            sql_forms = _sql_forms(source, prof.source, src)
            for f in native:
                outputs.append(exp.alias_(sql_forms[f], getattr(names, f), quoted=True))
        if mapped:
            alias = f"m{j}"
            mapping = source.mapping_relation(f"nqa_map_{j}", _mapping_columns(table, j, names, mapped))
            key = key_expression(prof.source, src)
            select = select.join(exp.alias_(mapping, alias, table=True, quoted=True), join_type="left",
                                 on=exp.EQ(this=key, expression=column("key", alias)))
            for f in mapped:
                outputs.append(exp.alias_(column(f, alias), getattr(names, f), quoted=True))
    if needs_row:
        outputs.append(exp.alias_(column(row_name, src), schema.row_id, quoted=True))
    if not outputs:  # count over all rows reads no column
        outputs.append(exp.alias_(exp.Literal.number(1), "nqa_one", quoted=True))
    return select.select(*outputs)


def _mapping_columns(table: ProfileTable, j: int, names: ColumnNames, wanted: list[str]) -> dict[str, list[Any]]:
    """key -> derived values for column j's distinct (non-NULL) engine values (kept on the profile:
    the same object for every question, so an engine can register it once)."""
    prof, col = table.profiles[j], table.columns[j]
    cached = prof.cache.get(("mapping", tuple(wanted)))
    if cached is not None:
        return cached
    n = len(prof.values)
    keep = [i for i in range(n) if prof.values[i] is not None]
    if prof.source.kind == "other":
        from nqa.sources.profile import value_text

        keys: list[Any] = [value_text(prof.values[i]) for i in keep]
    else:
        keys = [prof.values[i] for i in keep]
    out: dict[str, list[Any]] = {"key": keys}
    for f in wanted:
        if f == "norm":
            out[f] = [col.text[i] for i in keep]
        else:
            a: np.ndarray = {"number": col.numbers, "value": col.values, "year": col.years, "month": col.months}[f]
            out[f] = [None if np.isnan(a[i]) else float(a[i]) for i in keep]
    prof.cache[("mapping", tuple(wanted))] = out
    return out


def _sql_forms(source: EngineSource, col: SourceColumn, src: str) -> dict[str, exp.Expr]:
    """Derived columns computed by the engine: exact for the NATIVE forms of the column's type, an
    approximation of nqa.table's typing for the others (used for columns past the profile cap only)."""
    c = column(col.name, src)
    text = exp.cast(c.copy(), "TEXT")
    null = exp.cast(exp.Null(), "DOUBLE")
    norm = source.normalized_text(text)
    if col.kind in ("integer", "float", "decimal"):
        number: exp.Expr = exp.cast(c.copy(), "DOUBLE")
        if col.kind == "integer":  # normalize_text of an integer's digits: the digits without the sign
            norm = exp.cast(exp.Abs(this=c.copy()), "TEXT")
        return {"norm": norm, "number": number, "value": number.copy(), "year": number.copy(), "month": null}
    if col.kind in ("date", "timestamp"):
        y = exp.cast(exp.Extract(this=exp.var("YEAR"), expression=c.copy()), "DOUBLE")
        m = exp.cast(exp.Extract(this=exp.var("MONTH"), expression=c.copy()), "DOUBLE")
        d = exp.cast(exp.Extract(this=exp.var("DAY"), expression=c.copy()), "DOUBLE")
        # Date.ordinal: year + (month - 1) / 12 + (day - 1) / 372, added in that order
        month_part = exp.Div(this=exp.Paren(this=exp.Sub(this=m.copy(), expression=exp.Literal.number(1))),
                             expression=exp.Literal.number("12.0"))
        day_part = exp.Div(this=exp.Paren(this=exp.Sub(this=d, expression=exp.Literal.number(1))),
                           expression=exp.Literal.number("372.0"))
        ordinal = exp.Add(this=exp.Paren(this=exp.Add(this=y.copy(), expression=month_part)), expression=day_part)
        if col.kind == "date":  # normalize_text('2020-01-05') = '2020 01 05'
            norm = exp.Replace(this=text.copy(), expression=exp.Literal.string("-"),
                               replacement=exp.Literal.string(" "))
        return {"norm": norm, "number": null, "value": ordinal, "year": y, "month": m}
    number = source.number_from_text(text.copy())
    return {"norm": norm, "number": number, "value": number.copy(), "year": number.copy(), "month": null}


def values_relation(key: str, columns: dict[str, list[Any]]) -> exp.Expr:
    """(SELECT key, CAST(norm AS TEXT), CAST(number AS DOUBLE)... FROM (VALUES ...) AS v(...)): a
    mapping inlined in the query; the casts type all-NULL columns. An empty mapping is one NULL row."""
    names = list(columns)
    n = len(columns["key"])
    rows = [[_literal(columns[c][i]) for c in names] for i in range(n)] or [[exp.Null() for _ in names]]
    values = exp.Values(expressions=[exp.Tuple(expressions=r) for r in rows],
                        alias=exp.TableAlias(this=ident(key), columns=[ident(c) for c in names]))
    outputs = [column("key", key)] + [
        exp.alias_(exp.cast(column(c, key), "TEXT" if c == "norm" else "DOUBLE"), c, quoted=True) for c in names[1:]]
    return exp.select(*outputs).from_(values).subquery()


def _literal(v: Any) -> exp.Expr:
    """A typed SQL literal of an engine value (strings, numbers, dates, timestamps, booleans)."""
    import datetime
    import decimal

    from nqa.sql import _number, _text

    if v is None:
        return exp.Null()
    if isinstance(v, bool):
        return exp.true() if v else exp.false()
    if isinstance(v, (int, decimal.Decimal)):
        return exp.Literal.number(str(v))
    if isinstance(v, float):
        return _number(v, "duckdb") if not np.isnan(v) else exp.cast(exp.Literal.string("nan"), "DOUBLE")
    if isinstance(v, datetime.datetime):
        return exp.cast(exp.Literal.string(v.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(v, datetime.date):
        return exp.cast(exp.Literal.string(v.isoformat()), "DATE")
    return _text(str(v))

