"""What the app shows about a table and an answer, computed without Streamlit.

The Streamlit script stays a thin layer of widgets over these functions, so everything here is
testable with plain pytest: the sample tables, reading an upload within the app's limits, the
highlighted table, and the probability charts' data.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nqa.program import format_number
from nqa.table import Table, TableError, load_table

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"  # in the wheel; data/*.csv link here

# The app's limits (stated in its UI; the byte limit matches nqa/app/.streamlit/config.toml). Uploads
# over MAX_ROWS rows, or over nqa.sources.ENGINE_THRESHOLD bytes, are read and indexed by DuckDB.
MAX_UPLOAD_MB = 256
MAX_ROWS = 20_000
# Tables larger than this many cells are shown without per-cell highlighting (styling is slow).
MAX_STYLED_CELLS = 60_000

ANSWER_COLOR = "background-color: #ffd54f; font-weight: 600"  # amber: the answer cells
ROW_COLOR = "background-color: #e3f2fd"  # light blue: rows the program selected
EVIDENCE_COLOR = "background-color: #90caf9; font-weight: 600"  # blue: the values a step compared


@dataclass(frozen=True)
class Sample:
    """A sample table shipped in nqa/samples/ (data/ in a checkout links there), with questions a newcomer can click."""

    name: str
    title: str
    path: Path
    questions: tuple[str, ...]


SAMPLES = (
    Sample("orders", "Orders of a small furniture shop", SAMPLES_DIR / "orders.csv", (
        "what were total sales in the east?",
        "what is the average total?",
        "which city appears most often?",
        "how many orders have city london and shipping air",
    )),
    Sample("olympics", "Olympic medal table (Tokyo 2020)", SAMPLES_DIR / "olympics.csv", (
        "which nation is ranked after china?",
        "how many nations won more than 10 gold medals?",
        "how many gold medals did japan win?",
    )),
    Sample("planets", "The planets", SAMPLES_DIR / "planets.csv", (
        "which planet has the largest diameter?",
        "how many planets have more than 10 moons?",
        "which planet comes after earth?",
    )),
    Sample("films", "Highest-grossing films", SAMPLES_DIR / "films.csv", (
        "which film has the highest worldwide gross?",
        "how many films did james cameron direct?",
        "how many films were released in 2015?",
    )),
    Sample("cities", "Largest cities", SAMPLES_DIR / "cities.csv", (
        "which city has the largest population?",
        "how many cities are in asia?",
        "what country is lagos in?",
    )),
    Sample("football", "A football season (fictional club)", SAMPLES_DIR / "football.csv", (
        "who did they play after harbour city?",
        "how many home games did they play?",
        "which opponent had the largest attendance?",
    )),
)


def samples() -> list[Sample]:
    """The sample tables present on disk (a wheel install may ship without data/)."""
    return [s for s in SAMPLES if s.path.is_file()]


def read_upload(data: bytes, name: str, max_mb: int = MAX_UPLOAD_MB, max_rows: int = MAX_ROWS) -> Table:
    """A Table from uploaded bytes, within the app's limits; TableError says what is wrong."""
    if not data:
        raise TableError(f"{name}: the file is empty")
    table = load_table(bytes(data), name=name, max_bytes=max_mb * 1024 * 1024)
    if table.n_rows == 0:
        raise TableError(f"{name}: the table has a header but no rows")
    if table.n_rows > max_rows:
        raise TableError(f"{name}: {table.n_rows:,} rows is more than the app's limit of {max_rows:,} "
                         "(the Python API and `nqa ask` have no such limit)")
    return table


def table_frame(table: Table):
    """The table as a DataFrame of its cells as written, with rows numbered from 1."""
    df = table.to_dataframe()
    df.index = range(1, len(df) + 1)
    return df


def cell_styles(n_rows: int, n_cols: int, cells=(), rows=(), evidence=()) -> list[list[str]]:
    """CSS per cell: `rows` tinted, `evidence` cells (row, col) marked as what a step compared, and
    `cells` (row, col; col -1 = the whole row) marked as the answer (which wins over the others).

    Example:
        >>> styles = cell_styles(2, 2, cells=[(1, 0)], rows=[1])
        >>> styles[0] == ["", ""] and styles[1] == [ANSWER_COLOR, ROW_COLOR]
        True
    """
    styles = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    for r in rows:
        styles[r] = [ROW_COLOR] * n_cols
    for r, c in evidence:
        styles[r][c] = EVIDENCE_COLOR
    for r, c in cells:
        if c < 0:
            styles[r] = [ANSWER_COLOR] * n_cols
        else:
            styles[r][c] = ANSWER_COLOR
    return styles


def highlighted(table: Table, cells: Sequence[tuple[int, int]] = (), rows: Sequence[int] = (),
                evidence: Sequence[tuple[int, int]] = ()):
    """The table with `rows` tinted, `evidence` and `cells` marked (see `cell_styles`).

    Returns a pandas Styler, or a plain DataFrame of only the marked rows when the table is too big
    to style cell by cell.
    """
    import pandas as pd

    df = table_frame(table)
    if df.size > MAX_STYLED_CELLS:
        marked_rows = sorted({r for r, _ in cells} | set(rows))
        return df.iloc[marked_rows] if marked_rows else df.head(50)
    n_rows, n_cols = df.shape
    style_frame = pd.DataFrame(cell_styles(n_rows, n_cols, cells, rows, evidence), index=df.index, columns=df.columns)
    return df.style.apply(lambda _: style_frame, axis=None)


