"""What the app shows about a table and an answer, computed without Streamlit.

The Streamlit script stays a thin layer of widgets over these functions, so everything here is
testable with plain pytest: the sample tables, reading an upload within the app's limits, the
highlighted table, and the probability charts' data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nqa.table import Table, TableError, load_table

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data"

# The app's limits (stated in its UI; the byte limit matches app/.streamlit/config.toml).
MAX_UPLOAD_MB = 10
MAX_ROWS = 20_000
# Tables larger than this many cells are shown without per-cell highlighting (styling is slow).
MAX_STYLED_CELLS = 60_000

ANSWER_COLOR = "background-color: #ffd54f; font-weight: 600"  # amber: the answer cells
ROW_COLOR = "background-color: #e3f2fd"  # light blue: rows the program selected


@dataclass(frozen=True)
class Sample:
    """A sample table shipped in data/, with questions a newcomer can click."""

    name: str
    title: str
    path: Path
    questions: tuple[str, ...]


SAMPLES = (
    Sample("olympics", "Olympic medal table (Tokyo 2020)", SAMPLES_DIR / "olympics.csv", (
        "which country won the most gold medals?",
        "how many nations won more than 10 gold medals?",
        "what is the total number of bronze medals?",
    )),
    Sample("planets", "The planets", SAMPLES_DIR / "planets.csv", (
        "which planet has the most moons?",
        "how many planets have rings?",
        "which planet is closest to the sun?",
    )),
    Sample("films", "Highest-grossing films", SAMPLES_DIR / "films.csv", (
        "how many films did james cameron direct?",
        "which film was released first?",
        "what is the worldwide gross of titanic?",
    )),
    Sample("cities", "Largest cities", SAMPLES_DIR / "cities.csv", (
        "which city has the largest population?",
        "how many cities are in asia?",
        "what is the total population of cities in europe?",
    )),
    Sample("football", "A football season (fictional club)", SAMPLES_DIR / "football.csv", (
        "who did they play after harbour city?",
        "how many games did they win?",
        "what was the highest attendance?",
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


def cell_styles(n_rows: int, n_cols: int, cells=(), rows=()) -> list[list[str]]:
    """CSS per cell: `rows` tinted, `cells` (row, col; col -1 = the whole row) marked as the answer."""
    styles = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    for r in rows:
        styles[r] = [ROW_COLOR] * n_cols
    for r, c in cells:
        if c < 0:
            styles[r] = [ANSWER_COLOR] * n_cols
        else:
            styles[r][c] = ANSWER_COLOR
    return styles


def highlighted(table: Table, cells: list[tuple[int, int]] = (), rows: list[int] = ()):
    """The table with `rows` tinted and `cells` marked as the answer (see `cell_styles`).

    Returns a pandas Styler, or a plain DataFrame of only the marked rows when the table is too big
    to style cell by cell.
    """
    import pandas as pd

    df = table_frame(table)
    if df.size > MAX_STYLED_CELLS:
        marked_rows = sorted({r for r, _ in cells} | set(rows))
        return df.iloc[marked_rows] if marked_rows else df.head(50)
    style_frame = pd.DataFrame(cell_styles(*df.shape, cells, rows), index=df.index, columns=df.columns)
    return df.style.apply(lambda _: style_frame, axis=None)


def top_probs(probs: dict[str, float], k: int = 5):
    """The `k` most probable choices as a one-column DataFrame, most probable first (for a bar chart)."""
    import pandas as pd

    items = sorted(probs.items(), key=lambda kv: -kv[1])[:k]
    return pd.DataFrame({"probability": [p for _, p in items]}, index=[n for n, _ in items])


def step_label(i: int, n_selection: int) -> str:
    """'Step 2 (selects rows)' or 'Final step (gives the answer)'."""
    return f"Step {i + 1} · selects rows" if i < n_selection else f"Step {i + 1} · gives the answer"
