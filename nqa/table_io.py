"""Reading user files and DataFrames into cells: encoding, delimiter, WTQ escapes, limits.

The result is `Cells` (a header and columns of cell strings, plus a DataFrame's exact numbers);
`nqa.table.load_table` types them into a `Table`. This module sits below nqa.table and imports
nothing of it.

Parsing goes through Python's `csv` module rather than `pandas.read_csv`, deliberately: uploaded
files are often ragged (rows longer or shorter than the header), which pandas' C parser rejects
outright, and the WTQ escape style (backslash-escaped quotes inside quoted fields, alongside the
standard doubled quotes) needs `escapechar` only when the file actually uses it. `csv` is C code too,
so 100k rows still read in well under a second; the rest of the work (typing cells) is per distinct
value, in `nqa.table.make_column`.
"""
from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

MAX_FILE_BYTES = 200 * 1024 * 1024  # 200 MiB: far above any table a question is asked about.
# Wider "tables" are matrices or mis-detected delimiters, not question-answering tables. The cap also
# keeps every answer's SQL runnable: the setup script stores up to 3 SQL columns per table column
# (raw, normalised, number) plus row_id, and SQLite refuses tables over 2,000 columns (1 + 3 * 600 = 1,801).
MAX_COLUMNS = 600
DELIMITERS = (",", "\t", ";", "|")  # candidates, in order of preference on ties.
_SNIFF_BYTES = 64 * 1024


class TableError(ValueError):
    """A table could not be read; the message says what to fix."""


@dataclass
class Cells:
    """A table as read, before typing: `columns[j][i]` is the text of row i in column j."""

    headers: list[str]
    columns: list[list[str]]
    name: str
    numbers: list[np.ndarray | None] | None = None  # a DataFrame column's exact numbers (None: parse)


# Magic numbers of common non-CSV uploads, named so the error can say what the file is.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls?)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3", "an SQLite database"),
)


def read_cells(source, *, name: str | None = None, max_bytes: int = MAX_FILE_BYTES,
               max_columns: int = MAX_COLUMNS, delimiter: str | None = None) -> Cells:
    """Read a CSV path, file-like object, bytes/str content or pandas DataFrame into cells.

    A header-only file is a valid table with no rows; an empty file, a binary file, a file over
    `max_bytes` or a table wider than `max_columns` raises TableError saying so.
    """
    # A DataFrame can only exist once pandas is imported; not importing it for a plain CSV path
    # keeps `nqa ask`'s cold start ~0.5 s shorter.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(source, pd.Series):
        source = source.to_frame()
    if pd is not None and isinstance(source, pd.DataFrame):
        return dataframe_cells(source, name=name or "<dataframe>", max_columns=max_columns)
    data, name = _read_bytes(source, name, max_bytes)
    text = decode_bytes(data, name)
    if not text.strip():
        raise TableError(f"{name}: the file is empty")
    rows = parse_csv_text(text, name, delimiter=delimiter)
    if not rows:
        raise TableError(f"{name}: the file is empty")
    header, body = rows[0], rows[1:]
    width = max(len(r) for r in rows)
    if width > max_columns:
        raise TableError(f"{name}: {width} columns is more than the limit of {max_columns}; "
                         "is the delimiter right?")
    header = header + [""] * (width - len(header))
    columns = [[r[j] if j < len(r) else "" for r in body] for j in range(width)]
    return Cells(header, columns, name)


# ---------------------------------------------------------------------------------------------
# bytes


def _read_bytes(source, name: str | None, max_bytes: int) -> tuple[bytes | str, str]:
    """The raw content and a display name, enforcing the size limit before reading everything."""
    too_big = f"is larger than the limit of {max_bytes // (1024 * 1024)} MiB ({max_bytes:,} bytes)"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "<bytes>"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(source, str) and ("\n" in path or len(path) > 4096):
            raise TableError("a table source string must be a file path; pass CSV content as bytes "
                             "or io.StringIO")
        name = name or path
        if not os.path.exists(path):
            raise TableError(f"{path}: no such file")
        if os.path.isdir(path):
            raise TableError(f"{path}: is a directory, not a CSV file")
        if os.path.getsize(path) > max_bytes:
            raise TableError(f"{path}: the file {too_big}")
        with open(path, "rb") as f:
            data = f.read()
    elif hasattr(source, "read"):
        name = name or str(getattr(source, "name", "<upload>"))
        data = source.read(max_bytes + 1)
    else:
        raise TableError(f"cannot read a table from a {type(source).__name__}; give a CSV path, "
                         "a file object, bytes or a pandas DataFrame")
    size = len(data.encode("utf-8")) if isinstance(data, str) and len(data) * 4 > max_bytes else len(data)
    if size > max_bytes:
        raise TableError(f"{name}: the file {too_big}")
    return data, name


