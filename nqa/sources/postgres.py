"""PostgreSQL: a table of a PostgreSQL database, asked where it lives (psycopg 3).

    from nqa.sources.postgres import open_postgres
    qa.ask(open_postgres("postgresql://me@db.example/shop", table="sales"), "total sales in the east?")
    nqa ask postgresql://me@db.example/shop "total sales in the east?" --table sales

Read-only, three times over: the connection is opened with `default_transaction_read_only=on` and
its session set `READ ONLY` (PostgreSQL itself refuses any write), `EngineSource.query` refuses
anything but one SELECT before it is sent, and catalog look-ups bind their values as parameters.
Nothing is created, not even a temporary table: a column's typed mapping travels inline (VALUES).
Give nqa a role that may only SELECT, as with any tool.

Row order (first/last/next/previous, print order): with `order_by=` the rows are numbered by that
column. Without one, by the order a sequential scan returns them (`ROW_NUMBER() OVER ()`), which is
the table's physical order: insertion order for a table only ever appended to, not after UPDATEs or
VACUUM FULL. The session turns off parallel and synchronized scans so that this order is stable.
That scan order is no defined order, so without `order_by=` a table has no last row and a closing
'Total' row stays a record (load_table leaves it out of a file: nqa.table.footer_rows); with an order
column it is left out as in memory (EngineSource.find_footer).

Types: text, varchar, char and name columns are text; int2/4/8 integers; float8 floats; numeric
decimals; boolean, date and timestamp as such. Everything else (real/float4, timestamptz, json, xml,
arrays, enums, geometric types...) is read as its text, as PostgreSQL prints it (`CAST(c AS TEXT)`),
so every column can be grouped and compared. A real (float4) is read as text because PostgreSQL
prints it shortest (0.1) while its double is 0.100000001490116: the text is what the user sees.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlglot import exp

from nqa.sources.base import (
    EngineSource,
    SourceColumn,
    SourceConnectionError,
    SourceError,
    SourceNotFound,
    SourceQueryError,
    close_all,
    column,
    ident,
)

CONNECT_TIMEOUT_S = int(os.environ.get("NQA_PG_CONNECT_TIMEOUT", "10"))
# Session settings: read-only, and a scan order that does not move between queries.
SESSION_SETTINGS = (
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "SET max_parallel_workers_per_gather = 0",
    "SET synchronize_seqscans = off",
)
KINDS = {
    "text": "text", "varchar": "text", "bpchar": "text", "name": "text", "citext": "text",
    "int2": "integer", "int4": "integer", "int8": "integer",
    "float8": "float", "numeric": "decimal", "bool": "boolean", "date": "date", "timestamp": "timestamp",
}
_TABLES = """
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1, 2"""
_COLUMNS = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typname
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = (SELECT c.oid FROM pg_catalog.pg_class c
                    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = %s AND c.relname = %s)
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""
# What changes when the table's rows change (the profile cache's version of the contents).
_VERSION = """
SELECT pg_catalog.pg_relation_filenode(c.oid), s.n_tup_ins, s.n_tup_upd, s.n_tup_del
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
WHERE n.nspname = %s AND c.relname = %s"""


def redact(url: str) -> str:
    """The URL without its password (for messages and Answer.table.source)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<postgresql url>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise SourceError('PostgreSQL tables need psycopg: pip install "nqa[engines]" (or psycopg[binary])') from None
    return psycopg


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split())[:400] or type(e).__name__


class _Session:
    """One read-only connection to one database, shared by every source of that database (asking
    about ten tables opens one connection, not ten); one query at a time on it."""

    def __init__(self, url: str, shown: str) -> None:
        self.url, self.shown = url, shown
        self.lock = threading.Lock()
        self.con: Any = None
        self.users = 0

    def connect(self) -> None:
        psycopg = _psycopg()
        try:
            con = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                  options="-c default_transaction_read_only=on", application_name="nqa")
        except psycopg.OperationalError as e:
            reason = _reason(e)
            if "does not exist" in reason:
                raise SourceNotFound(f"{self.shown}: {reason}") from None
            raise SourceConnectionError(f"{self.shown}: cannot connect to PostgreSQL ({reason})") from None
        except psycopg.ProgrammingError as e:  # a malformed URL
            raise SourceError(f"{self.shown}: not a PostgreSQL connection URL ({_reason(e)})") from None
        try:
            for setting in SESSION_SETTINGS:
                con.execute(setting)
        except psycopg.Error as e:
            con.close()
            raise SourceConnectionError(f"{self.shown}: cannot set up a read-only session ({_reason(e)})") from None
        self.con = con

    def run(self, sql: str, params: tuple | None, name: str) -> list[tuple]:
        """Run one statement (catalog look-ups bind `params`; program queries have none, so their
        text reaches PostgreSQL as written: a '%' in a value is a '%')."""
        psycopg = _psycopg()
        with self.lock:
            if self.con is not None and (self.con.closed or self.con.broken):
                self.con.close()  # lost during an earlier question: connect again, once
                self.con = None
            if self.con is None:
                self.connect()
            try:
                with self.con.cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall()
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as e:
                raise SourceNotFound(f"{name}: {_reason(e)}") from None
            except psycopg.errors.ReadOnlySqlTransaction as e:
                raise SourceQueryError(f"{name}: PostgreSQL refused a write ({_reason(e)})") from None
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                if self.con.closed or self.con.broken:
                    raise SourceConnectionError(f"{name}: lost the connection to PostgreSQL mid-question "
                                                f"({_reason(e)}); nothing was changed, ask again") from None
                raise SourceQueryError(f"{name}: PostgreSQL could not run a query ({_reason(e)})") from None
            except psycopg.Error as e:
                raise SourceQueryError(f"{name}: PostgreSQL refused a query ({_reason(e)})") from None

    def close(self) -> None:
        with self.lock:
            if self.con is not None:
                self.con.close()
                self.con = None


