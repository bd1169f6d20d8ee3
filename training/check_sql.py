"""Check an `nqa predict --sql-out` file: each record's SQL, run after its setup script in a fresh
SQLite, DuckDB, PostgreSQL or Spark SQL table, must give exactly the record's answer: the same cells,
the same double (`nqa.sql_run.format_answer` writes it exactly, never rounded), and no row where the
answer is empty (a row holding NULL is a disagreement).

    python -m training.check_sql runs/dev-sql.jsonl                              # SQLite and DuckDB
    python -m training.check_sql runs/dev-sql.jsonl --engines postgres            # a throwaway server
    python -m training.check_sql runs/dev-sql.jsonl --engines postgres --postgres-url postgresql://...
    python -m training.check_sql runs/dev-sql.jsonl --engines spark --sample 300  # local Spark

The records are SQLite dialect; other engines get both scripts transpiled by sqlglot, as a user of
that engine would. PostgreSQL runs each record in a transaction that is rolled back (nothing stays
in the database: `--postgres-url` may name a real one); without a URL a throwaway server from
Debian's binaries is started and stopped (training/engines.py). Spark builds each table as a
temporary view, in a local session.

Prints the agreement and the time per engine, and the first disagreements; exits 1 when any record
disagrees.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from typing import Any

import sqlglot
from sqlglot import exp
from tqdm import tqdm

from nqa.sql_run import format_answer

ENGINES = ("sqlite", "duckdb", "postgres", "spark")

# The answer step is named in the SQL's own comment (nqa/sql.py writes "/* answer: count */").
_ANSWER_OP = re.compile(r"/\*\s*answer:\s*(\w+)")


def answer_op(sql: str) -> str:
    m = _ANSWER_OP.search(sql)
    if not m:
        raise ValueError(f"no '/* answer: op */' comment in {sql[:80]!r}")
    return m.group(1)


def transpile(record: dict, dialect: str) -> tuple[list[str], str]:
    """The record's setup statements and query in `dialect`. Run as they are, SQLite's REAL would be
    DuckDB's (and PostgreSQL's) 4-byte float and averages would drift in the 4th decimal."""
    setup, sql = record["setup_sql"], record["sql"]
    if dialect == "sqlite":
        return [setup], sql
    return sqlglot.transpile(setup, read="sqlite", write=dialect), sqlglot.transpile(sql, read="sqlite",
                                                                                       write=dialect)[0]


class Runner:
    """Runs one record's setup then query in a fresh table of one engine; the raw result rows."""

    dialect = "sqlite"

    def rows(self, setup: list[str], sql: str) -> list[tuple]:
        con = sqlite3.connect(":memory:")
        try:
            con.executescript(setup[0])
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def close(self) -> None:
        pass


class DuckDBRunner(Runner):
    dialect = "duckdb"

    def rows(self, setup: list[str], sql: str) -> list[tuple]:
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            for statement in setup:
                con.execute(statement)
            return con.execute(sql).fetchall()
        finally:
            con.close()


class PostgresRunner(Runner):
    """One connection; each record in a temporary table of its own transaction, rolled back: the database
    is left as found, and a table of the record's name there is neither read nor touched."""

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        from training.engines import postgres_connect

        self.con = postgres_connect(url, autocommit=False)

    def rows(self, setup: list[str], sql: str) -> list[tuple]:
        # a temporary table: it shadows a table of the same name in the database, and lives in this
        # transaction only
        setup = [s.replace("CREATE TABLE ", "CREATE TEMPORARY TABLE ", 1) if s.startswith("CREATE TABLE ") else s
                 for s in setup]
        try:
            with self.con.cursor() as cur:
                for statement in setup:
                    cur.execute(statement)
                cur.execute(sql)
                return cur.fetchall()
        finally:
            self.con.rollback()

    def close(self) -> None:
        self.con.close()


class SparkRunner(Runner):
    """The setup's CREATE TABLE + INSERT become one temporary view over VALUES (a managed table
    would write files for every record), in one partition; each value is cast to its column's type."""

    dialect = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def rows(self, setup: list[str], sql: str) -> list[tuple]:
        view = _spark_view(setup)
        self.spark.sql(view)
        try:
            return [tuple(r) for r in self.spark.sql(sql).collect()]
        finally:
            name = sqlglot.parse_one(setup[0], read="spark").find(exp.Table)
            assert name is not None
            self.spark.catalog.dropTempView(name.name)


