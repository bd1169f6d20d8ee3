"""Rows of a table kept in an engine, for showing (the app's table preview and answer rows).

Only what fits on a screen is fetched: the first rows in row order, or given row positions; cells are
written as the in-memory path writes them (nqa.sources.profile.value_text).
"""
from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from nqa.sources.base import EngineSource, column, free_name
from nqa.sources.profile import ProfileTable, value_text

PREVIEW_ROWS = 1_000


def rows_frame(source: EngineSource, table: ProfileTable, positions: Sequence[int] | None = None,
               limit: int = PREVIEW_ROWS):
    """A DataFrame of the rows at `positions` (0-based row positions; None: the first `limit` rows),
    indexed by row number from 1, columns named as the model sees them."""
    import pandas as pd

    names = [p.source.name for p in table.profiles]
    row = free_name("nqa_row", names)
    numbered = source.numbered_records(row).subquery("nqa_numbered")
    q = exp.select(column(row), *[column(n) for n in names]).from_(numbered)
    if positions is not None:
        wanted = sorted({int(p) for p in positions})[:limit]
        if not wanted:
            return pd.DataFrame(columns=table.column_names)
        q = q.where(exp.In(this=column(row), expressions=[exp.Literal.number(p) for p in wanted]))
    q = q.order_by(column(row)).limit(limit)
    rows = source.query(q)
    frame = pd.DataFrame([[value_text(v) for v in r[1:]] for r in rows], columns=table.column_names)
    frame.index = [int(r[0]) + 1 for r in rows]
    return frame