def decode_bytes(data: bytes | str, name: str = "<file>") -> str:
    """Text from bytes: a BOM if present, else UTF-8, else the encoding charset-normalizer finds
    (latin-1, cp1252, UTF-16 without BOM...). Binary content raises 'not a text/CSV file'."""
    if isinstance(data, str):
        text = data
    else:
        text = _decode(data, name)
    if text.startswith("\ufeff"):
        text = text[1:]
    _check_text(text, name)
    return text


def _decode(data: bytes, name: str) -> str:
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as e:
                raise TableError(f"{name}: the file starts with a {enc} byte-order mark but is not "
                                 f"valid {enc} ({e.reason} at byte {e.start})") from None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise TableError(f"{name}: not a text/CSV file (it looks like {what}); export it as CSV first")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        # UTF-16 without a BOM puts a NUL in every other byte of ASCII text.
        even, odd = head[0::2].count(0), head[1::2].count(0)
        utf16 = "utf-16-le" if odd > 0.3 * len(head) / 2 and even == 0 else (
            "utf-16-be" if even > 0.3 * len(head) / 2 and odd == 0 else None)
        if utf16 is not None:
            try:
                return data.decode(utf16)
            except UnicodeDecodeError:
                pass
        raise TableError(f"{name}: not a text/CSV file (it contains binary data)")
    encoding = guess_encoding(data[:1024 * 1024])
    if encoding is None:
        raise TableError(f"{name}: not a text/CSV file (no text encoding fits its bytes)")
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        # The sample fitted but a later byte does not: keep every byte readable rather than fail.
        return data.decode(encoding, errors="replace")


# Single-byte encodings for Latin-script text. charset-normalizer often can't tell them apart on a
# short table (a cp1252 file may come back as mac_latin2 or cp1257), and Excel on Windows, the usual
# source of non-UTF-8 CSVs, writes cp1252: so any Latin-family guess reads as cp1252 when the bytes
# allow it. Other guesses (Cyrillic, Greek, CJK...) are kept.
_LATIN_FAMILY = {"cp1250", "cp1252", "cp1254", "cp1257", "cp1258", "latin_1", "iso8859_2", "iso8859_3",
                 "iso8859_4", "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15",
                 "iso8859_16", "mac_latin2", "mac_roman", "mac_iceland", "mac_turkish", "cp850", "cp437"}


def guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's guess, read as cp1252 when that guess is a Latin-script encoding."""
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or not best.encoding:
        return None
    if best.encoding in _LATIN_FAMILY:
        try:
            data.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            pass
    return best.encoding


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_text(text: str, name: str) -> None:
    sample = text[:_SNIFF_BYTES]
    if sample and len(_CONTROL.findall(sample)) > max(2, 0.01 * len(sample)):
        raise TableError(f"{name}: not a text/CSV file (it contains binary control characters)")


# ---------------------------------------------------------------------------------------------
# CSV dialect and parsing


def uses_backslash_escapes(text: str) -> bool:
    """Whether the file escapes quotes as \\" (WikiTableQuestions' style) rather than only "".

    Only then is backslash an escape character; elsewhere a backslash is data ('C:\\data').
    """
    return '\\"' in text


def sniff_delimiter(text: str) -> str:
    """The delimiter among , TAB ; | that splits the first lines into the most consistent rows.

    Each candidate parses a sample; it qualifies when the most common field count is above one and
    the header has it; the score is the share of rows with that count, then the count itself; ties
    go to the earlier candidate in DELIMITERS; with none qualifying, ','. csv.Sniffer is not used: it
    often fails on short or quoted samples.
    """
    sample = text[:_SNIFF_BYTES]
    if len(text) > _SNIFF_BYTES:  # cut at a line end so that the last row is not a fragment
        sample = sample[: max(sample.rfind("\n"), 1)]
    escaped = uses_backslash_escapes(sample)
    best, best_score = ",", (0.0, 0)
    for delim in DELIMITERS:
        if delim not in sample:
            continue
        try:
            rows = [r for r in _reader(sample, delim, escaped) if r][:200]
        except csv.Error:
            continue
        if not rows:
            continue
        counts: dict[int, int] = {}
        for r in rows:
            counts[len(r)] = counts.get(len(r), 0) + 1
        mode, freq = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        if mode < 2 or len(rows[0]) != mode:
            continue
        score = (freq / len(rows), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _reader(text: str, delimiter: str, escaped: bool):
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                      doublequote=True, escapechar="\\" if escaped else None, strict=False)


