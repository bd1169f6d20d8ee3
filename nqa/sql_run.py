"""Running a program's SQL in SQLite or DuckDB, with the answer formatted as the exact executor formats it.

Tables are loaded with parameterised inserts (exact doubles, no SQL text per row), which is what makes
100k-row tables quick; `run_script` runs the text form (`table_to_setup_sql` + `program_to_sql`), the
form `nqa predict --sql-out` ships.
"""
from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np
from sqlglot import exp

from nqa.program import Program, format_number
from nqa.question import Question
from nqa.sql import SQLError, column_values, create_table_expression, program_to_sql, schema_for
from nqa.table import Table

ENGINES = ("sqlite", "duckdb")


def connect(table: Table, engine: str = "sqlite", table_name: str = "t") -> Any:
    """A fresh in-memory database (sqlite3 or duckdb connection) holding `table` as `table_name`."""
    schema = schema_for(table, table_name)
    create = create_table_expression(schema)
    con: Any
    if engine == "sqlite":
        con = sqlite3.connect(":memory:")
        con.execute(create.sql(dialect="sqlite"))
        if table.n_rows:
            columns = column_values(table, schema)
            placeholders = exp.Tuple(expressions=[exp.Placeholder() for _ in columns])
            insert = exp.insert(exp.Values(expressions=[placeholders]), _table(table_name))
            con.executemany(insert.sql(dialect="sqlite"), zip(*columns))
        return con
    if engine == "duckdb":
        import duckdb
        import pandas as pd

        con = duckdb.connect(":memory:")
        con.execute(create.sql(dialect="duckdb"))
        if table.n_rows:
            # A DataFrame scan is far faster than executemany; DuckDB reads a float64 NaN as NULL.
            columns = column_values(table, schema, nan_as_none=False)
            frame = pd.DataFrame({f"c{k}": col if isinstance(col, np.ndarray) else pd.Series(col, dtype=object)
                                  for k, col in enumerate(columns)})
            view = _free_name(table_name)
            con.register(view, frame)
            con.execute(exp.insert(exp.select("*").from_(_table(view)), _table(table_name)).sql(dialect="duckdb"))
            con.unregister(view)
        return con
    raise SQLError(f"unknown SQL engine {engine!r}; expected one of {ENGINES}")


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.Identifier(this=name, quoted=True))


def _free_name(table_name: str) -> str:
    name = "nqa_rows"
    while name.casefold() == table_name.casefold():
        name += "_"
    return name


def format_answer(rows: list[tuple], terminal_op: str) -> list[str]:
    """Result rows -> answer strings, changing no value: print gives the cells, the other ops one
    number (written by `format_number`, which round-trips: `float(answer[0])` is the SQL's value)
    or, with no row, no answer. A NULL is an error: no answer is no row (docs/ops.md)."""
    if terminal_op == "print":
        return ["" if r[0] is None else str(r[0]) for r in rows]
    if len(rows) > 1 or any(len(r) != 1 for r in rows):
        raise SQLError(f"{terminal_op} SQL should give one value or no row, got {rows!r}")
    if rows and rows[0][0] is None:
        raise SQLError(f"{terminal_op} SQL gave NULL; with no value it must give no row")
    return [format_number(float(x)) for (x,) in rows]


def fetch(con: Any, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def run_sql(table: Table, program: Program, engine: str = "sqlite", question: Question | None = None,
            table_name: str = "t") -> list[str]:
    """The program's answer computed by `engine` from its SQL; equals `nqa.executor.execute(...).values`."""
    con = connect(table, engine, table_name)
    try:
        sql = program_to_sql(program, table, dialect=engine, table_name=table_name, question=question)
        return format_answer(fetch(con, sql), program.terminal.op)
    finally:
        con.close()


def run_script(setup_sql: str, sql: str, terminal_op: str, engine: str = "sqlite") -> list[str]:
    """Run a setup script then a program's SQL in a fresh in-memory `engine`; the formatted answer."""
    con: Any
    if engine == "sqlite":
        con = sqlite3.connect(":memory:")
        con.executescript(setup_sql)
    elif engine == "duckdb":
        import duckdb

        con = duckdb.connect(":memory:")
        con.execute(setup_sql)
    else:
        raise SQLError(f"unknown SQL engine {engine!r}; expected one of {ENGINES}")
    try:
        return format_answer(fetch(con, sql), terminal_op)
    finally:
        con.close()
