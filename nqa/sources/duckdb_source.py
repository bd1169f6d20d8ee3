"""DuckDB: big files read in place (CSV/TSV, Parquet, JSON lines), and tables of a DuckDB database.

One in-memory DuckDB connection per source: files are read by table functions (read_parquet,
read_csv, read_json) straight from disk, out of core; a database file is ATTACHed READ_ONLY, so
nothing can be written to it. The connection has a memory limit (NQA_DUCKDB_MEMORY, default 512MB)
and spills to a temporary directory past it. Typed mappings larger than `INLINE_ROWS` travel as Arrow
tables registered on this connection (its own memory, not the user's database).

Row order: Parquet's file_row_number; CSV and JSON lines in the order DuckDB reads them
(ROW_NUMBER() OVER (), which keeps the file's order: DuckDB preserves insertion order by default);
a database table in rowid order (its insertion order); a declared order column wins over all.
"""
from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

from sqlglot import exp

from nqa.sources.base import (
    EngineSource,
    SourceColumn,
    SourceConnectionError,
    SourceError,
    SourceNotFound,
    SourceQueryError,
    column,
    ident,
)

INLINE_ROWS = 256  # mappings up to this many values are inlined as VALUES (the SQL shown stands alone)
MEMORY_LIMIT = os.environ.get("NQA_DUCKDB_MEMORY", "512MB")
DB_ALIAS = "nqa_user_db"
FILE_FORMATS = ("csv", "parquet", "json")


def duckdb_kind(type_name: str) -> str:
    """A DuckDB type name as one of nqa.sources.base.TYPE_KINDS."""
    t = type_name.upper()
    if t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR"):
        return "text"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"):
        return "integer"
    if t in ("FLOAT", "DOUBLE", "REAL"):
        return "float"
    if t.startswith("DECIMAL"):
        return "decimal"
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return "other"


def _connect() -> Any:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{_setting(MEMORY_LIMIT)}'")
    con.execute(f"SET temp_directory = '{_setting(os.path.join(tempfile.gettempdir(), 'nqa-duckdb'))}'")
    con.execute("SET preserve_insertion_order = true")
    return con


def _setting(value: str) -> str:
    return value.replace("'", "''")


