"""From what a user names to a table: small files in memory, big files and databases in their engine.

    open_source("sales.csv")                  # small: a Table (today's in-memory path)
    open_source("big.parquet")                # past ENGINE_THRESHOLD bytes: DuckDB reads it in place
    open_source("shop.duckdb", table="sales") # a DuckDB database table (attached read-only)
    open_source("postgresql://u@host/db", table="sales")   # nqa.sources.postgres
    open_source(spark_dataframe)              # nqa.sources.spark

Files: CSV/TSV (any extension but those below), Parquet (.parquet, .pq), Excel (.xlsx), JSON lines
(.jsonl, .ndjson, .json). A file up to ENGINE_THRESHOLD bytes (16 MiB; env NQA_ENGINE_THRESHOLD,
e.g. "64MB"; `threshold=` per call) is loaded as a Table exactly as before; a bigger one goes through
DuckDB. A big .xlsx is first streamed row by row into a Parquet file in the temp directory (DuckDB
cannot read .xlsx without an extension download), then read there.

Opened engine sources and their profiles are kept (a few, least recently used) so that a second
question about the same unchanged file or table neither reopens nor re-indexes it.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections import OrderedDict
from typing import Any

from nqa.sources.base import EngineSource, SourceError, SourceNotFound
from nqa.sources.duckdb_source import DuckDBSource, file_format
from nqa.sources.profile import ProfileTable, profile_source
from nqa.table import Table, load_table

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(text: str) -> int:
    """'16MB', '64 MiB', '1g', '5000000' -> bytes (binary units)."""
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (try 16MB)")
    unit = (m.group(2) or "").lower()[:1]
    return int(float(m.group(1)) * _UNITS[unit])


ENGINE_THRESHOLD = parse_size(os.environ.get("NQA_ENGINE_THRESHOLD", "16MB"))
_MAX_OPEN = 4  # engine sources (and their profiles) kept open

_lock = threading.Lock()
_open: OrderedDict[tuple, EngineSource] = OrderedDict()
_profiles: OrderedDict[tuple, ProfileTable] = OrderedDict()


def open_source(location: Any, *, table: str | None = None, order_by: str | None = None,
                threshold: int | None = None) -> Table | EngineSource:
    """A Table (small tables, DataFrames, file objects) or an EngineSource (see the module docstring)."""
    if isinstance(location, (Table, EngineSource)):
        if table is not None or order_by is not None:
            if isinstance(location, Table):
                raise SourceError("table= and order_by= apply to databases and big files, not to a Table")
        return location
    module = type(location).__module__ or ""
    if module.startswith("pyspark"):
        from nqa.sources import spark

        return spark.open_spark(location, table=table, order_by=order_by)
    if not isinstance(location, (str, os.PathLike)):
        return load_table(location)  # DataFrames, file objects, bytes: in memory as before
    text = os.fspath(location)
    if isinstance(text, str) and re.match(r"^(postgres|postgresql)(\+\w+)?://", text):
        from nqa.sources import postgres

        return postgres.open_postgres(text, table=table, order_by=order_by)
    path = str(text)
    if "\n" in path or len(path) > 4096:  # CSV content passed as a string: load_table says what to do
        return load_table(path)
    if not os.path.exists(path):
        raise SourceNotFound(f"{path}: no such file")
    if os.path.isdir(path):
        raise SourceError(f"{path}: is a directory, not a table file")
    fmt = "duckdb" if _is_duckdb(path) else file_format(path)
    if fmt == "duckdb":
        return _cached(("duckdb", os.path.abspath(path), table, order_by, _stamp(path)),
                       lambda: DuckDBSource.database_table(path, table, order_by=order_by))
    if table is not None:
        raise SourceError(f"{path}: --table names a table of a database; a {fmt} file is one table")
    limit = ENGINE_THRESHOLD if threshold is None else threshold
    if os.path.getsize(path) <= limit and order_by is None:
        return load_file(path, fmt)
    key = ("file", os.path.abspath(path), order_by, _stamp(path))
    if fmt == "xlsx":
        return _cached(key, lambda: DuckDBSource.file(xlsx_to_parquet(path), "parquet", order_by=order_by))
    if fmt == "csv":
        return _cached(key, lambda: DuckDBSource.file(path, "csv", order_by=order_by, csv_options=csv_options(path)))
    return _cached(key, lambda: DuckDBSource.file(path, fmt, order_by=order_by))


def profile(source: EngineSource, progress=None) -> ProfileTable:
    """The source's profile, computed once per unchanged table (see nqa.sources.profile)."""
    key = source.cache_key()
    with _lock:
        found = _profiles.get(key)
        if found is not None:
            _profiles.move_to_end(key)
            return found
    table, _ = profile_source(source, progress=progress)
    with _lock:
        _profiles[key] = table
        while len(_profiles) > _MAX_OPEN * 2:
            _profiles.popitem(last=False)
    return table