def parse_csv_text(text: str, name: str = "<file>", delimiter: str | None = None) -> list[list[str]]:
    """Rows of cell strings. Blank lines are skipped, as are all-empty rows at the end of the file
    (spreadsheets export trailing ',,,' lines); quoted fields may span lines."""
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise TableError(f"{name}: the delimiter must be one character other than a quote or newline")
    delimiter = delimiter or sniff_delimiter(text)
    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, len(text) + 1))
    try:
        rows = [r for r in _reader(text, delimiter, uses_backslash_escapes(text)) if r]
    except csv.Error as e:
        raise TableError(f"{name}: cannot parse as CSV ({e})") from None
    finally:
        csv.field_size_limit(old_limit)
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    return rows


# ---------------------------------------------------------------------------------------------
# DataFrames


def dataframe_cells(df, name: str = "<dataframe>", max_columns: int = MAX_COLUMNS) -> Cells:
    """The cells of a DataFrame of any dtypes.

    Missing values (NaN, None, NaT, pd.NA) become empty cells; numeric columns keep their exact
    numbers (inf is kept as the text 'inf' but is not a number); datetimes become ISO text; a
    meaningful index (anything but the default 0..n-1) becomes leading column(s).
    """
    import pandas as pd

    if df.shape[1] > max_columns:
        raise TableError(f"{name}: {df.shape[1]} columns is more than the limit of {max_columns}")
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1 \
            or any(n is not None for n in df.index.names):
        df = df.reset_index()
    if isinstance(df.columns, pd.MultiIndex):
        headers = [" ".join(str(p) for p in c if str(p) and not str(p).startswith("Unnamed")) for c in df.columns]
    else:
        headers = ["" if (c is None or (isinstance(c, float) and math.isnan(c))) else str(c) for c in df.columns]
    if not headers:
        raise TableError(f"{name}: the DataFrame has no columns")
    columns, numbers = [], []
    for j in range(df.shape[1]):
        texts, nums = _series_cells(df.iloc[:, j])
        columns.append(texts)
        numbers.append(nums)
    return Cells(headers, columns, name, numbers)


def _series_cells(s) -> tuple[list[str], np.ndarray | None]:
    """Cell texts of a Series, and its exact numbers when it is numeric (None: parse the texts)."""
    import pandas as pd
    from pandas.api import types as pt

    isna = s.isna().to_numpy()
    if pt.is_bool_dtype(s.dtype):
        texts = ["" if na else str(bool(v)) for v, na in zip(s.to_numpy(dtype=object), isna)]
        return texts, None
    if pt.is_numeric_dtype(s.dtype) and not pt.is_complex_dtype(s.dtype):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if pt.is_integer_dtype(s.dtype):
            texts = ["" if na else str(v) for v, na in zip(s.to_numpy(dtype=object), isna)]
        else:
            texts = ["" if na else _float_text(float(v)) for v, na in zip(values, isna)]
        numbers = np.where(np.isfinite(values), values, np.nan)
        return texts, numbers
    if pt.is_datetime64_any_dtype(s.dtype):
        return [("" if na else _timestamp_text(v)) for v, na in zip(s, isna)], None
    if isinstance(s.dtype, pd.PeriodDtype) or pt.is_timedelta64_dtype(s.dtype):
        return [("" if na else str(v)) for v, na in zip(s, isna)], None
    return [("" if na else _object_text(v)) for v, na in zip(s.to_numpy(dtype=object), isna)], None


def _float_text(x: float) -> str:
    """3.0 -> '3', 2.5 -> '2.5', inf -> 'inf' (shortest text that reads back as the same float)."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def _timestamp_text(v) -> str:
    import pandas as pd

    ts = pd.Timestamp(v)
    if ts.tz is None and ts == ts.normalize():
        return ts.strftime("%Y-%m-%d")
    return ts.isoformat()


def _object_text(v) -> str:
    import datetime

    import pandas as pd

    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", errors="replace")
    if isinstance(v, float):
        return _float_text(v)
    if isinstance(v, (pd.Timestamp, datetime.datetime)):
        return _timestamp_text(v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    return str(v)