class DuckDBSource(EngineSource):
    """A file read in place, or a table of a DuckDB database (use `file` or `database_table`)."""

    dialect = "duckdb"

    def __init__(self, relation: exp.Expr, name: str, con: Any, *, order_by: str | None = None,
                 parquet_path: str | None = None, rowid: bool = False, version: tuple = ()) -> None:
        self._relation = relation
        self.name = name
        self._con = con
        self._lock = threading.Lock()  # one query at a time on the connection
        self._parquet_path = parquet_path
        self._rowid = rowid
        self._version = version
        self._registered: dict[int, tuple[str, Any]] = {}
        self._columns = self._describe()
        if order_by is not None and order_by not in {c.name for c in self._columns}:
            names = ", ".join(repr(c.name) for c in self._columns[:20])
            raise SourceNotFound(f"{name}: no column {order_by!r} to order rows by (columns: {names})")
        self.order_by = order_by

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def file(cls, path: str | os.PathLike, fmt: str | None = None, order_by: str | None = None,
             csv_options: dict[str, Any] | None = None) -> DuckDBSource:
        """A CSV/TSV, Parquet or JSON-lines file, read in place. `fmt`: csv, parquet or json (default:
        by extension). `csv_options`: read_csv options (delim, quote, escape, encoding...)."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise SourceNotFound(f"{path}: no such file")
        if os.path.isdir(path):
            raise SourceError(f"{path}: is a directory, not a table file")
        fmt = fmt or file_format(path)
        if fmt not in FILE_FORMATS:
            raise SourceError(f"{path}: DuckDB reads {', '.join(FILE_FORMATS)} files, not {fmt!r}")
        literal = exp.Literal.string(path)
        if fmt == "parquet":
            relation: exp.Expr = exp.Anonymous(this="read_parquet", expressions=[literal])
        elif fmt == "json":
            relation = exp.Anonymous(this="read_json", expressions=[literal, _named("format", "newline_delimited")])
        else:
            options = {"header": True, "all_varchar": True, "null_padding": True, **(csv_options or {})}
            relation = exp.Anonymous(this="read_csv", expressions=[literal] + [
                _named(k, v) for k, v in options.items()])
        stat = os.stat(path)
        return cls(relation, path, _connect(), order_by=order_by, parquet_path=path if fmt == "parquet" else None,
                   version=(stat.st_mtime_ns, stat.st_size))

    @classmethod
    def database_table(cls, db_path: str | os.PathLike, table: str | None = None,
                       order_by: str | None = None) -> DuckDBSource:
        """A table of a DuckDB database file, attached read-only. `table`: 'name' or 'schema.name'
        (None: the database's only table)."""
        import duckdb

        db_path = os.fspath(db_path)
        if not os.path.exists(db_path):
            raise SourceNotFound(f"{db_path}: no such database file")
        con = _connect()
        try:
            con.execute(f"ATTACH '{_setting(db_path)}' AS {DB_ALIAS} (READ_ONLY)")
        except duckdb.Error as e:
            con.close()
            raise SourceError(f"{db_path}: not a DuckDB database this DuckDB can open ({_reason(e)})") from None
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                             "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
                             "WHERE database_name = ? AND NOT internal ORDER BY 1, 2",
                             [DB_ALIAS, DB_ALIAS]).fetchall()
        schema, name = _pick_table(db_path, table, tables)
        stat = os.stat(db_path)
        relation = exp.Table(this=ident(name), db=ident(schema), catalog=ident(DB_ALIAS))
        display = f"{db_path}:{name if schema == 'main' else schema + '.' + name}"
        return cls(relation, display, con, order_by=order_by, rowid=True, version=(stat.st_mtime_ns, stat.st_size))

    # -- the contract -----------------------------------------------------------------------

    def columns(self) -> list[SourceColumn]:
        return list(self._columns)

    def relation(self) -> exp.Expr:
        return self._relation.copy()

    def _describe(self) -> list[SourceColumn]:
        rows = self._run_raw(f"DESCRIBE {exp.select(exp.Star()).from_(self.relation()).sql('duckdb')}")
        return [SourceColumn(r[0], duckdb_kind(str(r[1])), str(r[1])) for r in rows]

    def numbered_relation(self, row_name: str) -> exp.Select:
        if self.order_by is None and self._parquet_path is not None \
                and "file_row_number" not in {c.name for c in self._columns}:
            numbered = exp.Anonymous(this="read_parquet", expressions=[
                exp.Literal.string(self._parquet_path), _named("file_row_number", True)])
            return exp.select(exp.Star(), exp.alias_(column("file_row_number"), row_name, quoted=True)).from_(numbered)
        return super().numbered_relation(row_name)

    def row_number(self) -> exp.Expr:
        if self.order_by is None and self._rowid:
            order = exp.Order(expressions=[exp.Ordered(this=exp.column("rowid"))])
            over = exp.Window(this=exp.RowNumber(), order=order)
            return exp.Sub(this=over, expression=exp.Literal.number(1))
        return super().row_number()

    def distinct_estimates(self, names: list[str]) -> tuple[int, list[int]]:  # type: ignore[override]
        counts = [exp.Anonymous(this="approx_count_distinct", expressions=[column(n)]) for n in names]
        row = self.query(exp.select(exp.Count(this=exp.Star()), *counts).from_(self.relation()))[0]
        return int(row[0]), [int(x) for x in row[1:]]

    def mapping_relation(self, key: str, columns: dict[str, list[Any]]) -> exp.Expr:
        if len(columns["key"]) <= INLINE_ROWS:
            return super().mapping_relation(key, columns)
        entry = self._registered.get(id(columns))
        if entry is None:
            import pyarrow as pa

            name = f"{key}_{len(self._registered)}"
            with self._lock:
                self._con.register(name, pa.table(columns))
            entry = self._registered[id(columns)] = (name, columns)  # holding `columns` keeps its id unique
        return exp.Table(this=ident(entry[0]))

    def normalized_text(self, text: exp.Expr) -> exp.Expr:
        return super().normalized_text(exp.Anonymous(this="strip_accents", expressions=[text]))

    def lower_text(self, text: exp.Expr) -> exp.Expr:
        return exp.Lower(this=exp.Anonymous(this="strip_accents", expressions=[text]))

    def _execute(self, sql: str) -> list[tuple]:
        return self._run_raw(sql)

    def _run_raw(self, sql: str) -> list[tuple]:
        import duckdb

        with self._lock:
            if self._con is None:
                raise SourceConnectionError(f"{self.name}: the connection is closed")
            try:
                return self._con.execute(sql).fetchall()
            except duckdb.CatalogException as e:
                raise SourceNotFound(f"{self.name}: {_reason(e)}") from None
            except duckdb.IOException as e:
                raise SourceNotFound(f"{self.name}: cannot read the file ({_reason(e)})") from None
            except duckdb.ConnectionException as e:
                raise SourceConnectionError(f"{self.name}: the DuckDB connection failed ({_reason(e)})") from None
            except duckdb.InvalidInputException as e:
                raise SourceError(f"{self.name}: DuckDB cannot read it ({_reason(e)})") from None
            except duckdb.Error as e:
                raise SourceQueryError(f"{self.name}: DuckDB refused a query ({_reason(e)})") from None

    def cache_key(self) -> tuple:
        return (*super().cache_key(), self._relation.sql("duckdb"), self._version)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def _named(key: str, value: Any) -> exp.Expr:
    """key = value, a named table-function argument."""
    if isinstance(value, bool):
        lit: exp.Expr = exp.true() if value else exp.false()
    elif isinstance(value, (int, float)):
        lit = exp.Literal.number(value)
    else:
        lit = exp.Literal.string(str(value))
    return exp.EQ(this=exp.column(key), expression=lit)


def _reason(e: Exception) -> str:
    return " ".join(str(e).split())[:400]


def _pick_table(db_path: str, table: str | None, tables: list[tuple[str, str]]) -> tuple[str, str]:
    if not tables:
        raise SourceNotFound(f"{db_path}: the database has no tables")
    listing = ", ".join(t if s == "main" else f"{s}.{t}" for s, t in tables[:30])
    if table is None:
        if len(tables) == 1:
            return tables[0]
        raise SourceError(f"{db_path}: holds {len(tables)} tables; pick one with --table (tables: {listing})")
    for s, t in tables:  # exact name first, then schema.name, then case-insensitively
        if t == table:
            return s, t
    for s, t in tables:
        if f"{s}.{t}" == table:
            return s, t
    for s, t in tables:
        if t.casefold() == table.casefold() or f"{s}.{t}".casefold() == table.casefold():
            return s, t
    raise SourceNotFound(f"{db_path}: no table {table!r} (tables: {listing})")


def file_format(path: str) -> str:
    """csv, parquet, json, xlsx or duckdb from a file's extension (csv for anything else)."""
    low = path.lower()
    for ext, fmt in ((".parquet", "parquet"), (".pq", "parquet"), (".jsonl", "json"), (".ndjson", "json"),
                     (".json", "json"), (".xlsx", "xlsx"), (".xlsm", "xlsx"), (".duckdb", "duckdb"),
                     (".ddb", "duckdb")):
        if low.endswith(ext):
            return fmt
    return "csv"
