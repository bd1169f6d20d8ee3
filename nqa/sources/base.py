"""The engine contract: what nqa needs from a table that stays where it lives.

An engine (DuckDB, PostgreSQL, Spark SQL...) plugs in by subclassing `EngineSource` and writing four
small methods; everything else (profiling, question matching, the SQL of a program over the raw table,
choosing the answer) is engine-neutral and lives in `nqa.sources.profile`, `nqa.sources.relation` and
`nqa.sources.answer`.

    class MySource(EngineSource):
        dialect = "postgres"                       # a sqlglot dialect name: how queries are written

        def columns(self) -> list[SourceColumn]:   # names and types, in table order (from the catalog)
        def relation(self) -> exp.Expr:            # the FROM item for the user's table (quoted identifier,
                                                   # or a table function such as read_parquet('...'))
        def _execute(self, sql: str) -> list[tuple]:  # run one read-only SELECT; rows of Python values

and, when the engine has a row order of its own, `row_number` (the default numbers rows by `order_by`,
else ROW_NUMBER() OVER (): the engine's scan order) or `numbered_relation`.

Optional: `distinct_estimates` (one scan for every column's approximate distinct count; the default
uses COUNT(DISTINCT)), `mapping_relation` (how a column's typed values reach the engine; the default
inlines VALUES), `normalized_text` (SQL for `nqa.table.normalize_text` on columns past the profile
cap), `lower_text`, `number_from_text`, `prepare_lookup`/`lookup_relation` (a distinct-value
relation per column past the cap, kept in the engine session's memory), `last_rows` (the last rows
without numbering every row), `cache_key`, `close`.

Rules every engine keeps (tests check them with hostile names and values):
- Read-only: `query` only ever sends one SELECT (it refuses anything else before the engine sees it),
  and engines open connections read-only where they can. Nothing is written to the user's database.
- Every identifier is a quoted sqlglot identifier and every constant a sqlglot literal: table names,
  column names and cell values are data, never SQL text.
- Errors reach users as `SourceError` subclasses with the reason: `SourceNotFound` (a missing file or
  table), `SourceConnectionError` (refused or lost connections), `SourceQueryError` (the engine refused
  a query, e.g. a column it cannot compare). `SourceError` is a `TableError` (a ValueError), so the
  CLI and the app already show its message instead of a traceback.

Row order (first/last/next/previous, print order): `row_number()` gives each row its 0-based position.
A declared order column (`order_by=`) wins: rows are numbered by it (ties by the engine's own order).
Without one: a file's order (DuckDB: Parquet's file_row_number, a CSV's read order); a DuckDB table's
insertion order (rowid); PostgreSQL and Spark tables have no order of their own, so the order is
whatever the engine scans in (documented per engine) -- ask with an order column when first/last/
next/previous matter.

Closing summary rows ('Total', 'Grand total'...: `nqa.table.footer_rows`, the rule `load_table` keeps)
are left out of the records as the in-memory path leaves them out: `find_footer` reads the last rows
in row order, and from then on every query reads `records()` / `numbered_records()` (the table less
those rows) instead of `relation()`. Only where rows have a defined order (`has_row_order`: an order
column, or DuckDB's file and insertion order) does a table have a last row; a PostgreSQL or Spark
table without an order column keeps a 'Total' row as a record.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlglot import exp

from nqa.table_io import TableError

_S = TypeVar("_S", bound="EngineSource")

# Engine column types, reduced to what typing a cell needs.
TYPE_KINDS = ("text", "integer", "float", "decimal", "boolean", "date", "timestamp", "other")


class SourceError(TableError):
    """A table in an engine cannot be read or queried; the message says why (and what to fix)."""


class SourceNotFound(SourceError):
    """The file, database or table does not exist."""


class SourceConnectionError(SourceError):
    """The engine refused the connection or lost it mid-question."""


class SourceQueryError(SourceError):
    """The engine refused a query (for example a column type it cannot compare or group)."""


@dataclass(frozen=True)
class SourceColumn:
    """One column of the user's table as the engine's catalog describes it."""

    name: str  # the engine's column name, exactly (quoted in every query)
    kind: str  # one of TYPE_KINDS
    engine_type: str = ""  # the engine's own type name, for messages

    def __post_init__(self) -> None:
        if self.kind not in TYPE_KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {TYPE_KINDS}")


def ident(name: str) -> exp.Identifier:
    """A quoted identifier: any name (quotes, spaces, SQL keywords) stays a name."""
    return exp.Identifier(this=name, quoted=True)


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def free_name(name: str, taken: Iterable[str]) -> str:
    """`name`, with '_' appended until it is none of `taken` (case-insensitively)."""
    low = {t.casefold() for t in taken}
    while name.casefold() in low:
        name += "_"
    return name


class EngineSource(ABC):
    """A table that stays in its engine. See the module docstring for the contract."""

    dialect: str = "duckdb"
    name: str = "<engine table>"  # for messages and Answer.table.source
    order_by: str | None = None  # a declared order column (its engine name), or None
    # (rows before the closing summary rows, or None: all rows are records; those rows' cell texts),
    # once `find_footer` has looked
    _footer: tuple[int | None, list[list[str]]] | None = None

    # -- what an engine implements ----------------------------------------------------------

    @abstractmethod
    def columns(self) -> list[SourceColumn]:
        """The table's columns in order (read from the catalog: no table scan)."""

    @abstractmethod
    def relation(self) -> exp.Expr:
        """The FROM item naming the user's table."""

    @abstractmethod
    def _execute(self, sql: str) -> list[tuple]:
        """Run one SELECT (already checked by `query`) and return its rows as tuples of Python values.
        Map the driver's errors to SourceError subclasses (lost connection: SourceConnectionError)."""

    def numbered_relation(self, row_name: str) -> exp.Select:
        """SELECT *, <0-based row position> AS row_name FROM the table: what programs read (first, last,
        next, previous and print order go by the position). Override when the engine numbers rows
        itself (DuckDB reads Parquet's file_row_number)."""
        return exp.select(exp.Star(), exp.alias_(self.row_number(), row_name, quoted=True)).from_(self.relation())

    def row_number(self) -> exp.Expr:
        """0-based contiguous row position. Default: ROW_NUMBER() OVER (ORDER BY order_by) - 1, or
        OVER () without an order column (the engine's scan order)."""
        over = exp.Window(this=exp.RowNumber())
        if self.order_by is not None:
            over.set("order", exp.Order(expressions=[exp.Ordered(this=column(self.order_by), nulls_first=False)]))
        return exp.Sub(this=over, expression=exp.Literal.number(1))

    def has_row_order(self) -> bool:
        """Whether rows have a defined order, so that the table has a last row and closing summary
        rows are looked for (`find_footer`). Default: only with a declared order column (a scan order
        is no order: PostgreSQL's physical order moves with UPDATEs, Spark's partition order with the
        plan). DuckDB keeps one of its own (a file's order, a table's insertion order)."""
        return self.order_by is not None

    # -- optional hooks ---------------------------------------------------------------------

    def last_rows(self, exprs: Sequence[exp.Expr], n: int) -> list[tuple]:
        """The last `n` rows in row order, first to last: the values of `exprs` (over the table's
        columns), then the row's 0-based position (`row_number`). Default: the top `n` of the numbered
        rows; engines that can read the last rows without numbering every row override it."""
        row = free_name("nqa_row", [c.name for c in self.columns()])
        numbered = self.numbered_relation(row).subquery("nqa_numbered")
        rows = self.query(exp.select(*[e.copy() for e in exprs], column(row)).from_(numbered)
                          .order_by(exp.Ordered(this=column(row), desc=True)).limit(n))
        return rows[::-1]

    def distinct_estimates(self, names: Sequence[str]) -> tuple[int, list[int]]:
        """(row count, distinct-count estimate per column) in one scan. Default: exact COUNT(DISTINCT);
        engines with a cheap estimate (approx_count_distinct) override it."""
        counts = [exp.Count(this=exp.Distinct(expressions=[column(n)])) for n in names]
        row = self.query(exp.select(exp.Count(this=exp.Star()), *counts).from_(self.records()))[0]
        return int(row[0]), [int(x) for x in row[1:]]

    def mapping_relation(self, key: str, columns: dict[str, list[Any]]) -> exp.Expr:
        """A relation holding `columns` (equal-length lists of Python values: the column's distinct
        engine values under 'key' and their typed forms) for a LEFT JOIN. `key` names it uniquely
        within one query. Default: inline VALUES (no state in the engine)."""
        from nqa.sources.relation import values_relation

        return values_relation(key, columns)

    def normalized_text(self, text: exp.Expr) -> exp.Expr:
        """SQL for nqa.table.normalize_text (lower-case, non-alphanumerics to single spaces, trimmed),
        used for columns past the profile cap. Default: LOWER + global REGEXP_REPLACE + TRIM
        (accents are kept; DuckDB strips them)."""
        lowered = exp.Lower(this=exp.cast(text, "TEXT"))
        spaced = exp.RegexpReplace(this=lowered, expression=exp.Literal.string("[^0-9a-z]+"),
                                   replacement=exp.Literal.string(" "))  # sqlglot makes it global per dialect
        return exp.Trim(this=spaced)

    def number_from_text(self, text: exp.Expr) -> exp.Expr:
        """SQL reading a text cell as a number, for text columns past the profile cap (an approximation
        of nqa.table.parse_number: thousands separators and '$' dropped, then TRY_CAST). Engines
        without TRY_CAST override it."""
        cleaned = exp.Replace(this=exp.Replace(this=text, expression=exp.Literal.string(","),
                                               replacement=exp.Literal.string("")),
                              expression=exp.Literal.string("$"), replacement=exp.Literal.string(""))
        return exp.TryCast(this=exp.Trim(this=cleaned), to=exp.DataType.build("DOUBLE"))

    def lower_text(self, text: exp.Expr) -> exp.Expr:
        """SQL lower-casing a cell's text for the per-question search of columns past the profile cap
        (a superset of nqa's token match: `LIKE '%word%'`). Default LOWER; engines that can also strip
        accents (DuckDB's strip_accents) should, so 'cafe' finds 'Café'."""
        return exp.Lower(this=text)

    def prepare_lookup(self, col: SourceColumn) -> None:  # noqa: B027 (optional hook)
        """Called once per text column past the profile cap, at profiling: an engine may build a lookup
        relation of the column's distinct values and their normalised text (`lookup_relation`) in its
        own session memory (never in the user's database). Each question's search then reads it, and
        programs join it for the column's normalised text instead of normalising every row."""

    def lookup_relation(self, col: SourceColumn) -> exp.Expr | None:
        """A relation with columns "v" (each distinct value of `col`, once) and "norm" (its
        `normalized_text`), or None: questions search the table itself."""
        return None

    def close(self) -> None:  # noqa: B027 (optional hook: engines without a connection keep it)
        """Release the connection (the table itself is untouched)."""

    # -- engine-neutral -----------------------------------------------------------------------

    def query(self, select: exp.Expr | str) -> list[tuple]:
        """Run one read-only query. Anything but a single SELECT is refused before the engine sees it."""
        sql = select if isinstance(select, str) else select.sql(dialect=self.dialect)
        check_read_only(sql, self.dialect)
        return self._execute(sql)

    def find_footer(self) -> list[list[str]]:
        """Look (again) for closing summary rows, by the in-memory rule (`nqa.table.footer_rows`, on
        the last rows in row order: enough of them to decide as on the whole table), and leave them
        out of every later query (`records`). Returns their cells as text (what `Table.footer`
        holds); [] when there are none or rows have no defined order (`has_row_order`)."""
        from nqa.sources.profile import key_expression, value_text
        from nqa.table import MAX_FOOTER_ROWS, footer_rows

        cols = self.columns()
        if not cols or not self.has_row_order():
            self._footer = (None, [])
            return []
        # footer_rows reads the first two columns of the last rows, and the row count only to keep two
        # records: on the last MAX_FOOTER_ROWS + 2 rows it decides as on all of them.
        firsts = [exp.alias_(key_expression(c), f"c{j}", quoted=True) for j, c in enumerate(cols[:2])]
        try:
            tail = self.last_rows(firsts, MAX_FOOTER_ROWS + 2)
        except SourceQueryError:  # rows the engine cannot number (a DuckDB view has no rowid): no last row
            self._footer = (None, [])
            return []
        k = footer_rows([[value_text(r[j]) for r in tail] for j in range(len(firsts))])
        if not k:
            self._footer = (None, [])
            return []
        keys = [exp.alias_(key_expression(c), f"c{j}", quoted=True) for j, c in enumerate(cols)]
        rows = self.last_rows(keys, k)
        first = int(rows[0][-1])  # the first summary row's position: the records are the rows before it
        footer = [[value_text(v) for v in r[:-1]] for r in rows]
        self._footer = (first, footer)
        return footer

    def footer(self) -> list[list[str]]:
        """The closing summary rows left out of the records (cell texts; looked for once)."""
        if self._footer is None:
            self.find_footer()
        assert self._footer is not None
        return self._footer[1]

    def _records_end(self) -> int | None:
        if self._footer is None:
            self.find_footer()
        assert self._footer is not None
        return self._footer[0]

    def records(self) -> exp.Expr:
        """The FROM item every query about the table's records reads: `relation()`, less the closing
        summary rows (`find_footer`): then (SELECT <columns> FROM <numbered rows> WHERE <row> < n)."""
        end = self._records_end()
        if end is None:
            return self.relation()
        names = [c.name for c in self.columns()]
        row = free_name("nqa_row", names)
        return (exp.select(*[column(n) for n in names]).from_(self.numbered_relation(row).subquery("nqa_numbered"))
                .where(_before(row, end)).subquery("nqa_records"))

    def numbered_records(self, row_name: str) -> exp.Select:
        """`numbered_relation(row_name)` less the closing summary rows (the records keep their
        positions: summary rows come last)."""
        numbered = self.numbered_relation(row_name)
        end = self._records_end()
        if end is None:
            return numbered
        return exp.select(exp.Star()).from_(numbered.subquery("nqa_numbered")).where(_before(row_name, end))

    def cache_key(self) -> tuple:
        """What identifies this table's contents for the profile cache (engines add a version: a file's
        mtime and size; None disables caching)."""
        return (type(self).__name__, self.name, self.order_by)

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _before(row_name: str, end: int) -> exp.Expr:
    """<row> < end, saying why in the SQL shown."""
    end_literal = exp.Literal.number(end)
    end_literal.add_comments(["the table's closing summary rows ('Total') are left out"])
    return exp.LT(this=column(row_name), expression=end_literal)


def close_all(sources: Iterable[EngineSource]) -> None:
    """Close every source in the list, in the order they were opened (the agreement engines' loaders
    keep the sources they open in one such list)."""
    for s in sources:
        s.close()


def check_read_only(sql: str, dialect: str) -> None:
    """SourceQueryError unless `sql` is exactly one SELECT (WITH ... SELECT, UNION of SELECTs)."""
    import sqlglot

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as e:
        raise SourceQueryError(f"nqa built a query it cannot parse back ({e}); nothing was run") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SourceQueryError("refused to run anything but one SELECT statement on a user's table")
    for node in statements[0].walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Merge,
                             exp.Command, exp.Copy)):
            raise SourceQueryError("refused a query that writes; nqa only reads a user's table")
