"""DuckDB: big files read in place (CSV/TSV, Parquet, JSON lines), and tables of a DuckDB database.

One in-memory DuckDB connection per source: Parquet is read in place by read_parquet, CSV and JSON
lines once (read_csv, read_json) into a Parquet copy in the temp directory, all out of core; a
database file is ATTACHed READ_ONLY, so nothing can be written to it. The connection has a memory
limit (NQA_DUCKDB_MEMORY, default 512MB) and spills to a temporary directory past it. Typed mappings
larger than `INLINE_ROWS` travel as Arrow tables registered on this connection (its own memory, not
the user's database).

Row order: Parquet's file_row_number; CSV and JSON lines are copied once into Parquet in file order
(read with parallel=false, insertion order preserved), then the same; a database table in rowid order
(its insertion order); a declared order column wins over all. So every DuckDB table has a last row,
and closing summary rows ('Total') are left out as load_table leaves them out (EngineSource.records).
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
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
DB_ALIAS = "nqa_user_db"  # the attached database's name when its file's name cannot be
_RESERVED_CATALOGS = {"memory", "system", "temp", "main", "information_schema", "pg_catalog"}
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
        self._lookups: dict[str, str] = {}  # column -> temp table of its distinct values (prepare_lookup)
        self._columns = self._describe()
        if order_by is not None and order_by not in {c.name for c in self._columns}:
            names = ", ".join(repr(c.name) for c in self._columns[:20])
            raise SourceNotFound(f"{name}: no column {order_by!r} to order rows by (columns: {names})")
        self.order_by = order_by

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def file(cls, path: str | os.PathLike, fmt: str | None = None, order_by: str | None = None,
             csv_options: dict[str, Any] | None = None) -> DuckDBSource:
        """A CSV/TSV, Parquet or JSON-lines file. Parquet is read in place; CSV and JSON lines are read
        once by DuckDB (out of core, in file order) into a Parquet copy in the temp directory, kept per
        file version, so that each question scans columns instead of parsing text again. `fmt`: csv,
        parquet or json (default: by extension). `csv_options`: read_csv options (delim, quote,
        escape, encoding, names...)."""
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
            from nqa.sources.open import json_array

            layout = "array" if json_array(path) else "newline_delimited"
            relation = exp.Anonymous(this="read_json", expressions=[literal, _named("format", layout)])
        else:
            # parallel=false: rows in file order, and quoted newlines with ragged rows (null_padding)
            options = {"header": True, "all_varchar": True, "null_padding": True, "parallel": False,
                       **(csv_options or {})}
            relation = exp.Anonymous(this="read_csv", expressions=[literal] + [
                _named(k, v) for k, v in options.items()])
        stat = os.stat(path)
        con = _connect()
        parquet = path
        if fmt != "parquet":
            names = (csv_options or {}).get("names") if fmt == "csv" else None
            parquet = _parquet_copy(con, _named_columns(con, relation, names, path), path,
                                    (stat.st_mtime_ns, stat.st_size))
            relation = exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(parquet)])
        return cls(relation, path, con, order_by=order_by, parquet_path=parquet,
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
        # attached under the file's own name, as `duckdb shop.duckdb` names it, so the SQL an answer
        # shows runs there as it is
        stem = os.path.splitext(os.path.basename(db_path))[0]
        alias = stem if stem and stem.casefold() not in _RESERVED_CATALOGS and "\x00" not in stem else DB_ALIAS
        try:
            con.execute(f"ATTACH '{_setting(db_path)}' AS {ident(alias).sql('duckdb')} (READ_ONLY)")
        except duckdb.Error as e:
            con.close()
            raise SourceError(f"{db_path}: not a DuckDB database this DuckDB can open ({_reason(e)})") from None
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                             "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
                             "WHERE database_name = ? AND NOT internal ORDER BY 1, 2",
                             [alias, alias]).fetchall()
        schema, name = _pick_table(db_path, table, tables)
        stat = os.stat(db_path)
        relation = exp.Table(this=ident(name), db=ident(schema), catalog=ident(alias))
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

    def has_row_order(self) -> bool:
        """Always: a file's order, a table's insertion order (or the order column), so a closing
        'Total' row is found as load_table finds it (EngineSource.find_footer)."""
        return True

    def last_rows(self, exprs: Sequence[exp.Expr], n: int) -> list[tuple]:
        """A database table's last rows by rowid (a top-n, not a sort of every row's number: a fifth of
        the time on 5 million rows); positions from its row count."""
        if self.order_by is not None or not self._rowid:
            return super().last_rows(exprs, n)
        rowid = exp.column("rowid")
        rows = self.query(exp.select(*[e.copy() for e in exprs]).from_(self.relation())
                          .order_by(exp.Ordered(this=rowid, desc=True)).limit(n))[::-1]
        total = int(self.query(exp.select(exp.Count(this=exp.Star())).from_(self.relation()))[0][0])
        return [(*r, total - len(rows) + i) for i, r in enumerate(rows)]

    def distinct_estimates(self, names: list[str]) -> tuple[int, list[int]]:  # type: ignore[override]
        counts = [exp.Anonymous(this="approx_count_distinct", expressions=[column(n)]) for n in names]
        row = self.query(exp.select(exp.Count(this=exp.Star()), *counts).from_(self.records()))[0]
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

    def prepare_lookup(self, col: SourceColumn) -> None:
        """A temporary table of a text column's distinct values and their normalised text, in this
        connection's memory (DuckDB spills it to the temp directory past the memory limit)."""
        if col.kind in ("integer", "float", "decimal", "date", "timestamp") or col.name in self._lookups:
            return
        from nqa.sources.profile import key_expression

        name = f"nqa_lookup_{len(self._lookups)}"
        distinct = exp.select(exp.alias_(key_expression(col), "v", quoted=True)).distinct().from_(self.records())
        table = exp.select(column("v"), exp.alias_(self.normalized_text(column("v")), "norm", quoted=True)).from_(
            distinct.subquery("d"))
        self._run_raw(f"CREATE TEMP TABLE {ident(name).sql('duckdb')} AS {table.sql('duckdb')}")
        self._lookups[col.name] = name

    def lookup_relation(self, col: SourceColumn) -> exp.Expr | None:
        name = self._lookups.get(col.name)
        return exp.Table(this=ident(name)) if name is not None else None

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


