"""An answer's SQL gives the answer in PostgreSQL and Spark SQL too (issue 16), on real engines: a
throwaway PostgreSQL server and a local SparkSession (fixtures in conftest.py; skipped locally when
an engine is missing, failures in CI).

Each program runs twice per engine: its setup and query written in the engine's own dialect, and the
SQLite record `nqa predict --sql-out` ships transpiled by sqlglot (`training.check_sql`). Edge cases
that once differed: the share of rows (a DECIMAL in both engines), long column names (PostgreSQL
cuts names at 63 bytes), hostile names and values (quotes, backslashes: Spark's string literals
escape with a backslash).
"""
from __future__ import annotations

from typing import Any

import sqlglot
from test_sql_agreement import QUESTION, SCORES, assert_agrees

from nqa.executor import execute
from nqa.program import Program, Step
from nqa.question import Constant, Question
from nqa.sql import MAX_NAME_BYTES, program_to_sql, schema_for, sql_record, table_to_setup_sql
from nqa.table import Table, table_from_rows
from training.check_sql import PostgresRunner, SparkRunner, _spark_view, check_record

PROGRAMS = [
    Program([Step("avg", 1)]), Program([Step("sum", 1)]), Program([Step("min", 1)]),
    Program([Step("filter_gt", 1, constant=3), Step("difference", 1)]),
    Program([Step("filter_gt", 1, constant=0), Step("avg", 1)]),  # no row: no answer
    Program([Step("argmax", 1), Step("print", 2)]), Program([Step("filter_lt", 1, constant=3), Step("share")]),
    Program([Step("filter_eq", 0, constant=1), Step("next"), Step("print", 0)]),
    Program([Step("last"), Step("previous"), Step("print", 0)]), Program([Step("mfe", 2), Step("count")]),
    Program([Step("count_distinct", 2)]), Program([Step("filter_any", 0), Step("print", 1)]),
]


def pg_rows(url: str, setup: str | list[str], sql: str) -> list:
    """First column of `sql`'s rows after `setup`, in one transaction rolled back after."""
    runner = PostgresRunner(url)
    try:
        rows = runner.rows([setup] if isinstance(setup, str) else setup, sql)
    finally:
        runner.close()
    assert all(len(r) == 1 for r in rows), rows
    return [r[0] for r in rows]


def spark_rows(spark: Any, setup: str, sql: str) -> list:
    statements = [s.sql(dialect="spark") for s in sqlglot.parse(setup, read="spark") if s is not None]
    rows = SparkRunner(spark).rows(statements, sql)
    return [r[0] for r in rows]


def check_postgres(url: str, table: Table, program: Program, question: Question = QUESTION,
                   table_name: str = "t") -> list[str]:
    values = execute(program, table, question).values
    op = program.terminal.op
    sql = program_to_sql(program, table, "postgres", table_name, question)
    assert_agrees(values, pg_rows(url, table_to_setup_sql(table, "postgres", table_name), sql), op, str(program))
    runner = PostgresRunner(url)
    try:
        assert check_record(sql_record("x", table, program, values, question, table_name), runner) == values
    finally:
        runner.close()
    return values


def check_spark(spark: Any, table: Table, program: Program, question: Question = QUESTION,
                table_name: str = "t") -> list[str]:
    values = execute(program, table, question).values
    sql = program_to_sql(program, table, "spark", table_name, question)
    rows = spark_rows(spark, table_to_setup_sql(table, "spark", table_name), sql)
    assert_agrees(values, rows, program.terminal.op, str(program))
    record = sql_record("x", table, program, values, question, table_name)
    assert check_record(record, SparkRunner(spark)) == values
    return values


def test_programs_agree_in_postgres(postgres):
    answers = [check_postgres(postgres.url, SCORES, p) for p in PROGRAMS]
    assert answers[0] == [repr((18 + 19.5 + 18.643 + 0.123456789 + 22.5 + 45.6) / 6)]
    assert answers[6] == ["50"]  # 4 of 8 scores under 20


def test_share_is_a_double_in_every_engine(postgres, spark):
    third = table_from_rows(["x"], [["1"], ["2"], ["3"]])
    two = Question("q", [], [Constant("number", "2", "2", 2.0, (0, 1))])
    share = Program([Step("filter_lt", 0, constant=0), Step("share")])
    assert check_postgres(postgres.url, third, share, two) == ["33.333333333333336"]
    assert check_spark(spark, third, share, two) == ["33.333333333333336"]


def test_programs_agree_in_spark(spark):
    for p in PROGRAMS:
        check_spark(spark, SCORES, p)