def _spark_view(setup: list[str]) -> str:
    """CREATE TABLE t (c1 T1, ...) + INSERT INTO t VALUES (v1, ...) -> CREATE TEMPORARY VIEW t AS
    SELECT c0 AS c1, ... FROM VALUES (CAST(v1 AS T1), ...) AS v(c0, ...). Each value is cast on its
    own, as INSERT does: VALUES would first unify a column's literals (1.5 and 2 as DECIMAL)."""
    create = sqlglot.parse_one(setup[0], read="spark")
    assert isinstance(create, exp.Create) and isinstance(create.this, exp.Schema), setup[0]
    table = create.this.this
    defs = [d for d in create.this.expressions if isinstance(d, exp.ColumnDef)]
    names = [f"c{k}" for k in range(len(defs))]
    rows: list[exp.Expr] = []
    for statement in setup[1:]:
        values = sqlglot.parse_one(statement, read="spark").find(exp.Values)
        assert values is not None, statement
        for row in values.expressions:
            rows.append(exp.Tuple(expressions=[exp.cast(v, d.args["kind"]) for v, d in zip(row.expressions, defs)]))
    projections = [exp.alias_(exp.column(n), d.this.copy()) for n, d in zip(names, defs)]
    if rows:
        source: exp.Expr = exp.Values(expressions=rows, alias=exp.TableAlias(
            this=exp.to_identifier("v"), columns=[exp.to_identifier(n) for n in names]))
        query = exp.select(*projections).from_(source)
    else:  # an empty table: one row of NULLs, filtered out
        query = exp.select(*[exp.alias_(exp.cast(exp.null(), d.args["kind"]), d.this.copy()) for d in defs]).where(
            exp.false())
    # One partition, as Spark reads a small file: a table of local rows is split across the session's
    # cores, and SUM/AVG then add partition sums (13.3 where row order gives 13.299999999999999).
    select = query.sql(dialect="spark").removeprefix("SELECT ")
    return f"CREATE OR REPLACE TEMPORARY VIEW {table.sql(dialect='spark')} AS SELECT /*+ COALESCE(1) */ {select}"


@contextlib.contextmanager
def open_runner(engine: str, postgres_url: str | None = None) -> Iterator[Runner]:
    """A runner for `engine`, with a throwaway PostgreSQL server or a local Spark session as needed."""
    if engine == "sqlite":
        yield Runner()
    elif engine == "duckdb":
        yield DuckDBRunner()
    elif engine == "postgres":
        from training.engines import postgres_server

        with contextlib.ExitStack() as stack:
            url = postgres_url or stack.enter_context(postgres_server()).url
            runner = PostgresRunner(url)
            stack.callback(runner.close)
            yield runner
    elif engine == "spark":
        from training.engines import spark_session

        with spark_session() as spark:
            yield SparkRunner(spark)
    else:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")


def check_record(record: dict, engine: str | Runner) -> list[str]:
    """The answer an engine computes for one record (an engine name: SQLite or DuckDB in memory)."""
    runner = engine if isinstance(engine, Runner) else {"sqlite": Runner, "duckdb": DuckDBRunner}[engine]()
    setup, sql = transpile(record, runner.dialect)
    return format_answer(runner.rows(setup, sql), answer_op(record["sql"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", help="JSON lines from nqa predict --sql-out")
    ap.add_argument("--engines", default="sqlite,duckdb", help=f"comma-separated, of {','.join(ENGINES)}")
    ap.add_argument("--postgres-url", help="check in this PostgreSQL database (default: a throwaway server)")
    ap.add_argument("--sample", type=int, help="check a seeded random sample of this many records")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    with open(args.records, encoding="utf-8") as f:
        records = [r for r in (json.loads(line) for line in f if line.strip()) if r.get("sql")]
    if args.sample is not None and args.sample < len(records):
        records = random.Random(args.seed).sample(records, args.sample)
    engines = args.engines.split(",")
    failed = False
    for engine in engines:
        bad: list[tuple[str, list[str], object]] = []
        start = time.perf_counter()
        with open_runner(engine, args.postgres_url) as runner:
            ready = time.perf_counter()
            for rec in tqdm(records, desc=f"check sql ({engine})", mininterval=2):
                try:
                    got: object = check_record(rec, runner)
                except Exception as e:  # a failure to run is a disagreement, reported with its reason
                    got = f"error: {type(e).__name__}: {str(e).strip()[:300]}"
                if got != rec["answer"]:
                    bad.append((rec["id"], rec["answer"], got))
            done = time.perf_counter()
        n = len(records)
        print(f"{engine}: {n - len(bad)}/{n} records give exactly the answer "
              f"({done - ready:.1f}s, engine start {ready - start:.1f}s)")
        for rid, want, got in bad[:10]:
            print(f"  {rid}: answer {want!r}, {engine} {got!r}")
        failed = failed or bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
