"""PostgreSQL tables asked where they live (nqa.sources.postgres), on a real server (conftest's
`postgres` fixture: Debian's binaries, a throwaway data directory).

The engine path must give the in-memory path's answer; nothing may be written to the user's
database (every test that asks checks the table's rows afterwards); and a wrong table, a refused or
lost connection and a column the engine cannot order by are each a clear nqa error.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import pytest

from nqa.sources import SourceConnectionError, SourceError, SourceNotFound, SourceQueryError
from nqa.sources.postgres import PostgresSource, open_postgres, redact
from nqa.table import Table, load_table, table_from_rows

HOSTILE_TABLE = 'sa"les; DROP TABLE x; --'
HOSTILE = table_from_rows(
    ['Re"gion', "it's", "100% (n)", "Units"],
    [["East", "O'Brien", "a_b", "10"], ["we\"st", "50%", "x\\y", "20"], ["East", "'); DROP TABLE t; --", "%", "5"],
    ["North", "ü ß 東京", "line\nbreak", "7"]])


@pytest.fixture(scope="module")
def qa():
    from nqa.api import TableQA

    return TableQA.from_pretrained()


@pytest.fixture
def writer(postgres):
    """A writable connection: the tests' own set-up (the sources under test only ever read)."""
    from training.engines import postgres_connect

    con = postgres_connect(postgres.url)
    yield con
    con.close()


def text_frame(table: Table) -> pd.DataFrame:
    """The table's raw cells as text columns (what the agreement runs load into engines)."""
    return pd.DataFrame({c.name: pd.Series(c.raw, dtype=object) for c in table.columns})


def create(writer: Any, name: str, frame: pd.DataFrame, types: dict[str, str] | None = None) -> None:
    """Table `name` holding `frame` (text columns unless `types` says otherwise), via COPY."""
    from psycopg import sql

    types = types or {}
    cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types.get(c, "TEXT")))
                              for c in frame.columns)
    writer.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    writer.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), cols))
    with writer.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(name))) as copy:
        for row in frame.itertuples(index=False):
            copy.write_row([None if v is None or (isinstance(v, float) and v != v) else v for v in row])


def contents(writer: Any, name: str) -> list[tuple]:
    from psycopg import sql

    return writer.execute(sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(name))).fetchall()


