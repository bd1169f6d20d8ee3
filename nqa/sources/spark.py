"""Spark SQL: a Spark DataFrame, or a table of a SparkSession, asked where it lives (pyspark).

    from nqa.sources.spark import open_spark
    qa.ask(df, "total sales in the east?")                         # a DataFrame (open_source routes it)
    qa.ask(open_spark(spark, table="shop.sales"), "which region sold most?")

Read-only: `EngineSource.query` sends Spark one SELECT at a time and refuses anything else; nothing
is written to a catalog or to storage. A DataFrame is given a temporary view name in its session
(session memory, dropped on `close`), since SQL needs a name for it; the DataFrame itself is not
changed. Spark's own settings are left as the user set them (ANSI mode on or off both work: every
cast nqa writes is TRY_CAST or of a known type).

Row order: with `order_by=` rows are numbered by that column (ties by the engine's order). Without
one, by the DataFrame's partition order (`monotonically_increasing_id()`, which increases through
each partition in turn): a file's order for a DataFrame read from one file, a list's order for one
made from local data. A table that Spark reads from many files in no fixed order has no row order of
its own: pass order_by when first/last/next/previous matter. Partition order is no defined order, so
without `order_by=` a table has no last row and a closing 'Total' row stays a record (load_table
leaves it out of a file: nqa.table.footer_rows); with an order column it is left out as in memory
(EngineSource.find_footer).

Types: strings are text; byte/short/int/long integers; double floats; decimals; boolean, date and
timestamps as such. Everything else (float, arrays, maps, structs, binary, intervals...) is read as
its text as Spark prints it (`CAST(c AS STRING)`), so every column can be grouped and compared; a
float (4 bytes) too, because Spark prints 0.1 for a float whose double is 0.10000000149011612.
"""
from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

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

KINDS = {
    "string": "text", "varchar": "text", "char": "text",
    "byte": "integer", "short": "integer", "integer": "integer", "long": "integer",
    "double": "float", "decimal": "decimal", "boolean": "boolean", "date": "date",
    "timestamp": "timestamp", "timestamp_ntz": "timestamp",
}


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return (text.split(" JVM stacktrace:")[0])[:400] or type(e).__name__


def spark_kind(type_name: str) -> str:
    """A Spark type name (DataType.typeName(): 'string', 'decimal', 'array'...) as a TYPE_KINDS kind."""
    return KINDS.get(type_name.split("(")[0].lower(), "other")


