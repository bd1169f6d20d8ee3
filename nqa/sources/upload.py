"""Uploaded files (the app): small tables in memory as before, big ones through DuckDB.

An upload is kept in memory by the web server; here it becomes a Table when it is small (at most
`threshold` bytes and `max_rows` rows: what the app can show and highlight whole), else it is written
once to a temporary file and opened with DuckDB (nqa.sources.open_source), so that a 200 MB file is
indexed out of core and asked like any other source.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

from nqa.sources.base import EngineSource, SourceError
from nqa.sources.duckdb_source import file_format
from nqa.sources.open import ENGINE_THRESHOLD, load_file, open_source
from nqa.table import Table, load_table
from nqa.table_io import TableError

UPLOAD_TYPES = ["csv", "tsv", "txt", "parquet", "xlsx", "jsonl", "ndjson", "json"]


def open_upload(data: bytes, name: str, *, max_rows: int, threshold: int = ENGINE_THRESHOLD) -> Table | EngineSource:
    """A Table or an EngineSource for an uploaded file; TableError (SourceError) says what is wrong."""
    if not data:
        raise TableError(f"{name}: the file is empty")
    fmt = file_format(name)
    if fmt == "duckdb":
        raise SourceError(f"{name}: upload a table file (CSV, Parquet, .xlsx, JSON lines), not a database")
    if len(data) <= threshold:
        table = load_table(bytes(data), name=name, max_bytes=max(threshold, 1)) if fmt == "csv" \
            else load_file(_saved(data, name), fmt)
        table.source = name
        if table.n_rows == 0:
            raise TableError(f"{name}: the table has a header but no rows")
        if table.n_rows <= max_rows:
            return table
    source = open_source(_saved(data, name), threshold=0)
    if isinstance(source, Table):  # open_source keeps only tiny files in memory; not at threshold 0
        return source
    source.name = name
    return source


def _saved(data: bytes, name: str) -> str:
    """The upload as a file in the temp directory (one per content), keeping its extension."""
    digest = hashlib.sha256(data).hexdigest()[:24]
    folder = os.path.join(tempfile.gettempdir(), "nqa-uploads")
    os.makedirs(folder, exist_ok=True)
    ext = os.path.splitext(name)[1].lower()[:10]
    path = os.path.join(folder, digest + ext)
    if not os.path.exists(path):
        part = f"{path}.{os.getpid()}.part"
        with open(part, "wb") as f:
            f.write(data)
        os.replace(part, path)
    return path


def describe(source: Any) -> str:
    """'1,234,567 rows × 8 columns (read by DuckDB)' for a Table or a profiled source."""
    from nqa.sources.profile import ProfileTable

    if isinstance(source, ProfileTable):
        return f"{source.source_rows:,} rows × {source.n_cols} columns"
    return f"{source.n_rows:,} rows × {source.n_cols} columns"