def evidence_cells(answer) -> list[tuple[int, int]]:
    """The cells the selection steps looked at: each step's column, in the rows it kept.

    For `argmax(Total) → print(Nation)` that is the Total cell of the winning row: why that row.
    """
    out: list[tuple[int, int]] = []
    for step, rows in zip(answer.program.selection_steps, answer.selections):
        if step.column is not None:
            out.extend((r, step.column) for r in rows[:10_000])
    return out


def top_probs(probs: dict[str, float], k: int = 5, chosen: str | None = None):
    """The `k` most probable choices (plus `chosen`, if it is not among them), most probable first.

    A DataFrame with columns choice, probability, chosen: the data of one small bar chart.

    Example:
        >>> top_probs({"count": 0.2, "argmax": 0.7, "sum": 0.1}, k=2, chosen="sum")
           choice  probability  chosen
        0  argmax          0.7   False
        1   count          0.2   False
        2     sum          0.1    True
    """
    import pandas as pd

    items = sorted(probs.items(), key=lambda kv: -kv[1])
    top = items[:k]
    if chosen is not None and chosen in probs and chosen not in dict(top):
        top.append((chosen, probs[chosen]))
    return pd.DataFrame({"choice": [n for n, _ in top], "probability": [float(p) for _, p in top],
                         "chosen": [n == chosen for n, _ in top]})


def constant_name(constant) -> str:
    """How a question constant is labelled in the probability charts (nqa.decode's naming)."""
    return constant.surface if constant.kind == "text" else (constant.surface or str(constant.number))


def step_charts(step) -> list[tuple[str, object]]:
    """(title, top_probs frame) for each choice the model made at `step`: op, column, constant."""
    charts = [("Operation", top_probs(step.op_probs, chosen=step.op))]
    if step.column is not None and step.column_probs:
        charts.append(("Column", top_probs(step.column_probs, chosen=step.column_name)))
    if step.constant_value is not None and step.constant_probs:
        charts.append(("Value from the question",
                       top_probs(step.constant_probs, chosen=constant_name(step.constant_value))))
    return charts


def halting_frame(program):
    """ACT's weight on answering after 0, 1, 2... selection steps, with the program's own count marked."""
    import pandas as pd

    n = len(program.selection_steps)
    labels = [f"after {t} step{'s' if t != 1 else ''}" for t in range(len(program.halting))]
    return pd.DataFrame({"choice": labels, "probability": [float(w) for w in program.halting],
                         "chosen": [t == n for t in range(len(program.halting))]})


def answer_headline(answer, limit: int = 80) -> str:
    """The answer as a heading: in full when short, else the first items and how many more.

    Example:
        >>> from types import SimpleNamespace
        >>> answer_headline(SimpleNamespace(text="Norway", values=["Norway"]))
        'Norway'
        >>> many = [f"nation {i}" for i in range(20)]
        >>> answer_headline(SimpleNamespace(text=", ".join(many), values=many), limit=40)
        'nation 0, nation 1, nation 2 … (+17 more)'
    """
    if len(answer.text) <= limit:
        return answer.text
    shown: list[str] = []
    for v in answer.values:
        if len(", ".join(shown + [v])) > limit - 10:
            break
        shown.append(v)
    if not shown:
        shown = [answer.values[0][: limit - 10] + "…"]
    return f"{', '.join(shown)} … (+{len(answer.values) - len(shown)} more)"


_STEP_TEXT = {
    "reset": "start again from all rows",
    "filter_eq": "keep the rows whose {col} matches {const}",
    "filter_any": "keep the rows whose {col} matches a value named in the question",
    "filter_gt": "keep the rows whose {col} is greater than {const}",
    "filter_ge": "keep the rows whose {col} is at least {const}",
    "filter_lt": "keep the rows whose {col} is less than {const}",
    "filter_le": "keep the rows whose {col} is at most {const}",
    "argmax": "keep the row with the largest {col}",
    "argmin": "keep the row with the smallest {col}",
    "first": "keep the first of the selected rows",
    "last": "keep the last of the selected rows",
    "previous": "move to the row just above each selected row",
    "next": "move to the row just below each selected row",
    "mfe": "keep the rows holding the most frequent {col}",
    "filter_true": "keep the rows whose {col} is yes",
    "filter_false": "keep the rows whose {col} is no",
    "count": "count the selected rows",
    "sum": "add up the {col} of the selected rows",
    "avg": "average the {col} of the selected rows",
    "max": "take the largest {col} of the selected rows",
    "min": "take the smallest {col} of the selected rows",
    "difference": "take the difference in {col} between the first and the last selected row",
    "count_distinct": "count the different {col} values of the selected rows",
    "share": "give the selected rows as a percentage of all rows",
    "print": "show the {col} of the selected rows",
}


def describe_step(step) -> str:
    """A step in plain English, for people who do not read op names.

    Example:
        >>> from nqa.program import Step
        >>> describe_step(Step("argmax", 2, "Gold"))
        'keep the row with the largest Gold'
    """
    c = step.constant_value
    if c is None:
        const = "a value from the question"
    elif c.kind == "number" and c.number is not None:
        const = f"the year {format_number(c.number)}" if c.is_year and step.op.startswith("filter_") \
            and c.surface.strip() else format_number(c.number)
    else:
        const = f'"{c.surface}"'
    name = step.column_name or "column"
    col = f"“{name}”" if " " in name else name
    return _STEP_TEXT.get(step.op, step.op).format(col=col, const=const)


def step_label(i: int, n_selection: int) -> str:
    """'Step 2 (selects rows)' or 'Final step (gives the answer)'."""
    return f"Step {i + 1} · selects rows" if i < n_selection else f"Step {i + 1} · gives the answer"