def tables(writer: Any) -> list[tuple]:
    return writer.execute("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
                          "('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()


QUESTIONS = ["how many rows have east?", "what is the total units?", "which region has the most units?",
             "what is the first it's?", "what is the last region?", "what comes after east?"]


def test_hostile_names_and_values_give_the_in_memory_answers(qa, postgres, writer):
    create(writer, HOSTILE_TABLE, text_frame(HOSTILE))
    before, listed = contents(writer, HOSTILE_TABLE), tables(writer)
    source = open_postgres(postgres.url, table=HOSTILE_TABLE)
    for q in QUESTIONS:
        mem, eng = qa.ask(HOSTILE, q), qa.ask(source, q)
        assert eng.values == mem.values and str(eng.program) == str(mem.program), q
        assert abs(eng.confidence - mem.confidence) < 1e-9, q
    assert contents(writer, HOSTILE_TABLE) == before and tables(writer) == listed  # nothing written
    assert '"sa""les; DROP TABLE x; --"' in qa.ask(source, QUESTIONS[0]).sql  # a quoted identifier


def test_typed_columns_give_the_in_memory_answers(qa, postgres, writer):
    frame = pd.DataFrame({"City": ["Oslo", "Lima", "Pune", "Oslo"], "Pop": [700, 10000, 3100, 720],
                          "Area": [454.0, 2672.3, 331.26, 454.5], "Founded": pd.to_datetime(
                              ["1048-01-01", "1535-01-18", "1700-05-02", "1048-06-01"]).date,
                          "Big": [False, True, True, False]})
    create(writer, "cities", frame, {"Pop": "BIGINT", "Area": "DOUBLE PRECISION", "Founded": "DATE", "Big": "BOOLEAN"})
    source = open_postgres(postgres.url, table="cities")
    assert [c.kind for c in source.columns()] == ["text", "integer", "float", "date", "boolean"]
    table = load_table(frame)
    for q in ["what is the total pop?", "which city has the largest area?", "how many cities are big?",
              "what is the average area?", "which city was founded in 1535?", "how many cities have pop over 1000?"]:
        assert qa.ask(source, q).values == qa.ask(table, q).values, q


def test_reads_only(postgres, writer):
    create(writer, "kept", text_frame(HOSTILE))
    before = contents(writer, "kept")
    source = PostgresSource(postgres.url, "kept")
    for statement in ('DELETE FROM "kept"', 'SELECT 1; DROP TABLE "kept"', "CREATE TABLE x AS SELECT 1",
                      'WITH d AS (DELETE FROM "kept" RETURNING *) SELECT * FROM d'):
        with pytest.raises(SourceQueryError, match="refused"):
            source.query(statement)
    # past nqa's own check, PostgreSQL refuses too: the session is read-only
    with pytest.raises(SourceQueryError, match="read-only"):
        source._execute('DELETE FROM "kept"')
    with pytest.raises(SourceQueryError, match="read-only"):
        source._execute("CREATE TEMP TABLE scratch (a int)")
    assert source.query("SELECT current_setting('transaction_read_only')") == [("on",)]
    source.close()
    assert contents(writer, "kept") == before


def test_wrong_table_database_and_url(postgres, writer):
    create(writer, "present", text_frame(HOSTILE))
    with pytest.raises(SourceNotFound, match=r"no table 'absent' \(tables: .*present"):
        open_postgres(postgres.url, table="absent")
    with pytest.raises(SourceNotFound, match="does not exist"):
        open_postgres(postgres.url.rsplit("/", 1)[0] + "/nodb", table="present")
    with pytest.raises(SourceError, match="name one with table="):
        PostgresSource(postgres.url)  # several tables, none named
    with pytest.raises(SourceNotFound, match="no column 'nope' to order rows by"):
        open_postgres(postgres.url, table="present", order_by="nope")


def test_refused_connection_is_a_clear_error():
    from training.engines import free_port

    url = f"postgresql://nqa:secret@127.0.0.1:{free_port()}/nqa"
    with pytest.raises(SourceConnectionError, match="cannot connect to PostgreSQL") as e:
        open_postgres(url, table="t")
    assert "secret" not in str(e.value)  # the password never reaches a message
    assert redact(url) == url.replace(":secret", "")


def _terminate(writer: Any) -> int:
    """Terminate nqa's sessions (application_name nqa); how many."""
    rows = writer.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'nqa' AND pid <> pg_backend_pid()").fetchall()
    return len(rows)


def test_connection_lost_mid_question(qa: Any, postgres: Any, writer: Any) -> None:
    """The question waits on a lock the test holds; its backend is terminated meanwhile. The answer is
    a SourceConnectionError, the table is untouched, and the next question connects again."""
    create(writer, "lost", text_frame(HOSTILE))
    before = contents(writer, "lost")
    source = open_postgres(postgres.url, table="lost")
    qa.ask(source, QUESTIONS[1])  # profiled: the next question only runs its programs
    from training.engines import postgres_connect

    locker = postgres_connect(postgres.url, autocommit=False)
    locker.execute('LOCK TABLE "lost" IN ACCESS EXCLUSIVE MODE')
    failure: list[BaseException] = []

    def ask() -> None:
        try:
            qa.ask(source, QUESTIONS[0])
        except BaseException as e:  # noqa: B036 (handed to the test thread)
            failure.append(e)

    thread = threading.Thread(target=ask)
    thread.start()
    waiting: list = []
    for _ in range(100):  # until nqa's query waits on the lock
        waiting = writer.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'nqa' "
                                 "AND wait_event_type = 'Lock'").fetchall()
        if waiting:
            break
        time.sleep(0.05)
    assert waiting, "nqa's query never waited on the lock"
    assert _terminate(writer) >= 1
    thread.join(30)
    locker.rollback()
    locker.close()
    assert len(failure) == 1 and isinstance(failure[0], SourceConnectionError), failure
    assert "lost the connection" in str(failure[0])
    assert qa.ask(source, QUESTIONS[0]).values == qa.ask(HOSTILE, QUESTIONS[0]).values  # connects again
    assert contents(writer, "lost") == before


def test_server_stopped_and_started(qa, postgres, writer):
    create(writer, "stopped", text_frame(HOSTILE))
    source = open_postgres(postgres.url, table="stopped")
    qa.ask(source, QUESTIONS[1])
    postgres.stop()
    try:
        with pytest.raises(SourceConnectionError):
            qa.ask(source, QUESTIONS[0])
    finally:
        postgres.start()
    assert qa.ask(source, QUESTIONS[0]).values == qa.ask(HOSTILE, QUESTIONS[0]).values


