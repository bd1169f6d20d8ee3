"""Tables that stay where they live: big files through DuckDB, database tables, Spark DataFrames.

The model needs only a table's headers, column types, the cells that match the question and a row
order; the answer is a program with an exact SQL form. So a table past the in-memory threshold is
never loaded: it is profiled once by queries its engine runs (nqa.sources.profile), and each
question's programs run there as SQL in the engine's dialect (nqa.sources.relation, .answer).

    from nqa import TableQA
    from nqa.sources import open_source
    qa = TableQA.from_pretrained()
    qa.ask("big.parquet", "what were total sales in the east?")            # DuckDB, in place
    qa.ask(open_source("shop.duckdb", table="sales"), "...")               # a DuckDB table
    qa.ask(open_source("shop.duckdb", table="sales", order_by="date"), "which came first?")

Adding an engine (the contract, in full in nqa/sources/base.py):

1. Subclass `EngineSource` in nqa/sources/<engine>.py: set `dialect` (a sqlglot dialect) and `name`,
   implement `columns()` (names and TYPE_KINDS from the catalog), `relation()` (the FROM item, a
   sqlglot expression with quoted identifiers) and `_execute(sql)` (run one SELECT, return tuples of
   Python values; map driver errors to SourceNotFound / SourceConnectionError / SourceQueryError).
   Override `row_number()` / `numbered_relation()` if the engine has a row order of its own (and
   `has_row_order()`, so that closing 'Total' rows are left out as load_table leaves them out),
   `distinct_estimates` if it has a cheap approximate distinct count, `mapping_relation` if it can
   hold a typed mapping better than inline VALUES, `normalized_text` / `number_from_text` /
   `lower_text` where its SQL functions differ, and `cache_key` (a version of the table's contents).
2. Expose an opener (`open_postgres(url, table=, order_by=)` in nqa/sources/postgres.py,
   `open_spark(df_or_session, table=, order_by=)` in nqa/sources/spark.py): `open_source` imports
   them lazily for postgres:// URLs and pyspark objects.
3. Test against a real engine with `tests/sources_contract.py`'s checks (hostile names and values,
   read-only, errors) and agreement on WTQ dev: `python -m nqa.sources.agreement --engine <name>`.

Everything engine-neutral (typing distinct values exactly as load_table does, matching question words,
writing each program's SQL over the raw table, choosing the answer) is shared, so an engine that
follows the contract gives the in-memory path's answers.
"""
from nqa.sources.base import (
    TYPE_KINDS,
    EngineSource,
    SourceColumn,
    SourceConnectionError,
    SourceError,
    SourceNotFound,
    SourceQueryError,
)
from nqa.sources.duckdb_source import DuckDBSource
from nqa.sources.open import ENGINE_THRESHOLD, load_file, open_source, profile
from nqa.sources.profile import PROFILE_CAP, ProfileTable, question_table

__all__ = [
    "EngineSource", "SourceColumn", "TYPE_KINDS", "SourceError", "SourceNotFound", "SourceConnectionError",
    "SourceQueryError", "DuckDBSource", "open_source", "load_file", "profile", "ENGINE_THRESHOLD",
    "PROFILE_CAP", "ProfileTable", "question_table",
]
