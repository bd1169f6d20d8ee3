"""Programs: what the model decided, step by step, in a form people, executors and SQL can read.

A Program is a list of Steps. Every step but the last is a row-selection op (it changes the current
row selection, which starts as all rows); the last step is a terminal op that turns the selection
into the answer. The number of selection steps is chosen by ACT; `halting` holds its step weights.
A program's SQL is `nqa.sql.program_to_sql(program, table, dialect)` (sql.py reads programs; this
module knows nothing of SQL).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nqa.question import Constant

# Row-selection ops (see nqa/ops.py for their soft and exact meaning).
SELECT_OPS = (
    "reset", "filter_eq", "filter_any", "filter_gt", "filter_ge", "filter_lt", "filter_le",
    "argmax", "argmin", "first", "last", "previous", "next", "mfe", "filter_true", "filter_false",
)
# Terminal ops: turn the final selection into the answer.
TERMINAL_OPS = ("count", "sum", "avg", "max", "min", "difference", "count_distinct", "share", "print")
OPS = SELECT_OPS + TERMINAL_OPS

OPS_WITH_COLUMN = {
    "filter_eq", "filter_any", "filter_gt", "filter_ge", "filter_lt", "filter_le", "argmax", "argmin", "mfe",
    "sum", "avg", "max", "min", "difference", "print", "filter_true", "filter_false", "count_distinct",
}
OPS_WITH_CONSTANT = {"filter_eq", "filter_gt", "filter_ge", "filter_lt", "filter_le"}


@dataclass
class Step:
    op: str
    column: int | None = None  # column index in the table
    column_name: str | None = None
    constant: int | None = None  # index into Question.constants
    constant_value: Constant | None = None
    op_prob: float = 1.0
    column_prob: float = 1.0
    constant_prob: float = 1.0
    # The model's full distributions at this step, for display (names -> probability).
    op_probs: dict[str, float] = field(default_factory=dict)
    column_probs: dict[str, float] = field(default_factory=dict)
    constant_probs: dict[str, float] = field(default_factory=dict)

    @property
    def probability(self) -> float:
        p = self.op_prob
        if self.op in OPS_WITH_COLUMN:
            p *= self.column_prob
        if self.op in OPS_WITH_CONSTANT:
            p *= self.constant_prob
        return p

    def __str__(self) -> str:
        args = []
        if self.op in OPS_WITH_COLUMN:
            args.append(self.column_name if self.column_name is not None else f"col{self.column}")
        if self.op in OPS_WITH_CONSTANT:
            c = self.constant_value
            if c is None:
                args.append(f"const{self.constant}")
            elif c.kind == "number":
                args.append(_fmt_number(c.number))
            else:
                args.append(f'"{c.norm}"')
        return f"{self.op}({', '.join(args)})" if args else self.op


@dataclass
class Program:
    steps: list[Step]
    halting: list[float] = field(default_factory=list)  # ACT step weights p_t of the selection steps
    # decoding added a filter on a cell the question names and the model left unused
    # (nqa.decode.COVER_CELL_CONSTANTS); the program's probability is still the model's, so such an
    # answer is usually shown as unsure (on WTQ dev 27% of them were right, 67% on the user benchmark)
    covered: bool = False

    @property
    def selection_steps(self) -> list[Step]:
        return self.steps[:-1]

    @property
    def terminal(self) -> Step:
        return self.steps[-1]

    @property
    def probability(self) -> float:
        p = 1.0
        for s in self.steps:
            p *= s.probability
        return p

    def __str__(self) -> str:
        return " → ".join(str(s) for s in self.steps)


def _fmt_number(x: float | None) -> str:
    if x is None:
        return "null"
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.6g}"


def format_number(x: float) -> str:
    """How a numeric answer value is written: exactly the double `x`, so `float(format_number(x)) == x`.

    Integers are written without a decimal point, other numbers as Python's shortest repr. The SQL
    of a program returns this same double (nqa/sql.py; docs/ops.md says how sums are ordered), so
    an answer's values are its SQL's values. Rounding is for display only: `display_number`.

    >>> format_number(3.0), format_number(-0.0), format_number(18.714347826086954), format_number(1 / 3)
    ('3', '0', '18.714347826086954', '0.3333333333333333')
    """
    if x != x:  # NaN
        return ""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def display_number(x: float) -> str:
    """How a number is shown to people: integers without decimals, others to at most 4 decimals.

    The value is first rounded to 12 significant digits (never to fewer than 4 decimals), so that
    float noise from a different summation order (SQLite >= 3.43 sums with compensation, DuckDB
    sums large tables in parallel) cannot move a value across a 4-decimal rounding boundary:
    the mean of 1.34, 8.47, 7.64, 2.55, 4.95, 4.49, 6.52, 7.89 is 5.481249999999999 summed in row
    order and 5.48125 summed pairwise, and both show as 5.4813.

    >>> display_number(5.481249999999999) == display_number(5.48125)
    True
    >>> display_number(3.0000000000000004), display_number(2.5), display_number(1 / 3), display_number(-0.0)
    ('3', '2.5', '0.3333', '0')
    """
    if x != x:  # NaN
        return ""
    if x != 0 and not math.isinf(x):
        x = round(x, max(4, 11 - math.floor(math.log10(abs(x)))))
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4f}".rstrip("0").rstrip(".")


def answer_text(values: list[str], terminal_op: str) -> str:
    """An answer for display: the items joined by ", " with numbers rounded (`display_number`), or
    "(no answer)". Only a `print` answer holds cell texts, which are shown as they are.

    >>> answer_text(["18.714347826086954"], "avg"), answer_text(["18.714347826086954"], "print")
    ('18.7143', '18.714347826086954')
    """
    if not values:
        return "(no answer)"
    if terminal_op == "print":
        return ", ".join(values)
    return ", ".join(display_number(float(v)) for v in values)
