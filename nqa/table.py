"""Tables as the model and the executors see them: columns of typed, normalised cells.

Storage is columnar (one numpy array per column for numbers) so that ops over 100k-row tables stay
vectorised; `Table.cell(i, j)` gives a per-cell view when one is needed.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np


class TableError(ValueError):
    """A table could not be read; the message says what to fix."""


@dataclass(frozen=True)
class Date:
    """A possibly partial calendar date (any field may be unknown)."""

    year: int | None = None
    month: int | None = None
    day: int | None = None

    def ordinal(self) -> float:
        """A sortable number: the year, with month and day as fractions (NaN without a year)."""
        if self.year is None:
            return math.nan
        return self.year + ((self.month or 1) - 1) / 12 + ((self.day or 1) - 1) / 372

    def iso(self) -> str:
        """yyyy-mm-dd with xx for unknown parts, the form WTQ's evaluator uses."""
        y = f"{self.year:04d}" if self.year is not None else "xxxx"
        m = f"{self.month:02d}" if self.month is not None else "xx"
        d = f"{self.day:02d}" if self.day is not None else "xx"
        return f"{y}-{m}-{d}"


@dataclass(frozen=True)
class Cell:
    raw: str
    text: str  # normalised: see normalize_text
    number: float | None
    date: Date | None

    @property
    def value(self) -> float | None:
        """The number the numeric ops compare: the number, else the date's ordinal."""
        if self.number is not None:
            return self.number
        if self.date is not None and self.date.year is not None:
            return self.date.ordinal()
        return None


@dataclass
class Column:
    name: str  # unique, non-empty display name
    raw_name: str  # the header as it was in the file
    raw: list[str]  # cell texts as read
    text: list[str]  # normalised cell texts (normalize_text)
    numbers: np.ndarray  # (rows,) float64, NaN where the cell is not a number
    dates: list[Date | None]
    kind: str  # "number" | "date" | "text"
    values: np.ndarray = field(init=False)  # (rows,) float64 for comparisons: number, else date ordinal

    def __post_init__(self) -> None:
        date_ord = np.array([d.ordinal() if d is not None else math.nan for d in self.dates], dtype=np.float64)
        self.values = np.where(np.isnan(self.numbers), date_ord, self.numbers) if len(self.raw) else np.zeros(0)


@dataclass
class Table:
    columns: list[Column]
    source: str = "<table>"

    @property
    def n_rows(self) -> int:
        return len(self.columns[0].raw) if self.columns else 0

    @property
    def n_cols(self) -> int:
        return len(self.columns)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def cell(self, i: int, j: int) -> Cell:
        c = self.columns[j]
        num = c.numbers[i]
        return Cell(c.raw[i], c.text[i], None if math.isnan(num) else float(num), c.dates[i])

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame({c.name: c.raw for c in self.columns})

    def __repr__(self) -> str:
        return f"Table({self.source!r}, {self.n_rows} rows x {self.n_cols} cols: {self.column_names[:8]})"


# ---------------------------------------------------------------------------------------------
# normalisation and cell parsing


_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=200_000)
def normalize_text(s: str) -> str:
    """Lower-case, accents stripped, punctuation to spaces, spaces collapsed.

    Two strings match as table values when their normalised forms are equal, or when one's tokens
    are a contiguous run of the other's (see `contains_tokens`).
    """
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", s.lower()).strip()


def contains_tokens(haystack: str, needle: str) -> bool:
    """Whether normalised `needle` is a contiguous token run of normalised `haystack`."""
    if not needle:
        return False
    return f" {needle} " in f" {haystack} "


_NUMBER = re.compile(
    r"""^\s*(?P<sign>[-+−–])?\s*(?P<cur>[$€£¥₹])?\s*(?P<num>(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|\.\d+)
        \s*(?P<suffix>%|st\b|nd\b|rd\b|th\b)?""",
    re.VERBOSE,
)


