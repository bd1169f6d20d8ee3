"""Check an `nqa predict --sql-out` file: each record's SQL, run after its setup script in a fresh
SQLite and a fresh DuckDB, must give exactly the record's answer: the same cells, the same double
(`nqa.sql_run.format_answer` writes it exactly, never rounded), and no row where the answer is
empty (a row holding NULL is a disagreement).

    python -m training.check_sql runs/dev-sql.jsonl

Prints the agreement per engine and the first disagreements; exits 1 when any record disagrees.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

import sqlglot
from tqdm import tqdm

from nqa.sql_run import run_script

# The answer step is named in the SQL's own comment (nqa/sql.py writes "/* answer: count */").
_ANSWER_OP = re.compile(r"/\*\s*answer:\s*(\w+)")


def answer_op(sql: str) -> str:
    m = _ANSWER_OP.search(sql)
    if not m:
        raise ValueError(f"no '/* answer: op */' comment in {sql[:80]!r}")
    return m.group(1)


def check_record(record: dict, engine: str) -> list[str]:
    """The answer `engine` computes for one record. Both scripts are SQLite dialect; DuckDB gets them
    transpiled by sqlglot, as a user of another engine would (run as they are, SQLite's REAL would
    be DuckDB's 4-byte float and averages would drift in the 4th decimal)."""
    setup, sql = record["setup_sql"], record["sql"]
    if engine == "duckdb":
        setup = ";\n".join(sqlglot.transpile(setup, read="sqlite", write="duckdb")) + ";"
        sql = sqlglot.transpile(sql, read="sqlite", write="duckdb")[0]
    return run_script(setup, sql, answer_op(record["sql"]), engine)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", help="JSON lines from nqa predict --sql-out")
    ap.add_argument("--engines", default="sqlite,duckdb")
    args = ap.parse_args(argv)
    with open(args.records, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    engines = args.engines.split(",")
    bad: dict[str, list[tuple[str, list[str], object]]] = {e: [] for e in engines}
    for rec in tqdm(records, desc="check sql", mininterval=2):
        if not rec.get("sql"):
            continue
        for engine in engines:
            try:
                got: object = check_record(rec, engine)
            except Exception as e:  # a failure to run is a disagreement, reported with its reason
                got = f"error: {e}"
            if got != rec["answer"]:
                bad[engine].append((rec["id"], rec["answer"], got))
    n = sum(1 for r in records if r.get("sql"))
    for engine in engines:
        print(f"{engine}: {n - len(bad[engine])}/{n} records give exactly the answer")
        for rid, want, got in bad[engine][:10]:
            print(f"  {rid}: answer {want!r}, {engine} {got!r}")
    return 1 if any(bad.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
