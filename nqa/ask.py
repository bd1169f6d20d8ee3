"""`nqa ask TABLE "question"`: one answer, readable by people (default) or programs (--json).

TABLE is a CSV/TSV, Parquet, .xlsx or JSON-lines file (big ones are read in place by DuckDB), a DuckDB
database file (`--table NAME` when it holds several), or a postgresql:// URL with `--table`;
`--order-by COL` says which column orders the rows of a table kept in an engine (nqa.sources).

Imports stay lazy (torch and transformers load only once the input is known to be good) so that a
typo costs milliseconds and a cold answer stays within a few seconds.
"""
from __future__ import annotations

import json
import os
import sys
import textwrap


def cli_ask(args) -> int:
    """Run `nqa ask`; exit status 0 on an answer, 2 on bad input (message on stderr, no traceback)."""
    from nqa.table import TableError

    try:
        from nqa.api import as_source, check_question

        question = check_question(args.question)
        dialect = _check_dialect(args.dialect) if args.dialect else None
        if getattr(args, "source_table", None) is not None or getattr(args, "order_by", None) is not None:
            from nqa.sources import open_source

            table = as_source(open_source(args.table, table=args.source_table, order_by=args.order_by))
        else:
            table = as_source(args.table)
    except (TableError, ValueError) as e:
        return _fail(e)
    from nqa.api import CheckpointError, TableQA, single_threaded

    single_threaded()
    try:
        qa = TableQA.from_pretrained(args.model)
    except (CheckpointError, ValueError) as e:
        return _fail(e)
    try:
        _index(table)
        answer = qa.ask(table, question)
    except TableError as e:  # a table kept in an engine: a lost connection, a refused query
        return _fail(e)
    native = answer.source.dialect if answer.source is not None else "sqlite"
    dialect = dialect or native
    sql = answer.sql if dialect == native else answer.to_sql(dialect)
    if args.json:
        out = answer.to_dict()
        out["table"] = str(args.table)
        out["dialect"] = dialect
        out["sql"] = sql
        text = json.dumps(out, ensure_ascii=False, indent=2)
    else:
        text = format_answer(answer, sql, dialect)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `nqa ask ... | head`: the reader left; not an error worth a traceback
        sys.stdout = open(os.devnull, "w")
    return 0


def _index(table) -> None:
    """Profile a table kept in an engine now, showing progress on a terminal (a big one takes seconds)."""
    from nqa.sources import EngineSource, profile

    if not isinstance(table, EngineSource):
        return
    if not sys.stderr.isatty():
        profile(table)
        return

    def show(fraction: float, message: str) -> None:
        print(f"\r\033[Kindexing {table.name}: {fraction:.0%} {message}", end="", file=sys.stderr, flush=True)

    profile(table, progress=show)
    print("\r\033[K", end="", file=sys.stderr, flush=True)


def format_answer(answer, sql: str, dialect: str) -> str:
    """The human-readable report: answer, confidence, program, cells, SQL."""
    from nqa.table import footer_note

    steps = "step" if answer.n_steps == 1 else "steps"
    if answer.unsure:
        head = [f"Answer:      I don't know: {answer.unsure}",
                f"Best guess:  {answer.text}"]
    else:
        head = [f"Answer:      {answer.text}"]
    lines = head + [
        f"Confidence:  {answer.confidence:.0%}",
        f"Program:     {answer.program}   ({answer.n_steps} {steps})",
    ]
    if answer.program.halting:
        weights = " ".join(f"{p:.2f}" for p in answer.program.halting)
        lines.append(f"Halting:     {weights}   (ACT weight of answering after 0, 1, 2… selection steps)")
    if answer.cells:
        names = answer.table.column_names
        more = f" (+{len(answer.cells) - 8} more)" if len(answer.cells) > 8 else ""
        if all(c < 0 for _, c in answer.cells):  # count: whole rows
            lines.append("Rows:        " + ", ".join(str(r + 1) for r, _ in answer.cells[:8]) + more)
        else:
            shown = ", ".join(f"row {r + 1} {names[c]!r}" for r, c in answer.cells[:8])
            lines.append(f"Cells:       {shown}{more}")
    note = footer_note(getattr(answer.table, "footer", []))
    if note:
        lines.append(f"Note:        {note[:1].upper()}{note[1:]}.")
    lines.append(f"SQL ({dialect}):")
    lines.append(textwrap.indent(sql, "  "))
    return "\n".join(lines)


def _check_dialect(dialect: str) -> str:
    import sqlglot.dialects

    name = (dialect or "sqlite").lower()
    if name not in sqlglot.dialects.Dialect.classes:
        raise ValueError(f"unknown SQL dialect {dialect!r}; try sqlite, duckdb, postgres, mysql or bigquery")
    return name


def _fail(error: Exception) -> int:
    print(f"nqa ask: error: {error}", file=sys.stderr)
    return 2