@lru_cache(maxsize=200_000)
def parse_number(s: str) -> float | None:
    """The number a cell reads as: '1,234.5', '-3', '45%', '$12', '1st', '12 km' (leading number)."""
    m = _NUMBER.match(s)
    if not m:
        return None
    rest = s[m.end():]
    # "1999-2000" style ranges and "3-1" scores read as their leading number; "12a" does not.
    if rest[:1].isalpha() and not rest[:1].isspace() and m.group("suffix") is None:
        return None
    try:
        x = float(m.group("num").replace(",", ""))
    except ValueError:
        return None
    if m.group("sign") in ("-", "−", "–"):
        x = -x
    return x


_MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"])}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(rf"^({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})$"), ("M", "d", "y")),
    (re.compile(rf"^(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})$"), ("d", "M", "y")),
    (re.compile(rf"^({_MONTH_RE})\.?,?\s+(\d{{4}})$"), ("M", "y")),
    (re.compile(rf"^({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?$"), ("M", "d")),
    (re.compile(rf"^(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?$"), ("d", "M")),
    (re.compile(r"^(\d{4})\s*[-–]\s*(?:\d{2}|\d{4})$"), ("y",)),
    (re.compile(r"^(\d{4})$"), ("y",)),
]


@lru_cache(maxsize=200_000)
def parse_date(s: str) -> Date | None:
    """Full and partial dates: '1995', 'January 26, 1995', '26 Jan 1995', '1995-01-26', '1999-2000'."""
    t = s.strip().lower()
    for pattern, fields in _DATE_PATTERNS:
        m = pattern.match(t)
        if not m:
            continue
        parts: dict[str, int] = {}
        for key, g in zip(fields, m.groups()):
            parts[key.lower()] = _MONTHS[g.rstrip(".")] if key == "M" else int(g)
        y, mo, d = parts.get("y"), parts.get("m"), parts.get("d")
        if mo is not None and not 1 <= mo <= 12:
            return None
        if d is not None and not 1 <= d <= 31:
            return None
        if y is not None and not 1000 <= y <= 2999:
            return None
        return Date(y, mo, d)
    return None


def infer_kind(numbers: np.ndarray, dates: list[Date | None], raw: list[str]) -> str:
    """A column is numeric/date when most of its non-empty cells read as such."""
    filled = [i for i, r in enumerate(raw) if r.strip()]
    if not filled:
        return "text"
    n_num = int(np.sum(~np.isnan(numbers[filled])))
    n_date = sum(1 for i in filled if dates[i] is not None and (dates[i].month is not None))
    if n_date >= 0.6 * len(filled):
        return "date"
    if n_num >= 0.6 * len(filled):
        return "number"
    return "text"


def make_column(name: str, raw_name: str, raw: list[str]) -> Column:
    numbers = np.array([math.nan if (x := parse_number(r)) is None else x for r in raw], dtype=np.float64)
    dates = [parse_date(r) for r in raw]
    return Column(name=name, raw_name=raw_name, raw=raw, text=[normalize_text(r) for r in raw],
                  numbers=numbers, dates=dates, kind=infer_kind(numbers, dates, raw))


def unique_names(headers: list[str]) -> list[str]:
    """Blank headers become 'column N'; duplicates get ' (2)', ' (3)'..."""
    out: list[str] = []
    seen: set[str] = set()
    for j, h in enumerate(headers):
        base = " ".join(str(h).split()) or f"column {j + 1}"
        name, k = base, 2
        while name.lower() in seen:
            name, k = f"{base} ({k})", k + 1
        seen.add(name.lower())
        out.append(name)
    return out


def table_from_rows(headers: list[str], rows: list[list[str]], source: str = "<table>") -> Table:
    """Build a Table from a header and string rows (ragged rows padded or cut to the header)."""
    width = max([len(headers)] + [len(r) for r in rows]) if rows else len(headers)
    headers = list(headers) + [""] * (width - len(headers))
    if width == 0:
        raise TableError(f"{source}: the table has no columns")
    names = unique_names(headers)
    cols = []
    for j in range(width):
        raw = [("" if j >= len(r) or r[j] is None else str(r[j])) for r in rows]
        cols.append(make_column(names[j], str(headers[j]), raw))
    return Table(cols, source)


def load_table(source, **kwargs) -> Table:
    """Read a CSV path, a file-like object or a pandas DataFrame into a Table.

    Raises TableError (a ValueError) naming the problem when the input cannot be read.
    """
    from nqa.table_io import read_table

    return read_table(source, **kwargs)
