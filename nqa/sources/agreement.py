"""Does the engine path give the in-memory path's answers? WikiTableQuestions dev, both ways.

    python -m nqa.sources.agreement --engine duckdb --limit 1000
    python -m nqa.sources.agreement --engine duckdb-csv --limit 1000   # DuckDB reading the CSV files in place
    python -m nqa.sources.agreement --engine postgres --limit 1000     # nqa.sources.postgres
    python -m nqa.sources.agreement --engine spark --limit 200         # nqa.sources.spark

Each question is asked of the WTQ table in memory (`TableQA.ask(Table, q)`) and of the same cells
kept in the engine (`TableQA.ask(source, q)`); the answer values, the chosen program and the
confidence must agree (both asked with the model's header encodings cached, as after a first
question); one number that differs only past its 12th significant digit counts as the same answer,
and is counted apart (a sum of doubles added in another order). The engine table holds the in-memory
table's raw cells as text columns, under a hostile name (the WTQ context path, slashes and dots
included); `duckdb-csv` instead has DuckDB read each CSV file itself (delimiter, quotes, escapes),
with the in-memory threshold at 0. The engine table holds the whole table, closing 'Total' rows
included (`text_frame`): the engine path must leave them out as load_table does
(EngineSource.find_footer).

An engine plugs in with a context manager `agreement_engine()` in its module (ENGINES below) that
yields `load(name, frame) -> EngineSource`: put the DataFrame of text columns into the engine as table
`name` and return a source reading it (in row order: pass order_by if the engine has no order). An
engine whose tables have no row order finds no closing summary row (EngineSource.has_row_order):
its loader puts `records_frame(frame)` in the engine instead, the rows load_table keeps.
Prints one line per disagreement and a summary; exit status 1 when any question disagrees.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nqa.sources.base import close_all

ENGINES = {
    "duckdb": "nqa.sources.agreement:duckdb_engine",
    "duckdb-csv": "nqa.sources.agreement:duckdb_csv_engine",
    "postgres": "nqa.sources.postgres:agreement_engine",
    "spark": "nqa.sources.spark:agreement_engine",
}

Loader = Callable[[str, Any], Any]  # (table name, DataFrame of text columns) -> EngineSource


@contextlib.contextmanager
def duckdb_engine() -> Iterator[Loader]:
    """Each table in a fresh DuckDB database file (VARCHAR columns), read back read-only (one file per
    table: DuckDB lets one process attach a file once)."""
    import duckdb

    from nqa.sources.duckdb_source import DuckDBSource

    with tempfile.TemporaryDirectory() as tmp:
        opened: list[DuckDBSource] = []

        def load(name: str, frame) -> DuckDBSource:
            db = os.path.join(tmp, f"t{len(opened)}.duckdb")
            con = duckdb.connect(db)
            try:
                con.register("nqa_frame", frame)
                cols = ", ".join('"' + c.replace('"', '""') + '"' for c in frame.columns)
                quoted = '"' + name.replace('"', '""') + '"'
                # insertion order = the file's row order (the source numbers rows by rowid)
                con.execute(f"CREATE OR REPLACE TABLE {quoted} AS SELECT {cols} FROM nqa_frame")
            finally:
                con.close()
            source = DuckDBSource.database_table(db, name)
            opened.append(source)
            return source

        try:
            yield load
        finally:
            close_all(opened)


@contextlib.contextmanager
def duckdb_csv_engine() -> Iterator[Loader]:
    """DuckDB reading each WTQ CSV file in place (the loader gets the file's path as `name`), with
    the read_csv options open_source picks for a big CSV."""
    from nqa.sources.duckdb_source import DuckDBSource
    from nqa.sources.open import csv_options

    opened: list[Any] = []

    def load(path: str, frame) -> Any:
        source = DuckDBSource.file(path, "csv", csv_options=csv_options(path))
        opened.append(source)
        return source

    try:
        yield load
    finally:
        close_all(opened)


def _engine(name: str):
    if name not in ENGINES:
        raise SystemExit(f"unknown engine {name!r}; one of {sorted(ENGINES)}")
    module, attr = ENGINES[name].split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise SystemExit(f"engine {name!r} is not available ({e})") from None


def text_frame(table):
    """The table's raw cells as a DataFrame of text columns named by the table's column names: its
    records, then the closing summary rows load_table left out (`Table.footer`), as in the file;
    `frame.attrs["footer_rows"]` counts those."""
    import pandas as pd

    footer = [list(r) for r in getattr(table, "footer", [])]
    frame = pd.DataFrame({c.name: pd.Series(c.raw + [r[j] for r in footer], dtype=object)
                          for j, c in enumerate(table.columns)})
    frame.attrs["footer_rows"] = len(footer)
    return frame


def records_frame(frame):
    """`frame` (a text_frame) without its closing summary rows: what an engine whose tables have no
    row order is given, since it cannot tell a last row (EngineSource.has_row_order)."""
    k = int(frame.attrs.get("footer_rows", 0))
    out = frame.iloc[: len(frame) - k] if k else frame
    out.attrs["footer_rows"] = 0
    return out


def run(engine: str, examples_path: Path, root: Path, limit: int, model: str | None = None,
        verbose: bool = False) -> dict[str, Any]:
    from nqa.api import TableQA
    from nqa.wtq import read_examples

    examples = read_examples(examples_path)[:limit]
    qa = TableQA.from_pretrained(model)
    factory = _engine(engine)
    same_values = same_program = same_confidence = asked = rounding = 0
    differences: list[str] = []
    errors = 0
    start = time.perf_counter()
    sources: dict[str, Any] = {}
    with factory() as load:
        for n, ex in enumerate(examples):
            path = root / ex.context
            from nqa.wtq import load_wtq_table

            try:
                table = load_wtq_table(path)
            except ValueError:
                continue  # unreadable in memory: nothing to compare with
            if table.n_rows == 0:
                continue
            if ex.context not in sources:
                name = str(path) if engine == "duckdb-csv" else ex.context
                sources[ex.context] = load(name, text_frame(table))
            asked += 1
            # The first ask about a table encodes its headers afresh, later ones reuse the cached
            # encoding, and the two differ in the last bits (bfloat16 products): compare like with like.
            qa.ask(table, ex.question)
            mem = qa.ask(table, ex.question)
            try:
                eng = qa.ask(sources[ex.context], ex.question)
            except Exception as e:  # a disagreement to report, not a crash of the harness
                errors += 1
                differences.append(f"{ex.id}\t{ex.question}\tERROR {type(e).__name__}: {e}")
                continue
            ok_values = eng.values == mem.values
            if not ok_values and same_up_to_rounding(eng.values, mem.values):
                ok_values, rounding = True, rounding + 1
            ok_program = str(eng.program) == str(mem.program)
            ok_conf = abs(eng.confidence - mem.confidence) < 1e-9
            same_values += ok_values
            same_program += ok_program
            same_confidence += ok_conf
            if not (ok_values and ok_program and ok_conf):
                differences.append(f"{ex.id}\t{ex.question}\tmemory {mem.values} {mem.program} "
                                   f"{mem.confidence:.4f} | {engine} {eng.values} {eng.program} {eng.confidence:.4f}")
            if verbose and (n + 1) % 100 == 0:
                print(f"{n + 1} questions, {same_values} same answers", file=sys.stderr)
    seconds = time.perf_counter() - start
    return {"engine": engine, "questions": asked, "tables": len(sources), "same_values": same_values,
            "same_up_to_rounding": rounding,
            "same_program": same_program, "same_confidence": same_confidence, "errors": errors,
            "seconds": round(seconds, 1), "differences": differences}


def same_up_to_rounding(a: list[str], b: list[str]) -> bool:
    """One number each, equal to 12 significant digits: a sum of doubles added in another order
    (numpy's pairwise sum in memory, the engine's own order) differs in its last bits only."""
    if len(a) != 1 or len(b) != 1:
        return False
    try:
        x, y = float(a[0]), float(b[0])
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)


def main(argv: list[str] | None = None) -> int:
    from nqa.wtq import resolve_root

    p = argparse.ArgumentParser(prog="python -m nqa.sources.agreement", description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", default="duckdb", choices=sorted(ENGINES))
    p.add_argument("--limit", type=int, default=1000, help="the first N dev questions")
    p.add_argument("--examples", default=None, help="WTQ examples TSV (default: random-split-1-dev)")
    p.add_argument("--root", default=None, help="the WTQ dataset root")
    p.add_argument("--model", default=None)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    root = resolve_root(args.root)
    examples = Path(args.examples) if args.examples else root / "data" / "random-split-1-dev.tsv"
    from nqa.api import single_threaded

    single_threaded()
    result = run(args.engine, examples, root, args.limit, args.model, args.verbose)
    for line in result["differences"]:
        print(line)
    print(f"{result['engine']}: {result['questions']} questions on {result['tables']} tables in {result['seconds']} s; "
          f"same answer {result['same_values']} ({result['same_up_to_rounding']} of them up to a float sum's "
          f"last bits), same program {result['same_program']}, "
          f"same confidence {result['same_confidence']}, errors {result['errors']}")
    return 0 if result["same_values"] == result["questions"] and not result["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
