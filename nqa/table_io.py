"""Reading user files and DataFrames into a Table (encoding, delimiter, WTQ escapes, limits).

Minimal first version; hardened in issue 2.
"""
from __future__ import annotations

import csv
import io
import os

from nqa.table import Table, TableError, table_from_rows

MAX_FILE_BYTES = 200 * 1024 * 1024


def read_table(source, *, name: str | None = None) -> Table:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        headers = [str(c) for c in source.columns]
        rows = [["" if (v is None or (isinstance(v, float) and v != v)) else str(v) for v in r]
                for r in source.itertuples(index=False, name=None)]
        return table_from_rows(headers, rows, name or "<dataframe>")
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise TableError(f"{path}: no such file")
        with open(path, "rb") as f:
            data = f.read()
        name = name or path
    elif hasattr(source, "read"):
        data = source.read()
        name = name or getattr(source, "name", "<upload>")
    else:
        raise TableError(f"cannot read a table from {type(source).__name__}")
    if isinstance(data, str):
        data = data.encode("utf-8")
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), escapechar="\\", doublequote=True)
    rows = [r for r in reader]
    if not rows:
        raise TableError(f"{name}: the file is empty")
    return table_from_rows(rows[0], rows[1:], name)