class SparkSource(EngineSource):
    """A DataFrame or session table (see the module docstring). Use `open_spark`."""

    dialect = "spark"

    def __init__(self, spark: Any, relation: exp.Table, name: str, order_by: str | None = None,
                 view: str | None = None, frame: Any = None) -> None:
        self._spark = spark
        self._relation = relation
        self.name = name
        self._view = view  # the temporary view nqa made for a DataFrame (dropped on close)
        self._frame = frame  # held so that the cache's id() of it stays unique
        self._lock = threading.Lock()
        self._closed = False
        schema = self._run(lambda: spark.sql(exp.select(exp.Star()).from_(relation.copy()).limit(0)
                                             .sql("spark")).schema)
        self._columns = [SourceColumn(f.name, spark_kind(f.dataType.typeName()), f.dataType.simpleString())
                         for f in schema.fields]
        if not self._columns:
            raise SourceError(f"{name}: the table has no columns")
        if order_by is not None and order_by not in {c.name for c in self._columns}:
            names = ", ".join(repr(c.name) for c in self._columns[:20])
            raise SourceNotFound(f"{name}: no column {order_by!r} to order rows by (columns: {names})")
        if order_by is not None:
            from nqa.sources.postgres import check_orderable

            check_orderable(self, order_by)
        self.order_by = order_by

    # -- the contract ---------------------------------------------------------------------------

    def columns(self) -> list[SourceColumn]:
        return list(self._columns)

    def relation(self) -> exp.Expr:
        return self._relation.copy()

    def _execute(self, sql: str) -> list[tuple]:
        return self._run(lambda: [tuple(r) for r in self._spark.sql(sql).collect()])

    def numbered_relation(self, row_name: str) -> exp.Select:
        """Rows numbered in partition order: ROW_NUMBER() over monotonically_increasing_id() (Spark
        refuses ROW_NUMBER() OVER () without an order); an order column first when there is one."""
        taken = {c.name.casefold() for c in self._columns} | {row_name.casefold()}
        mono = "nqa_scan_order"
        while mono.casefold() in taken:
            mono += "_"
        scanned = exp.select(exp.Star(), exp.alias_(exp.Anonymous(this="monotonically_increasing_id"), mono,
                                                    quoted=True)).from_(self.relation()).subquery("nqa_scan")
        keys = [exp.Ordered(this=column(mono))]
        if self.order_by is not None:
            keys.insert(0, exp.Ordered(this=column(self.order_by), nulls_first=False))
        over = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=keys))
        position = exp.Sub(this=over, expression=exp.Literal.number(1))
        return exp.select(exp.Star(), exp.alias_(position, row_name, quoted=True)).from_(scanned)

    def distinct_estimates(self, names: Sequence[str]) -> tuple[int, list[int]]:
        """Row count and HyperLogLog estimates in one scan (a type Spark cannot count is counted as text)."""
        kinds = {c.name: c.kind for c in self._columns}
        counts = [exp.Anonymous(this="approx_count_distinct", expressions=[
            exp.cast(column(n), "STRING") if kinds.get(n) == "other" else column(n)]) for n in names]
        row = self.query(exp.select(exp.Count(this=exp.Star()), *counts).from_(self.records()))[0]
        return int(row[0]), [int(x) for x in row[1:]]

    def cache_key(self) -> tuple:
        """A DataFrame's plan is fixed, so its view names it; a session table may change under the
        same name, so its source object does (re-open it to see new rows)."""
        return (*super().cache_key(), self._relation.sql("spark"), id(self))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._view is not None:
                with contextlib.suppress(Exception):  # a stopped session has dropped it already
                    self._spark.catalog.dropTempView(self._view)

    # -- errors -----------------------------------------------------------------------------------

    def _run(self, action: Any) -> Any:
        """Run `action` (a Spark call), mapping Spark's errors to SourceError subclasses."""
        from pyspark.errors import AnalysisException, PySparkException

        with self._lock:
            if self._closed:
                raise SourceConnectionError(f"{self.name}: the source is closed")
            if _session_stopped(self._spark):
                raise SourceConnectionError(f"{self.name}: the Spark session was stopped; open the table again "
                                            "in a running session")
            try:
                return action()
            except AnalysisException as e:
                condition = _condition(e)
                if condition in ("TABLE_OR_VIEW_NOT_FOUND", "UNRESOLVED_COLUMN", "SCHEMA_NOT_FOUND"):
                    raise SourceNotFound(f"{self.name}: {_reason(e)}") from None
                raise SourceQueryError(f"{self.name}: Spark refused a query ({_reason(e)})") from None
            except PySparkException as e:
                if _stopped(e):
                    raise SourceConnectionError(f"{self.name}: the Spark session is gone ({_reason(e)})") from None
                raise SourceQueryError(f"{self.name}: Spark could not run a query ({_reason(e)})") from None
            except Exception as e:  # py4j errors: the JVM is gone or the session stopped
                if _stopped(e) or _session_stopped(self._spark):
                    raise SourceConnectionError(f"{self.name}: the Spark session is gone ({_reason(e)})") from None
                raise


def _condition(e: Any) -> str | None:
    get = getattr(e, "getCondition", None)
    try:
        return get() if get is not None else None
    except Exception:
        return None


def _session_stopped(spark: Any) -> bool:
    """Whether the session's SparkContext has been stopped (pyspark then fails with AttributeErrors)."""
    try:
        return spark.sparkContext._jsc is None
    except Exception:
        return True


def _stopped(e: BaseException) -> bool:
    text = str(e)
    return any(s in text for s in ("stopped SparkContext", "SparkContext was shut down", "Connection refused",
                                   "Answer from Java side is empty", "Error while sending or receiving",
                                   "SparkContext has been shutdown")) or type(e).__name__.startswith("Py4JNetwork")


# =============================================================================================
# Opening
# =============================================================================================