def _named_columns(con: Any, relation: exp.Expr, names: list[str] | None, path: str) -> exp.Expr:
    """`relation` with columns past the header's `names` (a ragged CSV's extra fields, which DuckDB
    calls column2...) named as nqa names them ('column 3'); unchanged without names."""
    import duckdb

    if not names:
        return relation
    try:
        described = con.execute(f"DESCRIBE {exp.select(exp.Star()).from_(relation).sql('duckdb')}").fetchall()
    except duckdb.Error as e:
        raise SourceError(f"{path}: DuckDB cannot read it ({_reason(e)})") from None
    if len(described) <= len(names):
        return relation
    from nqa.table import unique_names

    final = unique_names(list(names) + [""] * (len(described) - len(names)))
    select = exp.select(*[exp.alias_(column(str(r[0])), n, quoted=True) for r, n in zip(described, final)])
    return select.from_(relation).subquery("nqa_named")


def _parquet_copy(con: Any, relation: exp.Expr, path: str, version: tuple) -> str:
    """A Parquet copy of what `relation` reads (a CSV or JSON file), in the temp directory, made once
    per file version and reading options; its path. Written atomically (a partial copy is never used)."""
    import hashlib

    import duckdb

    key = f"{os.path.abspath(path)}|{version}|{relation.sql('duckdb')}"
    out_dir = os.path.join(tempfile.gettempdir(), "nqa-parquet")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, hashlib.sha256(key.encode()).hexdigest()[:24] + ".parquet")
    if os.path.exists(out):
        return out
    part = f"{out}.{os.getpid()}.{threading.get_ident()}.part"
    select = exp.select(exp.Star()).from_(relation).sql("duckdb")
    try:
        con.execute(f"COPY ({select}) TO '{_setting(part)}' (FORMAT parquet)")
    except duckdb.Error as e:
        if os.path.exists(part):
            os.remove(part)
        raise SourceError(f"{path}: DuckDB cannot read it ({_reason(e)})") from None
    os.replace(part, out)
    return out


def _named(key: str, value: Any) -> exp.Expr:
    """key = value, a named table-function argument."""
    if isinstance(value, (list, tuple)):
        return exp.EQ(this=exp.column(key), expression=exp.Array(expressions=[exp.Literal.string(str(v))
                                                                                for v in value]))
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