# ---------------------------------------------------------------------------------------------
# Hostile names and values

HOSTILE_HEADERS = ['Na"me', "it's", "back`tick", "semi;colon -- x", "back\\slash", "row_id", "NAME",
                   "IME Exchange (Including spot, credit and forward transactions) in millions of rials",
                   "IME Exchange (Including spot, credit and forward transactions) in billions of rials"]
HOSTILE_CELLS = ["'); DROP TABLE t; --", 'say "hi"', "a\\b", "100%_", "ü ß 東京", "x`y", "line\nbreak", "O'Brien"]


def hostile_table() -> Table:
    rows = [[HOSTILE_CELLS[(i + j) % len(HOSTILE_CELLS)] if j < 7 else str(10 * i + j) for j in range(9)]
            for i in range(len(HOSTILE_CELLS))]
    return table_from_rows(HOSTILE_HEADERS, rows)


def hostile_programs(table: Table) -> list[tuple[Program, Question]]:
    out = []
    for j in range(7):
        for i in (0, 2):
            norm = table.columns[j].text[i]
            q = Question("q", [], [Constant("text", table.columns[j].raw[i], norm, None, (0, 1))])
            out.append((Program([Step("filter_eq", j, constant=0), Step("print", (j + 1) % 9)]), q))
    out.append((Program([Step("argmax", 7), Step("print", 3)]), QUESTION))
    out.append((Program([Step("sum", 8)]), QUESTION))
    out.append((Program([Step("mfe", 1), Step("print", 4)]), QUESTION))
    return out


def test_long_names_fit_postgres_and_stay_distinct():
    names = [n for c in schema_for(hostile_table()).columns for n in (c.raw, c.norm, c.number, c.value)]
    assert max(len(n.encode()) for n in names) <= MAX_NAME_BYTES
    assert len({n.casefold() for n in names}) == len(set(names))


def test_hostile_names_and_values_in_postgres(postgres):
    table = hostile_table()
    for name in ("t", 'ta"ble; DROP TABLE t', "step1"):
        for program, q in hostile_programs(table):
            values = check_postgres(postgres.url, table, program, q, table_name=name)
            if program.terminal.op == "print" and program.steps[0].op == "filter_eq":
                assert values, program  # every filter finds its cell


def test_hostile_names_and_values_in_spark(spark):
    table = hostile_table()
    for program, q in hostile_programs(table)[::3]:
        check_spark(spark, table, program, q, table_name="ta`ble")


def test_the_checker_leaves_postgres_as_it_found_it(postgres, tmp_path, capsys):
    """check_sql's records run in transactions that are rolled back: no table is left behind."""
    import json

    from training.check_sql import main
    from training.engines import postgres_connect

    def tables() -> list[tuple]:
        with postgres_connect(postgres.url) as con:
            return con.execute("SELECT schemaname, tablename FROM pg_tables ORDER BY 1, 2").fetchall()

    record = sql_record("x", SCORES, PROGRAMS[0], execute(PROGRAMS[0], SCORES, QUESTION).values, QUESTION)
    path = tmp_path / "sql.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with postgres_connect(postgres.url) as con:  # a table of the record's name is shadowed, not touched
        con.execute('CREATE TABLE IF NOT EXISTS "t" (x INT)')
        con.execute('DELETE FROM "t"')
        con.execute('INSERT INTO "t" VALUES (1)')
    before = tables()
    assert main([str(path), "--engines", "postgres", "--postgres-url", postgres.url]) == 0
    assert "postgres: 1/1" in capsys.readouterr().out
    assert tables() == before
    with postgres_connect(postgres.url) as con:
        assert con.execute('SELECT * FROM "t"').fetchall() == [(1,)]
        con.execute('DROP TABLE "t"')


def test_spark_view_casts_each_value(spark):
    """A column of 2 and 1.5: VALUES alone would make it DECIMAL(2,1); cast per value it is DOUBLE."""
    setup = table_to_setup_sql(table_from_rows(["x"], [["2"], ["1.5"], ["0.123456789012345678"]]), "spark")
    statements = [s.sql(dialect="spark") for s in sqlglot.parse(setup, read="spark") if s is not None]
    spark.sql(_spark_view(statements))
    try:
        assert dict(spark.table("t").dtypes)["x (number)"] == "double"
        assert [r[0] for r in spark.sql("SELECT `x (number)` FROM t ORDER BY row_id").collect()] == [
            2.0, 1.5, 0.123456789012345678]
    finally:
        spark.catalog.dropTempView("t")
