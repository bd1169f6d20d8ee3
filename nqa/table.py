"""Tables as the model and the executors see them: columns of typed, normalised cells.

Storage is columnar (one numpy array per column for numbers) so that ops over 100k-row tables stay
vectorised; `Table.cell(i, j)` gives a per-cell view when one is needed.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from nqa.table_io import TableError, read_cells  # reading sits one floor below typing


@dataclass(frozen=True)
class Date:
    """A possibly partial calendar date (any field may be unknown)."""

    year: int | None = None
    month: int | None = None
    day: int | None = None

    def ordinal(self) -> float:
        """A sortable number: the year, with month and day as fractions.

        Without a year, a date with a month ('September 30') sorts as if in year 0, so a column of
        year-less dates still orders; without a year or a month it is NaN.
        """
        if self.year is None and self.month is None:
            return math.nan
        return (self.year or 0) + ((self.month or 1) - 1) / 12 + ((self.day or 1) - 1) / 372

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
        if self.date is not None and not math.isnan(self.date.ordinal()):
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
    # (rows,) int64: how many rows of the source each entry stands for. None: one each. A profile of a
    # table kept in an engine (nqa.sources) holds each distinct cell once, with its count here.
    counts: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        date_ord = np.array([d.ordinal() if d is not None else math.nan for d in self.dates], dtype=np.float64)
        self.values = np.where(np.isnan(self.numbers), date_ord, self.numbers) if len(self.raw) else np.zeros(0)

    @property
    def valued_share(self) -> float:
        """The share of rows whose cell has a value (a number or a date), weighted by `counts`."""
        has = ~np.isnan(self.values)
        if self.counts is None:
            return float(has.mean()) if len(has) else 0.0
        total = int(self.counts.sum())
        return float(self.counts[has].sum() / total) if total else 0.0

    @cached_property
    def flags(self) -> np.ndarray:
        """(rows,) int8: 1 yes, 0 no, -1 neither. Only a flag column has flags: every non-empty cell
        is a yes/no word (yes/no, y/n, true/false, t/f, x) or the number 0 or 1, and at least one is
        non-empty. Anywhere else every cell is -1, so 'how many were refunded?' never counts the 1s of
        a goals column."""
        return column_flags(self.text, self.numbers)

    @property
    def is_flag(self) -> bool:
        """A yes/no column: filter_true / filter_false can select in it (see `flags`)."""
        return bool((self.flags >= 0).any())

    @cached_property
    def years(self) -> np.ndarray:
        """(rows,) float64: the cell's year (a date's year, else an integer number), NaN when none.
        A year in the question compares with these on a date column ('after 2019' = year > 2019)."""
        out = np.full(len(self.raw), math.nan)
        for i, d in enumerate(self.dates):
            if d is not None and d.year is not None:
                out[i] = d.year
            elif not math.isnan(self.numbers[i]) and float(self.numbers[i]).is_integer():
                out[i] = self.numbers[i]
        return out

    @cached_property
    def months(self) -> np.ndarray:
        """(rows,) float64: the month (1-12) of a date cell, NaN when none ('in march' matches these)."""
        return np.array([d.month if d is not None and d.month is not None else math.nan for d in self.dates],
                        dtype=np.float64)


@dataclass
class Table:
    columns: list[Column]
    source: str = "<table>"
    # The closing summary rows left out of the records (`footer_rows`), as cell texts, for saying so.
    footer: list[list[str]] = field(default_factory=list)
    # Derived per-table indexes (e.g. the unique-text index of nqa.question), built once on demand.
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

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
    if not s.isascii():
        s = unicodedata.normalize("NFKD", s)
        s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", s.lower()).strip()


def contains_tokens(haystack: str, needle: str) -> bool:
    """Whether normalised `needle` is a contiguous token run of normalised `haystack`."""
    if not needle:
        return False
    return f" {needle} " in f" {haystack} "


# Currency marks read before a number ("$12", "US$ 1.5", "€3", "Rs. 500").
_CURRENCY = r"(?:US\$|A\$|C\$|NZ\$|HK\$|R\$|Rs\.?|[$€£¥₹₩₽])"
_NUMBER = re.compile(
    rf"""^\s*(?P<sign>[-+−–])?\s*(?:{_CURRENCY}\s*)?(?P<sign2>[-+−–])?
        (?P<num>(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?|\.\d+)
        (?P<exp>[eE][-+]?\d+(?![\w.]))?
        (?P<suffix>\s*%|st\b|nd\b|rd\b|th\b)?""",
    re.VERBOSE,
)
_PLAIN_DECIMAL = re.compile(r"-?\d+\.\d+\Z")
# Durations and clock times read as seconds so that they order correctly: '1:23.45', '2:03:45'.
_DURATION = re.compile(r"^\s*(\d{1,3}):([0-5]\d)(?::([0-5]\d))?(\.\d+)?(?![\d:])")


@lru_cache(maxsize=200_000)
def parse_number(s: str) -> float | None:
    """The number a cell reads as, or None.

    Reads '1,234.5', '-3' (also with '−' or '–'), '+2', '45%' (-> 45), '$12', '€ 3.5', '1st',
    '12 km' (the leading number), '1,234[3]' (footnote marks ignored), '1999-2000' (-> 1999),
    '1.5e3', and durations '1:23.45' (-> 83.45 seconds). '12a', 'inf', 'nan' are not numbers.

    >>> parse_number("1,234[3]"), parse_number("−5%"), parse_number("2nd"), parse_number("12a")
    (1234.0, -5.0, 2.0, None)
    """
    if s.isascii() and (s.isdigit() or _PLAIN_DECIMAL.match(s)):  # fast path for the common case
        return float(s)
    m = _DURATION.match(s) if ":" in s else None
    if m:
        h_or_m, mid, sec, frac = m.groups()
        if sec is None:  # m:ss(.f)
            seconds = int(h_or_m) * 60 + int(mid)
        else:  # h:mm:ss(.f)
            seconds = int(h_or_m) * 3600 + int(mid) * 60 + int(sec)
        return float(seconds) + (float(frac) if frac else 0.0)
    m = _NUMBER.match(s)
    if not m:
        return None
    rest = s[m.end():]
    # "12a" or "12km" is a code, not a quantity; "12 km", "3-1" and "1999-2000" read their leading number.
    suffix = (m.group("suffix") or "").strip()
    if not suffix and rest[:1].isalpha():
        return None
    if suffix in ("st", "nd", "rd", "th") and ("." in m.group("num") or "," in m.group("num")):
        return None  # "1.5th" is not an ordinal
    x = float(m.group("num").replace(",", "") + (m.group("exp") or ""))
    if math.isinf(x):
        return None
    negative = (m.group("sign") in ("-", "−", "–")) != (m.group("sign2") in ("-", "−", "–"))
    return -x if negative else x


_MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"])}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_M = rf"(?P<M>{_MONTH_RE})\.?"
_D = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?"
_Y = r"(?P<y>\d{4})"
_DASH = r"\s*[-–—/]\s*"
_DATE_PATTERNS = [re.compile(p) for p in (
    # 1995-01-26(T10:00)
    rf"^{_Y}-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}})"
    rf"(?:[t ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?:z|[+-]\d{{2}}:?\d{{2}})?)?$",
    rf"^{_Y}[/.](?P<m>\d{{1,2}})[/.]{_D}$",                         # 1995/01/26
    rf"^{_M}\s+{_D}(?:{_DASH}\d{{1,2}})?,?\s+{_Y}$",                # January 26, 1995; Jan 26–28, 1995
    rf"^{_D}(?:{_DASH}\d{{1,2}})?\s+(?:of\s+)?{_M},?\s+{_Y}$",      # 26 Jan 1995; 26th of January, 1995
    rf"^{_M},?\s+{_Y}$",                                            # January 1995
    rf"^{_M}\s+{_D}$",                                              # January 26
    rf"^{_D}\s+(?:of\s+)?{_M}$",                                    # 26 January
    rf"^{_M}$",                                                     # January
    rf"^{_Y}(?:{_DASH}(?:\d{{2}}|\d{{4}}|present))?$",               # 1995; 1999-2000, 2004–05 (start year)
    rf"^(?P<a>\d{{1,2}})[/.](?P<b>\d{{1,2}})[/.]{_Y}$",             # 26/01/1995 or 01/26/1995
)]
# What every date form starts with (after an optional weekday): a cheap test that rejects most
# cells before the patterns are tried.
_DATE_START = re.compile(rf"^(?:\d{{4}}(?!\d)|\d{{1,2}}(?:st|nd|rd|th)?[\s/.]|(?:{_MONTH_RE})\b|"
                         r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s)")
_WEEKDAY = re.compile(r"^(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|urday|sday)?\.?,?\s+")
# Trailing footnote marks and parenthesised notes that Wikipedia puts after values.
_TRAILING_NOTES = re.compile(r"(?:\s*\[[^\]]*\]|\s*[*†‡#♦•]+|\s+\([^)]*\))+$")


@lru_cache(maxsize=200_000)
def parse_date(s: str) -> Date | None:
    """Full and partial dates, or None.

    Reads '1995', 'January 26, 1995', 'Jan. 26th, 1995', '26 Jan 1995', '1995-01-26', '1995/01/26',
    'January 1995', 'January 26', '26/01/1995' (day first when the first part is above 12, else
    month first), and ranges by their start: '1999-2000', '2004–05', 'January 26–28, 1995'.
    Trailing footnotes and a leading weekday are ignored.

    >>> parse_date("26 Jan 1995[2]"), parse_date("1999–2000").iso()
    (Date(year=1995, month=1, day=26), '1999-xx-xx')
    """
    t = s.strip().lower()
    if not t or len(t) > 60 or not _DATE_START.match(t):
        return None
    t = _TRAILING_NOTES.sub("", t)
    t = _WEEKDAY.sub("", t)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(t)
        if not m:
            continue
        g = m.groupdict()
        y = int(g["y"]) if g.get("y") else None
        mo = _MONTHS[g["M"]] if g.get("M") else (int(g["m"]) if g.get("m") else None)
        d = int(g["d"]) if g.get("d") else None
        if g.get("a"):
            a, b = int(g["a"]), int(g["b"])
            mo, d = (b, a) if a > 12 else (a, b)
        if mo is not None and not 1 <= mo <= 12:
            return None
        if d is not None and not 1 <= d <= 31:
            return None
        if y is not None and not 1000 <= y <= 2999:
            return None
        return Date(y, mo, d)
    return None


def infer_kind(numbers: np.ndarray, dates: list[Date | None], raw: list[str],
               counts: np.ndarray | None = None) -> str:
    """A column is a date column when most (60%) of its non-empty cells are dates with a month, a
    number column when most are numbers; otherwise text. Years alone count as numbers. `counts`:
    how many rows each entry stands for (Column.counts; None: one each)."""
    filled = np.fromiter((bool(r.strip()) for r in raw), dtype=bool, count=len(raw))
    weight = np.ones(len(raw), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    n_filled = int(weight[filled].sum())
    if not n_filled:
        return "text"
    n_num = int(weight[~np.isnan(numbers) & filled].sum())
    n_date = int(sum(w for f, d, w in zip(filled, dates, weight) if f and d is not None and d.month is not None))
    if n_date >= 0.6 * n_filled:
        return "date"
    if n_num >= 0.6 * n_filled and not _names_with_leading_numbers(raw):
        return "number"
    return "text"


# A number followed by two or more words: "175 Maple Avenue", "2010 FIFA World Cup qualification".
_NUMBER_THEN_PHRASE = re.compile(r"^\s*\d[\d,]*\s+((?:[^\W\d_][\w'.-]*\s+)+[^\W\d_][\w'.-]*)\s*$")


def _names_with_leading_numbers(raw: list[str]) -> bool:
    """True when most distinct cells are a number then a phrase of two or more words that varies (at
    least three different phrases): street addresses and event names. parse_number reads them by
    their leading number, as it reads '12 km', but a unit repeats and a street name does not. Such
    a column names things; summing its house numbers or ranking by them is wrong."""
    distinct = {r for r in raw if r.strip()}
    phrases = [m.group(1).lower() for m in map(_NUMBER_THEN_PHRASE.match, distinct) if m]
    varied = len(set(phrases))
    return len(phrases) >= 0.5 * len(distinct) and varied >= 3 and varied >= 0.1 * len(phrases)


# make_column parses each distinct cell once itself; going around the caches there keeps them for
# question text and avoids filling them with a big table's one-off values.
_parse_number = parse_number.__wrapped__
_parse_date = parse_date.__wrapped__
_normalize_text = normalize_text.__wrapped__


def cell_number(raw: str, date: Date | None) -> float:
    """A cell's number (NaN if none). A cell that reads as a date with a month is a date, not the
    number it starts with: '26 Jan 1995' is not 26 and '1995-01-26' is not 1995."""
    if date is not None and date.month is not None:
        return math.nan
    x = _parse_number(raw)
    return math.nan if x is None else x


def factorize(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """(codes (n,), distinct values in first-seen order), like pandas.factorize.

    A dict rather than pandas.factorize, deliberately: as fast here (100k rows in ~20 ms), and not
    importing pandas keeps `nqa ask`'s cold start ~0.5 s shorter.
    """
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(index)


def make_column(name: str, raw_name: str, raw: list[str], numbers: np.ndarray | None = None,
                counts: np.ndarray | None = None) -> Column:
    """Type and normalise one column. Each distinct cell text is parsed once (tables repeat values a
    lot), so this stays fast on 100k-row columns. `numbers` overrides the parsed numbers (a numeric
    DataFrame column gives them exactly); `counts` weighs each entry (Column.counts)."""
    codes, uniques = factorize(raw)
    u_date = np.empty(max(len(uniques), 1), dtype=object)
    u_date[: len(uniques)] = [_parse_date(u) for u in uniques]
    if numbers is None:
        u_num = np.array([cell_number(u, d) for u, d in zip(uniques, u_date)], dtype=np.float64)
        numbers = u_num[codes] if len(raw) else np.zeros(0)
    else:
        numbers = np.asarray(numbers, dtype=np.float64)
    u_text = np.array([_normalize_text(u) for u in uniques] or [""], dtype=object)
    text = u_text[codes].tolist() if len(raw) else []
    dates = u_date[codes].tolist() if len(raw) else []
    return Column(name=name, raw_name=raw_name, raw=list(raw), text=text, numbers=numbers, dates=dates,
                  kind=infer_kind(numbers, dates, raw, counts), counts=counts)


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


# A closing summary row: "Total", "Totals", "Grand total" in the first or second column. Medal tables,
# budgets and census tables end with one. It is no record: counted, it is one row too many; ranked,
# it wins every "most"; summed over, it doubles the total. With u12r, leaving it out took the WTQ
# split-1 dev questions on the 17 tables that have one from 51 to 73 right of 160, none lost.
FOOTER_LABEL = re.compile(r"(grand |overall )?totals?:?", re.IGNORECASE)
MAX_FOOTER_ROWS = 2


def footer_rows(columns: list[list[str]]) -> int:
    """How many trailing rows are summary rows (at most MAX_FOOTER_ROWS; at least 2 records stay)."""
    n = len(columns[0]) if columns else 0
    k = 0
    while (k < MAX_FOOTER_ROWS and n - k > 2
           and any(FOOTER_LABEL.fullmatch(str(c[n - 1 - k]).strip()) for c in columns[:2])):
        k += 1
    return k


def footer_note(footer: list[list[str]]) -> str | None:
    """What to tell a user whose table lost its closing summary rows, or None."""
    if not footer:
        return None
    labels = [next((c.strip() for c in row[:2] if FOOTER_LABEL.fullmatch(c.strip())), "Total") for row in footer]
    rows = " and ".join(f"'{label}'" for label in labels)
    what = "row" if len(footer) == 1 else "rows"
    return f"the table's closing {rows} {what} left out: a summary, not a record"


def table_from_columns(headers: list[str], columns: list[list[str]], source: str = "<table>",
                       numbers: list[np.ndarray | None] | None = None, keep_footer: bool = False) -> Table:
    """Build a Table from a header and equal-length columns of cell strings; closing summary rows
    ("Total") are left out of the records (`footer_rows`) unless `keep_footer`."""
    if not headers:
        raise TableError(f"{source}: the table has no columns")
    names = unique_names(headers)
    numbers = numbers or [None] * len(headers)
    k = 0 if keep_footer else footer_rows(columns)
    footer: list[list[str]] = []
    if k:
        n = len(columns[0])
        footer = [[str(c[i]) for c in columns] for i in range(n - k, n)]
        columns = [c[:n - k] for c in columns]
        numbers = [None if x is None else x[:n - k] for x in numbers]
    cols = [make_column(names[j], str(headers[j]), columns[j], numbers[j]) for j in range(len(headers))]
    return Table(cols, source, footer)


def table_from_rows(headers: list[str], rows: list[list[str]], source: str = "<table>") -> Table:
    """Build a Table from a header and string rows (ragged rows padded with empty cells; extra cells
    get columns named 'column N')."""
    width = max([len(headers)] + [len(r) for r in rows]) if rows else len(headers)
    headers = [("" if h is None else str(h)) for h in headers] + [""] * (width - len(headers))
    if width == 0:
        raise TableError(f"{source}: the table has no columns")
    columns = []
    for j in range(width):
        columns.append([("" if j >= len(r) or r[j] is None else str(r[j])) for r in rows])
    return table_from_columns(headers, columns, source)


def load_table(source, **kwargs) -> Table:
    """Read a CSV path, a file-like object or a pandas DataFrame into a Table.

    Raises TableError (a ValueError) naming the problem when the input cannot be read. Keyword
    arguments go to `nqa.table_io.read_cells` (name, max_bytes, max_columns, delimiter).
    """
    cells = read_cells(source, **kwargs)
    return table_from_columns(cells.headers, cells.columns, cells.name, cells.numbers)


TRUE_WORDS = frozenset({"yes", "y", "true", "t", "x"})
FALSE_WORDS = frozenset({"no", "n", "false", "f"})


def column_flags(text: list[str], numbers: np.ndarray) -> np.ndarray:
    """Column.flags for normalised cell texts and their numbers (see there)."""
    n = len(text)
    out = np.full(n, -1, dtype=np.int8)
    seen = False
    for i, t in enumerate(text):
        if not t:
            continue
        seen = True
        if t in TRUE_WORDS or numbers[i] == 1:
            out[i] = 1
        elif t in FALSE_WORDS or numbers[i] == 0:
            out[i] = 0
        else:
            return np.full(n, -1, dtype=np.int8)
    return out if seen else np.full(n, -1, dtype=np.int8)