def _cached(key: tuple, opener) -> EngineSource:
    with _lock:
        found = _open.get(key)
        if found is not None:
            _open.move_to_end(key)
            return found
    source = opener()
    with _lock:
        _open[key] = source
        while len(_open) > _MAX_OPEN:  # forgotten, not closed: a caller may still hold it
            _open.popitem(last=False)
    return source


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def _is_duckdb(path: str) -> bool:
    """A DuckDB database file: 'DUCK' at byte 8 of its header."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[8:12] == b"DUCK"


# ---------------------------------------------------------------------------------------------
# small files, in memory


def load_file(path: str, fmt: str | None = None) -> Table:
    """A small file as a Table: CSV through nqa's reader; Parquet, xlsx and JSON lines through pandas
    (then typed exactly as a DataFrame is)."""
    fmt = fmt or file_format(path)
    if fmt == "csv":
        return load_table(path)
    import pandas as pd

    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
        elif fmt == "xlsx":
            df = pd.read_excel(path, engine="openpyxl")
        elif fmt == "json":
            df = pd.read_json(path, lines=not json_array(path), dtype=False)
        else:
            raise SourceError(f"{path}: cannot read a {fmt} file as a table")
    except ImportError as e:
        raise SourceError(f"{path}: reading {fmt} needs a package that is not installed ({e})") from None
    except (ValueError, OSError) as e:
        if isinstance(e, SourceError):
            raise
        raise SourceError(f"{path}: not a readable {fmt} file ({' '.join(str(e).split())[:300]})") from None
    return load_table(df, name=path)


def json_array(path: str) -> bool:
    """Whether a .json file holds one JSON array of records (else: JSON lines, one record a line)."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def csv_options(path: str) -> dict[str, Any]:
    """read_csv options matching nqa's own CSV reader on this file: its delimiter (nqa.table_io's
    sniffer), backslash escapes when the file uses them (WikiTableQuestions), and its encoding."""
    from nqa.table import unique_names
    from nqa.table_io import _SNIFF_BYTES, parse_csv_text, sniff_delimiter, uses_backslash_escapes

    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    _check_not_binary(head, path)
    encoding = "utf-8"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not a character cut at the end of the sample
            encoding = "latin-1"
        text = head[: e.start].decode("utf-8") if encoding == "utf-8" else head.decode("latin-1")
    text = text.removeprefix("\ufeff")
    delim = sniff_delimiter(text)
    options: dict[str, Any] = {"delim": delim, "quote": '"', "encoding": encoding}
    options["escape"] = "\\" if uses_backslash_escapes(text) else '"'
    rows = parse_csv_text(text[: text.rfind("\n") + 1] or text, path, delimiter=delim)
    if rows:  # the header as nqa names it: blanks 'column N', repeats ' (2)'
        options["names"] = unique_names(rows[0])
    return options


def _check_not_binary(head: bytes, path: str) -> None:
    """The checks nqa's own reader makes on a file's first bytes (nqa.table_io): a known binary format,
    NUL bytes, control characters. DuckDB would read such a file as one garbled column."""
    from nqa.table_io import _MAGIC, _check_text

    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise SourceError(f"{path}: not a text/CSV file (it looks like {what}); export it as CSV first")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise SourceError(f"{path}: not a text/CSV file (it contains binary data, or is UTF-16: a CSV over "
                          f"{ENGINE_THRESHOLD // 2**20} MiB must be UTF-8 or Latin-1)")
    _check_text(head.decode("latin-1"), path)


def xlsx_to_parquet(path: str) -> str:
    """Stream an .xlsx workbook's first sheet into a Parquet file of text cells (as the in-memory path
    writes the cells of a DataFrame), kept in the temp directory per file version; its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        from openpyxl import load_workbook
    except ImportError:
        raise SourceError(f"{path}: reading .xlsx needs openpyxl (pip install openpyxl)") from None
    from nqa.sources.profile import value_text
    from nqa.table import unique_names

    st = os.stat(path)
    digest = hashlib.sha256(f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:20]
    out_dir = os.path.join(tempfile.gettempdir(), "nqa-xlsx")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f"{digest}.parquet")
    if os.path.exists(out):
        return out
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a broken workbook
        raise SourceError(f"{path}: not a readable .xlsx workbook ({' '.join(str(e).split())[:300]})") from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise SourceError(f"{path}: the first sheet is empty")
    names = unique_names(["" if h is None else value_text(h) for h in header])
    schema = pa.schema([(n, pa.string()) for n in names])
    tmp = out + f".{os.getpid()}.part"
    with pq.ParquetWriter(tmp, schema) as writer:
        chunk: list[list[str]] = [[] for _ in names]
        for row in rows:
            for j in range(len(names)):
                chunk[j].append(value_text(row[j]) if j < len(row) and row[j] is not None else "")
            if len(chunk[0]) >= 100_000:
                writer.write_table(pa.table(dict(zip(names, chunk)), schema=schema))
                chunk = [[] for _ in names]
        if chunk[0]:
            writer.write_table(pa.table(dict(zip(names, chunk)), schema=schema))
    book.close()
    os.replace(tmp, out)
    return out

