"""Answers computed by the engine: the beam's programs run as SQL where the table lives.

The same rule as the in-memory path (nqa.api._answer, nqa.reranker.pick_run): the checkpoint's
reranker's choice among the beam's answers (without one, the first program whose run gives a
non-empty answer), confidence the summed probability of the beam's programs giving
the same values. Only the SQL runner differs: each program's SELECT (nqa.sources.relation) runs in
the engine and its rows are formatted as the exact executor formats its answer. Printed cells come
with their row positions (Answer.cells), at most PRINT_LIMIT of them (a longer list is cut and the
answer says so); other answers list no cells (counting 10 million rows does not list them), and
per-step selections are not fetched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlglot import exp

from nqa.executor import Execution, gives_answer
from nqa.program import Program, format_number
from nqa.question import Question
from nqa.sources.base import EngineSource, SourceQueryError
from nqa.sources.profile import ProfileTable, value_text
from nqa.sources.relation import engine_query
from nqa.sql import SQLError

PRINT_LIMIT = 10_000  # cells a printed answer returns at most on the engine path
LARGE_TABLE_ROWS = 1_000_000  # from this many rows, unlikely alternatives are not run (run_programs)
MIN_ALTERNATIVE_PROBABILITY = 0.05


@dataclass
class EngineExecution(Execution):
    """An Execution computed by the engine; `truncated`: a printed answer had more than PRINT_LIMIT
    cells and holds the first PRINT_LIMIT (the answer then says so: `truncation_note`)."""

    truncated: bool = False


def truncation_note(ex: Execution) -> str | None:
    """Why an engine answer is partial (shown like an unsure reason), or None."""
    if isinstance(ex, EngineExecution) and ex.truncated:
        return (f"the answer lists more than {PRINT_LIMIT:,} cells; these are the first {PRINT_LIMIT:,} in "
                "row order (ask a narrower question, or run the SQL for all of them)")
    return None


def run_program(source: EngineSource, table: ProfileTable, program: Program, question: Question | None
                ) -> Execution | None:
    """The program's answer as the engine computes it; None when the program does not fit the table."""
    try:
        query = engine_query(source, table, program, question)
    except SQLError:
        return None
    op = program.terminal.op
    select = query.select
    if op == "print":
        row_id = exp.Column(this=exp.Identifier(this=_row_id_name(select), quoted=True))
        select = select.select(row_id, copy=False).limit(PRINT_LIMIT + 1, copy=False)
    rows = source.query(select)
    if op == "print":
        truncated = len(rows) > PRINT_LIMIT
        rows = rows[:PRINT_LIMIT]
        values = [value_text(r[0]) for r in rows]
        assert program.terminal.column is not None
        cells = [(int(r[1]), int(program.terminal.column)) for r in rows]
        return EngineExecution(values, None, np.zeros(0, dtype=bool), [], cells, truncated=truncated)
    if len(rows) > 1 or any(len(r) != 1 for r in rows):
        raise SourceQueryError(f"{source.name}: {op} should give one value, the engine gave {rows[:3]!r}")
    if rows and rows[0][0] is None:
        return Execution([], None, np.zeros(0, dtype=bool), [], [])
    number = float(rows[0][0]) if rows else None
    values = [format_number(number)] if number is not None else []
    return Execution(values, number, np.zeros(0, dtype=bool), [], [])


def _row_id_name(select: exp.Select) -> str:
    """The row id column the print query orders by."""
    order = select.args.get("order")
    assert order is not None and order.expressions, "print orders by the row id"
    return order.expressions[0].this.name if isinstance(order.expressions[0], exp.Ordered) \
        else order.expressions[0].name


def run_programs(source: EngineSource, table: ProfileTable, programs: list[Program],
                 question: Question | None) -> list[Execution | None]:
    """The beam's runs, best first (None: did not fit, or not run). On a table of LARGE_TABLE_ROWS or
    more, once a program has given an answer, the later ones below MIN_ALTERNATIVE_PROBABILITY are
    not run (on 10 million rows each costs up to seconds). Without a reranker the chosen answer is
    the one the in-memory rule picks; a reranker cannot pick an answer that was not run. The
    confidence sums the programs that ran, a lower bound as always (nqa.ensemble.beam_probability), short
    by less than that probability per program left out."""
    large = table.source_rows >= LARGE_TABLE_ROWS
    runs: list[Execution | None] = []
    answered = False
    for p in programs:
        if large and answered and p.probability < MIN_ALTERNATIVE_PROBABILITY:
            runs.append(None)
            continue
        ran = run_program(source, table, p, question)
        answered = answered or gives_answer(ran)  # as choose_run: blank cells are no answer
        runs.append(ran)
    return runs