def test_a_column_postgres_cannot_compare(qa, postgres, writer):
    """json has no equality or ordering in PostgreSQL: nqa reads it as its text, and ordering rows by
    it is refused with the reason."""
    frame = pd.DataFrame({"Name": ["a", "b", "c"], "Doc": ['{"k": 1}', '{"k": 2}', '{"k": 1}'], "N": ["1", "2", "3"]})
    create(writer, "docs", frame, {"Doc": "JSON"})
    before = contents_by_name(writer, "docs")
    source = open_postgres(postgres.url, table="docs")
    assert [c.kind for c in source.columns()] == ["text", "other", "text"]
    assert qa.ask(source, "how many docs?").values == qa.ask(load_table(frame), "how many docs?").values
    with pytest.raises(SourceQueryError, match="cannot order rows by column 'Doc'"):
        open_postgres(postgres.url, table="docs", order_by="Doc")
    assert contents_by_name(writer, "docs") == before


def contents_by_name(writer: Any, name: str) -> list[tuple]:
    from psycopg import sql

    return writer.execute(sql.SQL("SELECT \"Name\", CAST(\"Doc\" AS TEXT) FROM {} ORDER BY 1").format(
        sql.Identifier(name))).fetchall()


def test_order_by_column_numbers_rows(qa, postgres, writer):
    frame = pd.DataFrame({"Step": ["c", "a", "b"], "Pos": ["3", "1", "2"]})
    create(writer, "ordered", frame, {"Pos": "INT"})
    source = open_postgres(postgres.url, table="ordered", order_by="Pos")
    in_order = load_table(frame.sort_values("Pos"))
    for q in ["what is the first step?", "what is the last step?"]:
        assert qa.ask(source, q).values == qa.ask(in_order, q).values


def test_every_program_agrees_with_the_executor(postgres, writer):
    """tests/sources_contract.py: every op's SQL on hostile names and values (NULLs included) gives
    the exact executor's values; writes are refused; the table is unchanged."""
    from sources_contract import HOSTILE_TABLE as CONTRACT_TABLE
    from sources_contract import QUESTIONS as CONTRACT_QUESTIONS
    from sources_contract import assert_programs_agree, assert_read_only, hostile_frame

    create(writer, CONTRACT_TABLE, hostile_frame())
    before = contents(writer, CONTRACT_TABLE)
    source = PostgresSource(postgres.url, CONTRACT_TABLE)
    try:
        assert assert_programs_agree(source, hostile_frame(), CONTRACT_QUESTIONS) > 1000
        assert_read_only(source)
    finally:
        source.close()
    assert contents(writer, CONTRACT_TABLE) == before


def test_a_closing_total_row_is_left_out_only_with_an_order_column(qa, postgres, writer):
    """With an order column the last row is defined, and a closing 'Total' row is left out as load_table
    leaves it out (nqa.table.footer_rows): the profile's footer holds it, answers are the in-memory
    ones. Without one, scan order is no defined order: no last row, so the row stays a record."""
    from nqa.sources import profile

    frame = pd.DataFrame({"Nation": ["Norway", "Total", "Sweden", "Finland"], "Gold": ["5", "8", "2", "1"],
                          "Pos": [1, 9, 2, 3]})
    create(writer, "medals", frame, {"Pos": "INT"})
    before = contents(writer, "medals")
    memory = load_table(frame.sort_values("Pos").reset_index(drop=True))
    assert memory.n_rows == 3 and memory.footer == [["Total", "8", "9"]]
    ordered = open_postgres(postgres.url, table="medals", order_by="Pos")
    base = profile(ordered)
    assert base.footer == memory.footer and base.source_rows == 3
    for q in ["how many nations are there?", "which nation has the most gold?", "what is the total gold?",
              "what is the last nation?"]:
        eng = qa.ask(ordered, q)
        assert eng.values == qa.ask(memory, q).values, q
        assert eng.run_sql() == eng.values, q  # the SQL shown runs in PostgreSQL as it is
    unordered = open_postgres(postgres.url, table="medals")
    assert profile(unordered).footer == [] and profile(unordered).source_rows == 4
    assert contents(writer, "medals") == before  # nothing written