_sessions: dict[str, _Session] = {}
_sessions_lock = threading.Lock()


def _acquire(url: str, shown: str) -> _Session:
    with _sessions_lock:
        session = _sessions.get(url)
        if session is None:
            session = _sessions[url] = _Session(url, shown)
        session.users += 1
        return session


def _release(session: _Session) -> None:
    with _sessions_lock:
        session.users -= 1
        if session.users > 0:
            return
        if _sessions.get(session.url) is session:
            del _sessions[session.url]
    session.close()


@atexit.register
def _close_sessions() -> None:
    """Close the connections of sources still open at exit (cached ones are never closed by hand)."""
    with _sessions_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        session.close()


class PostgresSource(EngineSource):
    """One table of a PostgreSQL database, over its database's shared read-only connection (see the
    module docstring)."""

    dialect = "postgres"

    def __init__(self, url: str, table: str | None = None, order_by: str | None = None) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://", 1).replace(
            "postgres+psycopg://", "postgresql://", 1)
        self._shown = redact(self._url)
        self.name = self._shown
        self._session: _Session | None = None
        try:
            self.schema, self.table = self._pick(table)
            self.name = f"{self._shown} table {self._display_table()}"
            self._columns = self._describe()
            if order_by is not None and order_by not in {c.name for c in self._columns}:
                names = ", ".join(repr(c.name) for c in self._columns[:20])
                raise SourceNotFound(f"{self.name}: no column {order_by!r} to order rows by (columns: {names})")
            if order_by is not None:
                check_orderable(self, order_by)
        except BaseException:
            self.close()
            raise
        self.order_by = order_by

    def _run(self, sql: str, params: tuple | None = None) -> list[tuple]:
        if self._session is None:  # new, or closed: (re)join the database's connection
            self._session = _acquire(self._url, self._shown)
        return self._session.run(sql, params, self.name)

    # -- the contract ---------------------------------------------------------------------------

    def columns(self) -> list[SourceColumn]:
        return list(self._columns)

    def relation(self) -> exp.Expr:
        return exp.Table(this=ident(self.table), db=ident(self.schema))

    def _execute(self, sql: str) -> list[tuple]:
        return self._run(sql)

    def distinct_estimates(self, names: Sequence[str]) -> tuple[int, list[int]]:
        """Row count and exact distinct counts in one scan (PostgreSQL has no approximate count); a
        column read as text (json, xml, points...: types without equality) is counted as text."""
        kinds = {c.name: c.kind for c in self._columns}
        counts = [exp.Count(this=exp.Distinct(expressions=[
            exp.cast(column(n), "TEXT") if kinds.get(n) == "other" else column(n)])) for n in names]
        row = self.query(exp.select(exp.Count(this=exp.Star()), *counts).from_(self.records()))[0]
        return int(row[0]), [int(x) for x in row[1:]]

    def number_from_text(self, text: exp.Expr) -> exp.Expr:
        """PostgreSQL has no TRY_CAST: cast only text that reads as a number (after dropping ',' and '$')."""
        cleaned = exp.Trim(this=exp.Replace(
            this=exp.Replace(this=text, expression=exp.Literal.string(","), replacement=exp.Literal.string("")),
            expression=exp.Literal.string("$"), replacement=exp.Literal.string("")))
        pattern = exp.Literal.string(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
        is_number = exp.RegexpLike(this=cleaned.copy(), expression=pattern)
        return exp.Case(ifs=[exp.If(this=is_number, true=exp.cast(cleaned, "DOUBLE"))])

    def cache_key(self) -> tuple:
        try:
            version = tuple(self._run(_VERSION, (self.schema, self.table)))
        except SourceError:
            version = ()
        return (*super().cache_key(), self._shown, self.schema, self.table, version)

    def close(self) -> None:
        """Leave the shared connection (closed with its last source); a later query joins it again."""
        session, self._session = self._session, None
        if session is not None:
            _release(session)

    # -- catalog --------------------------------------------------------------------------------

    def _display_table(self) -> str:
        return self.table if self.schema == "public" else f"{self.schema}.{self.table}"

    def _pick(self, table: str | None) -> tuple[str, str]:
        """(schema, name) of `table`: 'name' or 'schema.name', exactly, else case-insensitively."""
        tables = [(str(s), str(t)) for s, t in self._run(_TABLES)]
        listing = ", ".join(t if s == "public" else f"{s}.{t}" for s, t in tables[:30])
        if table is None:
            if len(tables) == 1:
                return tables[0]
            raise SourceError(f"{self._shown}: holds {len(tables)} tables; name one with table= / --table "
                              f"(tables: {listing or 'none'})")
        for match in (lambda s, t: t == table and s == "public", lambda s, t: t == table,
                      lambda s, t: f"{s}.{t}" == table,
                      lambda s, t: table.casefold() in (t.casefold(), f"{s}.{t}".casefold())):
            found = [(s, t) for s, t in tables if match(s, t)]
            if found:
                return found[0]
        raise SourceNotFound(f"{self._shown}: no table {table!r} (tables: {listing or 'none'})")

    def _describe(self) -> list[SourceColumn]:
        rows = self._run(_COLUMNS, (self.schema, self.table))
        if not rows:
            raise SourceError(f"{self.name}: the table has no columns (or may not be read)")
        return [SourceColumn(str(name), KINDS.get(str(typname), "other"), str(shown)) for name, shown, typname in rows]


def check_orderable(source: EngineSource, name: str) -> None:
    """SourceQueryError unless the engine can order rows by column `name` (asked of the engine itself:
    an ORDER BY that returns no row)."""
    probe = exp.select(exp.Literal.number(1)).from_(source.relation()).order_by(column(name)).limit(0)
    try:
        source.query(probe)
    except SourceQueryError as e:
        kind = next((c.engine_type for c in source.columns() if c.name == name), "")
        raise SourceQueryError(f"{source.name}: cannot order rows by column {name!r} ({kind}): the engine cannot "
                               f"compare its values; pick another order column ({e})") from None


def open_postgres(url: str, table: str | None = None, order_by: str | None = None) -> PostgresSource:
    """A PostgreSQL table by connection URL (postgresql://user[:password]@host[:port]/database) and
    name ('name' or 'schema.name'; None: the database's only table)."""
    from nqa.sources.open import _cached

    source = _cached(("postgres", url, table, order_by), lambda: PostgresSource(url, table, order_by))
    assert isinstance(source, PostgresSource)
    return source


# =============================================================================================
# The agreement harness (nqa.sources.agreement --engine postgres)
# =============================================================================================


@contextlib.contextmanager
def agreement_engine() -> Iterator[Any]:
    """Tables loaded into PostgreSQL (text columns, COPY) and read back by `PostgresSource`: the
    server at $NQA_POSTGRES_URL, else a throwaway one from Debian's binaries (training/engines.py,
    in a source checkout). Loading writes (it is the test's set-up); the sources only read."""
    psycopg = _psycopg()
    with contextlib.ExitStack() as stack:
        url = os.environ.get("NQA_POSTGRES_URL")
        if not url:
            from training.engines import postgres_server

            url = stack.enter_context(postgres_server()).url
        writer = psycopg.connect(url, autocommit=True)
        stack.callback(writer.close)
        opened: list[PostgresSource] = []
        stack.callback(close_all, opened)

        def load(name: str, frame: Any) -> PostgresSource:
            # A table without an order column has no last row here (EngineSource.has_row_order), so
            # PostgreSQL keeps a closing 'Total' row as a record: load the rows load_table keeps.
            from nqa.sources.agreement import records_frame

            frame = records_frame(frame)
            table = exp.Table(this=ident(name), db=ident("public")).sql("postgres")
            cols = ", ".join(f"{ident(str(c)).sql('postgres')} TEXT" for c in frame.columns)
            writer.execute(f"DROP TABLE IF EXISTS {table}")
            writer.execute(f"CREATE TABLE {table} ({cols})")
            with writer.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
                for row in frame.itertuples(index=False):
                    copy.write_row([None if v is None else str(v) for v in row])
            writer.execute(f"ANALYZE {table}")
            source = open_postgres(url, table=name)
            opened.append(source)
            return source

        yield load

