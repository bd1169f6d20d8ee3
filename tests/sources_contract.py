"""Checks every engine source must pass (nqa/sources/base.py), shared by the DuckDB, PostgreSQL and
Spark tests: hostile names and values, every op's SQL against the exact executor, read-only queries.

    frame = hostile_frame()                       # text columns, as a CSV would give them
    source = <put frame in the engine as table HOSTILE_TABLE, and open it>
    assert_programs_agree(source, frame, QUESTIONS)
"""
from __future__ import annotations

import pandas as pd

from nqa.executor import run_programs
from nqa.program import OPS_WITH_COLUMN, OPS_WITH_CONSTANT, SELECT_OPS, Program, Step
from nqa.question import parse_question
from nqa.sources import EngineSource, profile, question_table
from nqa.sources.agreement import same_up_to_rounding
from nqa.sources.answer import run_programs as run_in_engine
from nqa.table import Table, load_table

HOSTILE_TABLE = 'orders"; DROP TABLE x; --'
HOSTILE_COLUMNS = ["Region", 'Name"); DROP TABLE t; --', "it's", "SELECT", "Total ($)", "Date", "Returned?",
                   "row_id", "naïve %_col"]
QUESTIONS = [
    "how many orders from o'brien in the east were returned?",
    "which name has the highest total after 2019?",
    "how many orders in march were over 1,000 for 50%_off?",
]


def hostile_frame() -> pd.DataFrame:
    """Text cells as a CSV gives them: quotes, LIKE wildcards, backslashes, SQL, NULLs, numbers with
    separators and currency, dates in several forms, a yes/no column, accents."""
    rows = [
        ["East", "O'Brien", "a'b", "DROP TABLE t", "$1,200.50", "January 5, 2020", "yes", "1", "café"],
        ["West", 'Say "hi"', "x\\y", "SELECT 1; --", "300", "2021-03-01", "no", "2", "50%_off"],
        ["east", "o'brien", "", "';--", "$12", "March 9, 2019", "Yes", "3", "cafe"],
        ["North", None, "%", "_", "", "2020", None, "4", None],
        ["East", "Zoë", "it's", "t", "1,000", "March 2021", "n", "5", "naïve"],
        ["South", "O'Brien", "a'b", "x", "-7.5", "5 March 2019", "y", "6", "50%_off"],
    ]
    return pd.DataFrame(rows, columns=HOSTILE_COLUMNS, dtype=object)


def in_memory(frame: pd.DataFrame) -> Table:
    """The frame as the in-memory path reads it (NULL -> empty cell)."""
    return load_table(frame.fillna(""))


def all_programs(table: Table, n_constants: int) -> list[Program]:
    """Every op once per column and constant: one selection step then a terminal, plus terminals
    alone and a few two-step chains (next/previous/first/last after a filter)."""
    C = table.n_cols
    out = [Program([Step("count")]), Program([Step("share")])]
    out += [Program([Step(t, j)]) for j in range(C) for t in ("print", "sum", "avg", "max", "min", "difference",
                                                                 "count_distinct")]
    selections: list[Step] = []
    for op in SELECT_OPS:
        if op in OPS_WITH_CONSTANT:
            selections += [Step(op, j, constant=k) for j in range(C) for k in range(n_constants)]
        elif op in OPS_WITH_COLUMN:
            selections += [Step(op, j) for j in range(C)]
        else:
            selections.append(Step(op))
    terminals = [Step("count"), Step("print", 1), Step("sum", C - 1), Step("difference", 0), Step("share")]
    for i, s in enumerate(selections):  # each selection with two terminals, in turn
        out += [Program([s, terminals[i % len(terminals)]]), Program([s, terminals[(i + 2) % len(terminals)]])]
    moves = ("next", "previous", "first", "last")
    for i, s in enumerate(selections[::4]):
        out.append(Program([s, Step(moves[i % 4]), Step("print", 0)]))
    return out


def assert_programs_agree(source: EngineSource, frame: pd.DataFrame, questions: list[str]) -> int:
    """Every program of all_programs gives the same values in the engine as the exact executor gives
    in memory, for each question's constants; the parsed constants are the same. Returns the count."""
    table = in_memory(frame)
    base = profile(source)
    assert base.column_names == table.column_names
    assert [c.kind for c in base.columns] == [c.kind for c in table.columns]
    checked = 0
    for q in questions:
        qt = question_table(source, base, q)
        mem_q, eng_q = parse_question(q, table), parse_question(q, qt)
        assert mem_q.constants == eng_q.constants, q
        programs = all_programs(table, len(mem_q.constants))
        expected = run_programs(programs, table, mem_q)
        got = run_in_engine(source, qt, programs, eng_q)
        for p, e, g in zip(programs, expected, got):
            assert (e is None) == (g is None), (q, str(p))
            if e is not None and g is not None:
                # A sum of doubles the engine added in another order (DuckDB may split even a small
                # table across threads) differs in its last bits only (docs/ops.md).
                summed = p.steps[-1].op in ("sum", "avg")
                assert g.values == e.values or (summed and same_up_to_rounding(g.values, e.values)), \
                    (q, str(p), e.values, g.values)
                checked += 1
    return checked


def assert_read_only(source: EngineSource) -> None:
    """Statements that write are refused before the engine sees them."""
    import pytest

    from nqa.sources import SourceQueryError

    for sql in ("DROP TABLE t", "INSERT INTO t VALUES (1)", "SELECT 1; DROP TABLE t", "DELETE FROM t",
                "CREATE TABLE x AS SELECT 1", "UPDATE t SET a = 1"):
        with pytest.raises(SourceQueryError):
            source.query(sql)
