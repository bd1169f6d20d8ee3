"""The exact executor: runs a Program on a Table with the exact ops of nqa/ops.py."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nqa import ops
from nqa.program import Program
from nqa.question import Question, match_matrix
from nqa.table import Table


@dataclass
class Execution:
    values: list[str]  # the answer items
    number: float | None  # the numeric result of count/sum/avg/max/min/difference
    selection: np.ndarray  # bool (rows,) the final row selection
    selections: list[np.ndarray] = field(default_factory=list)  # after each selection step
    cells: list[tuple[int, int]] = field(default_factory=list)  # (row, col) the answer used


class ProgramError(ValueError):
    """A program refers to a column or constant the table or question does not have."""


def execute(program: Program, table: Table, question: Question, match: np.ndarray | None = None) -> Execution:
    """Run `program`; `match` (constants, rows, cols) may be passed in when already computed."""
    if match is None:
        match = match_matrix(question, table)
    n = table.n_rows
    s = np.ones(n, dtype=bool)
    selections = []
    for step in program.selection_steps:
        s = select_step(step.op, s, table, question, match, step.column, step.constant)
        selections.append(s)
    term = program.terminal
    col = _column(table, term.column) if term.op not in ("count", "share") else None
    values, number, rows = ops.exact_terminal(
        term.op, s, col.values if col is not None else None, col.raw if col is not None else None,
        col.text if col is not None else None)
    if term.op in ("count", "share"):
        cells = [(int(i), -1) for i in rows]
    else:
        assert term.column is not None  # every terminal but count and share reads a column
        cells = [(int(i), int(term.column)) for i in rows]
    return Execution(values, number, s, selections, cells)


def select_step(op: str, s: np.ndarray, table: Table, question: Question, match: np.ndarray,
                column: int | None, constant: int | None) -> np.ndarray:
    """One selection op on the current selection `s` (bool, rows)."""
    if op == "reset":
        return ops.exact_reset(s)
    if op == "first":
        return ops.exact_first(s)
    if op == "last":
        return ops.exact_first(s, last=True)
    if op == "previous":
        return ops.exact_shift(s, -1)
    if op == "next":
        return ops.exact_shift(s, +1)
    col = _column(table, column)
    if op == "filter_any":
        text_ks = [k for k, c in enumerate(question.constants) if c.kind == "text"]
        return ops.exact_filter_any(s, match[text_ks, :, column] if text_ks else np.zeros((0, len(s)), bool))
    if op == "argmax":
        return ops.exact_argmax(s, col.values)
    if op == "argmin":
        return ops.exact_argmax(s, col.values, largest=False)
    if op == "mfe":
        return ops.exact_mfe(s, col.text)
    if op in ("filter_true", "filter_false"):
        return ops.exact_filter_flag(s, col.flags, op == "filter_true")
    if constant is None or not 0 <= constant < len(question.constants):
        raise ProgramError(f"{op} needs a question constant, got {constant}")
    if op == "filter_eq":
        return ops.exact_filter_eq(s, match[constant, :, column])
    if op in ("filter_gt", "filter_ge", "filter_lt", "filter_le"):
        const = question.constants[constant]
        if const.kind != "number":  # a month or a text compares with nothing
            return np.zeros_like(s, dtype=bool)
        values = col.years if const.is_year and col.kind == "date" else col.values
        return ops.exact_compare(op, s, values, const.number)
    raise ProgramError(f"unknown selection op {op!r}")


def _column(table: Table, column: int | None):
    if column is None or not 0 <= column < table.n_cols:
        raise ProgramError(f"column {column} is not in the table ({table.n_cols} columns)")
    return table.columns[column]


def run_programs(programs: list[Program], table: Table, question: Question,
                 match: np.ndarray | None = None) -> list[Execution | None]:
    """Exact runs of decoded programs, best first; None where a program does not fit the table."""
    if match is None:
        match = match_matrix(question, table)
    runs: list[Execution | None] = []
    for program in programs:
        try:
            runs.append(execute(program, table, question, match))
        except ProgramError:
            runs.append(None)
    return runs


# Cells that say "nothing here": an answer of these alone is no answer (12 WTQ split-1 dev answers of
# u12r were blank cells, none right).
BLANK_MARKS = frozenset({"", "-", "\u2013", "\u2014", "n/a", "na", "none", "?"})


def gives_answer(ex: Execution | None) -> bool:
    """A run whose answer has an item that is not blank ('', '-', 'n/a'...)."""
    return ex is not None and any(v.strip().lower() not in BLANK_MARKS for v in ex.values)


def choose_run(runs: list[Execution | None]) -> int | None:
    """Execution-guided decoding, the one rule the API, `nqa predict` and dev evaluation share:
    the first run that gives an answer (`gives_answer`), else the first with any value, else the
    first that ran; None when none ran."""
    chosen = next((i for i, ex in enumerate(runs) if gives_answer(ex)), None)
    if chosen is None:
        chosen = next((i for i, ex in enumerate(runs) if ex is not None and ex.values), None)
    if chosen is None:
        chosen = next((i for i, ex in enumerate(runs) if ex is not None), None)
    return chosen