def open_spark(frame_or_session: Any, table: str | None = None, order_by: str | None = None) -> SparkSource:
    """A Spark source: a DataFrame (`table` must be None), or a SparkSession and the name of one of its
    tables or views ('name', 'db.name', 'catalog.db.name', or any name as one identifier)."""
    from nqa.sources.open import _cached

    if hasattr(frame_or_session, "sparkSession") and hasattr(frame_or_session, "schema"):  # a DataFrame
        if table is not None:
            raise SourceError("table= names a table of a SparkSession; a DataFrame is one table")
        frame = frame_or_session
        source = _cached(("spark-frame", id(frame), order_by), lambda: _frame_source(frame, order_by))
        assert isinstance(source, SparkSource)
        return source
    if not hasattr(frame_or_session, "sql") or not hasattr(frame_or_session, "catalog"):
        raise SourceError(f"not a Spark DataFrame or SparkSession: {type(frame_or_session).__name__}")
    spark = frame_or_session
    if not table:
        raise SourceError("name a table of the SparkSession: open_spark(spark, table='db.sales')")
    return _table_source(spark, table, order_by)


def _frame_source(frame: Any, order_by: str | None) -> SparkSource:
    view = f"nqa_frame_{uuid.uuid4().hex}"  # never the name of a view the user made
    try:
        frame.createOrReplaceTempView(view)
    except Exception as e:
        if _stopped(e):
            raise SourceConnectionError(f"the DataFrame's Spark session is gone ({_reason(e)})") from None
        raise SourceError(f"cannot read the DataFrame ({_reason(e)})") from None
    try:
        return SparkSource(frame.sparkSession, exp.Table(this=ident(view)), "Spark DataFrame", order_by, view, frame)
    except BaseException:
        with contextlib.suppress(Exception):
            frame.sparkSession.catalog.dropTempView(view)
        raise


def _table_source(spark: Any, table: str, order_by: str | None) -> SparkSource:
    """The name as one identifier first (a view named 'csv/1.csv'), then as dotted parts; looked up in
    the catalog first, so that a miss logs no Spark error."""
    quoted = "`" + table.replace("`", "``") + "`"
    candidates = [(quoted, exp.Table(this=ident(table)))]
    parts = table.split(".")
    if 1 < len(parts) <= 3 and all(parts):
        names = [ident(p.strip("`")) for p in parts]
        candidates.append((".".join(n.sql("spark") for n in names),
                           exp.Table(this=names[-1], db=names[-2], catalog=names[0] if len(names) == 3 else None)))
    for name, relation in candidates:
        if _exists(spark, name):
            return SparkSource(spark, relation, f"Spark table {table}", order_by)
    try:
        listing = ", ".join(t.name for t in spark.catalog.listTables()[:30]) or "none"
    except Exception:
        listing = "unknown"
    raise SourceNotFound(f"Spark table {table!r} not found in the session's current database (tables and "
                         f"views: {listing})")


def _exists(spark: Any, name: str) -> bool:
    if _session_stopped(spark):
        raise SourceConnectionError("the Spark session was stopped; open the table in a running session")
    try:
        return bool(spark.catalog.tableExists(name))
    except Exception:  # a name Spark cannot parse, or a catalog that cannot be reached
        return False


# =============================================================================================
# The agreement harness (nqa.sources.agreement --engine spark)
# =============================================================================================


@contextlib.contextmanager
def agreement_engine() -> Iterator[Any]:
    """Tables as Spark DataFrames of text columns (one local session: the active one, else a new one
    from training/engines.py in a source checkout), read back by `SparkSource` in partition order."""
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StringType, StructField, StructType

    with contextlib.ExitStack() as stack:
        spark = SparkSession.getActiveSession()
        if spark is None:
            from training.engines import spark_session

            spark = stack.enter_context(spark_session())
        opened: list[SparkSource] = []
        stack.callback(close_all, opened)

        def load(name: str, frame: Any) -> SparkSource:
            # A table without an order column has no last row here (EngineSource.has_row_order), so
            # Spark keeps a closing 'Total' row as a record: load the rows load_table keeps.
            from nqa.sources.agreement import records_frame

            frame = records_frame(frame)
            schema = StructType([StructField(str(c), StringType(), True) for c in frame.columns])
            rows = [tuple(None if v is None else str(v) for v in r) for r in frame.itertuples(index=False)]
            # A temporary view under the table's own (hostile) name, opened as a session table; in one
            # partition, as Spark reads a small file (local rows are split across the cores, and SUM
            # then adds partition sums: 13.3 where row order gives 13.299999999999999).
            frame_df = spark.createDataFrame(rows, schema).coalesce(1)
            frame_df.createOrReplaceTempView(ident(name).sql("spark"))
            source = open_spark(spark, table=name)
            opened.append(source)
            return source

        yield load

