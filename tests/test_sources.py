"""The engine path with a real DuckDB: sources, profiles, each program's SQL, errors, read-only.

tests/sources_contract.py holds the checks every engine passes; PostgreSQL and Spark run the same ones.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sources_contract import (
    HOSTILE_TABLE,
    QUESTIONS,
    assert_programs_agree,
    assert_read_only,
    hostile_frame,
    in_memory,
)

from nqa.sources import (
    DuckDBSource,
    EngineSource,
    SourceConnectionError,
    SourceError,
    SourceNotFound,
    SourceQueryError,
    open_source,
    profile,
)
from nqa.sources.open import csv_options
from nqa.sources.profile import profile_source, question_table
from nqa.table import Table

ROOT = Path(__file__).resolve().parents[1]


def duckdb_file(path: Path, frame: pd.DataFrame, name: str = HOSTILE_TABLE) -> Path:
    """A DuckDB database holding `frame` as table `name` (insertion order = row order)."""
    con = duckdb.connect(str(path))
    con.register("frame", frame)
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in frame.columns)
    con.execute(f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" AS SELECT {cols} FROM frame')
    con.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def hostile_db(tmp_path) -> Path:
    return duckdb_file(tmp_path / "shop.duckdb", hostile_frame())


def test_every_program_agrees_with_the_executor_on_hostile_names_and_values(hostile_db):
    before = digest(hostile_db)
    with DuckDBSource.database_table(hostile_db, HOSTILE_TABLE) as source:
        assert assert_programs_agree(source, hostile_frame(), QUESTIONS) > 1000
        assert_read_only(source)
    assert digest(hostile_db) == before  # nothing was written


def test_typed_columns_agree_with_the_dataframe_path(tmp_path):
    """Integers, floats, dates, timestamps, booleans and NULLs typed by the engine give the cells and
    answers the in-memory path gives for the same DataFrame (Parquet, read by DuckDB in place)."""
    frame = pd.DataFrame({
        "Team": ["Oslo", "Bergen", None, "Oslo", "Tromsø"],
        "Goals": pd.array([3, -1, None, 12, 0], dtype="Int64"),
        "Rate": [0.5, 2.0, float("nan"), 1e20, -3.25],
        "Day": pd.to_datetime(["2020-01-05", "2021-03-01", None, "2019-03-09", "2020-07-09"]).date,
        "At": pd.to_datetime(["2020-01-05 10:30", "2021-03-01", None, "2019-03-09 23:59:59", "2020-07-09"],
                             format="ISO8601"),
        "Won": [True, False, None, True, False],
    })
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    memory = open_source(path)  # small: in memory, through pandas
    assert isinstance(memory, Table)
    with DuckDBSource.file(path) as source:
        base = profile(source)
        assert [c.kind for c in base.columns] == [c.kind for c in memory.columns]
        for col, mem in zip(base.columns, memory.columns):
            assert set(col.raw) == set(mem.raw), col.name
        from sources_contract import all_programs

        from nqa.executor import run_programs
        from nqa.question import parse_question
        from nqa.sources.answer import run_programs as run_in_engine

        for q in ["how many teams scored 3 goals in 2020?", "which team won in march?"]:
            qt = question_table(source, base, q)
            mq, eq = parse_question(q, memory), parse_question(q, qt)
            assert mq.constants == eq.constants
            programs = all_programs(memory, len(mq.constants))
            for p, e, g in zip(programs, run_programs(programs, memory, mq), run_in_engine(source, qt, programs, eq)):
                assert (e is None) == (g is None)
                if e is not None and g is not None:
                    assert g.values == e.values, (q, str(p))


def test_columns_past_the_cap_find_the_question_cells(tmp_path):
    """A column with more distinct values than the cap keeps a sample, and each question's cells are
    looked up in the engine: the constant is found and the filter selects the right rows."""
    n = 3000
    frame = pd.DataFrame({"Customer": [f"Customer {i}" for i in range(n)], "Amount": np.arange(n) % 97,
                          "Region": ["East", "West", "North"] * (n // 3)})
    path = tmp_path / "big.parquet"
    frame.to_parquet(path)
    with DuckDBSource.file(path) as source:
        base, _ = profile_source(source, cap=100)
        assert [p.complete for p in base.profiles] == [False, True, True]
        q = "how much did customer 2750 spend?"
        qt = question_table(source, base, q)
        from nqa.program import Program, Step
        from nqa.question import parse_question
        from nqa.sources.answer import run_program

        parsed = parse_question(q, qt)
        k = next(i for i, c in enumerate(parsed.constants) if c.norm == "customer 2750")
        ran = run_program(source, qt, Program([Step("filter_eq", 0, constant=k), Step("sum", 1)]), parsed)
        assert ran is not None and ran.values == [str(2750 % 97)]


def test_ask_through_duckdb_gives_the_in_memory_answer(tiny_qa, hostile_db, tmp_path):
    frame = hostile_frame()
    with DuckDBSource.database_table(hostile_db) as source:  # the only table: no name needed
        for q in QUESTIONS:
            tiny_qa.ask(in_memory(frame), q)  # header encodings cached, as for the engine's ask below
            mem, eng = tiny_qa.ask(in_memory(frame), q), tiny_qa.ask(source, q)
            assert (eng.values, str(eng.program), eng.confidence) == (mem.values, str(mem.program), mem.confidence)
            assert eng.source is source and "SELECT" in eng.sql and eng.run_sql() == eng.values
            assert json.loads(json.dumps(eng.to_dict()))["answer"] == eng.values
            with pytest.raises(ValueError, match="stays in"):
                eng.setup_sql()


def test_big_files_go_through_duckdb_and_small_ones_stay_in_memory(tmp_path):
    frame = hostile_frame().fillna("")
    csv = tmp_path / "t.csv"
    frame.to_csv(csv, index=False)
    assert isinstance(open_source(csv), Table)
    big = open_source(csv, threshold=0)
    assert isinstance(big, DuckDBSource)
    assert profile(big).column_names == in_memory(hostile_frame()).column_names
    jsonl = tmp_path / "t.jsonl"
    frame.to_json(jsonl, orient="records", lines=True)
    assert isinstance(open_source(jsonl), Table) and isinstance(open_source(jsonl, threshold=0), DuckDBSource)
    xlsx = tmp_path / "t.xlsx"
    frame.to_excel(xlsx, index=False)
    small = open_source(xlsx)
    assert isinstance(small, Table) and small.n_rows == len(frame)
    streamed = open_source(xlsx, threshold=0)
    assert isinstance(streamed, DuckDBSource)
    assert profile(streamed).column_names == small.column_names


def test_clear_errors(tmp_path, hostile_db):
    with pytest.raises(SourceNotFound, match="no such file"):
        open_source(tmp_path / "missing.parquet")
    with pytest.raises(SourceNotFound, match="no table 'nope'.*DROP TABLE x"):
        open_source(hostile_db, table="nope")
    not_db = tmp_path / "fake.duckdb"
    not_db.write_bytes(b"not a database at all" * 10)
    with pytest.raises(SourceError):
        DuckDBSource.database_table(not_db)
    two = duckdb_file(tmp_path / "two.duckdb", hostile_frame(), "a")
    duckdb_file(two, hostile_frame(), "b")
    with pytest.raises(SourceError, match="holds 2 tables"):
        open_source(two)
    with pytest.raises(SourceNotFound, match="no column 'when'"):
        open_source(hostile_db, order_by="when")
    # a column the engine cannot read: its values fail to convert when the profile groups them
    bad = tmp_path / "bad.duckdb"
    con = duckdb.connect(str(bad))
    con.execute("CREATE TABLE t (a VARCHAR)")
    con.execute("INSERT INTO t VALUES ('x'), ('y')")
    con.execute("CREATE VIEW v AS SELECT a, CAST(a AS INTEGER) AS b FROM t")
    con.close()
    with DuckDBSource.database_table(bad, "v") as source, pytest.raises(SourceQueryError, match="column 'b'"):
        profile_source(source)
    # the connection lost mid-question: a clear error, the data untouched
    before = digest(hostile_db)
    source = DuckDBSource.database_table(hostile_db)
    base = profile(source)
    source.close()
    from nqa.program import Program, Step
    from nqa.sources.answer import run_program

    with pytest.raises(SourceConnectionError, match="closed"):
        run_program(source, base, Program([Step("count")]), None)
    assert digest(hostile_db) == before


def test_a_file_gone_mid_question_is_a_clear_error(tmp_path):
    import shutil

    from nqa.program import Program, Step
    from nqa.sources.answer import run_program

    path = tmp_path / "t.parquet"
    hostile_frame().to_parquet(path)
    with DuckDBSource.file(path) as source:
        base = profile(source)
        shutil.move(path, tmp_path / "moved.parquet")
        with pytest.raises(SourceNotFound, match="cannot read the file"):
            run_program(source, base, Program([Step("count")]), None)


def test_row_order_from_an_order_column(tiny_qa, tmp_path):
    frame = pd.DataFrame({"Name": ["b", "c", "a"], "Rank": ["2", "3", "1"]})
    db = duckdb_file(tmp_path / "o.duckdb", frame, "t")
    from nqa.program import Program, Step
    from nqa.sources.answer import run_program

    with DuckDBSource.database_table(db, "t", order_by="Rank") as source:
        base = profile(source)
        first = run_program(source, base, Program([Step("first"), Step("print", 0)]), None)
        assert first is not None and first.values == ["a"]
    with DuckDBSource.database_table(db, "t") as source:  # insertion order
        first = run_program(source, profile(source), Program([Step("first"), Step("print", 0)]), None)
        assert first is not None and first.values == ["b"]


def test_cli_asks_a_duckdb_table(hostile_db, tiny_model_dir):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    run = [sys.executable, "-m", "nqa.cli", "ask", str(hostile_db), "--table", HOSTILE_TABLE,
           "how many orders from the east?", "--json", "--model", str(tiny_model_dir)]
    proc = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dialect"] == "duckdb" and "SELECT" in out["sql"]
    proc = subprocess.run(run[:5] + ["--table", "nope", "q?"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "no table 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_engine_source_is_abstract():
    with pytest.raises(TypeError):
        EngineSource()


def test_a_long_printed_answer_is_cut_and_says_so(hostile_db, monkeypatch):
    from nqa.program import Program, Step
    from nqa.sources import answer as engine_answer

    monkeypatch.setattr(engine_answer, "PRINT_LIMIT", 4)
    with DuckDBSource.database_table(hostile_db) as source:
        ran = engine_answer.run_program(source, profile(source), Program([Step("print", 0)]), None)
        assert ran is not None and len(ran.values) == 4 and engine_answer.truncation_note(ran)
        short = engine_answer.run_program(source, profile(source),
                                          Program([Step("first"), Step("print", 0)]), None)
        assert short is not None and engine_answer.truncation_note(short) is None


def test_ragged_csv_and_json_array_read_alike_both_ways(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('a,,a\n1,"x\ny",2,extra\n3,4\n', encoding="utf-8")
    memory = open_source(ragged)
    assert isinstance(memory, Table)
    with DuckDBSource.file(ragged, "csv", csv_options=csv_options(str(ragged))) as source:
        base = profile(source)
        assert base.column_names == memory.column_names == ["a", "column 2", "a (2)", "column 4"]
        for col, mem in zip(base.columns, memory.columns):
            assert set(col.raw) == set(mem.raw)
    array = tmp_path / "records.json"
    array.write_text('[{"name": "cat", "legs": 4}, {"name": "bird", "legs": 2}]', encoding="utf-8")
    memory = open_source(array)
    assert isinstance(memory, Table) and memory.column_names == ["name", "legs"] and memory.n_rows == 2
    engine = open_source(array, threshold=0)
    assert isinstance(engine, DuckDBSource) and profile(engine).column_names == ["name", "legs"]


def test_decoding_asks_the_engine_whether_a_program_selects_rows(hostile_db):
    """Decoding checks whether a program leaves rows (nqa.decode._selects_nothing); a profile asks
    its engine and agrees with the executor on the rows themselves."""
    from nqa.executor import execute
    from nqa.program import Program, Step
    from nqa.question import parse_question

    table = in_memory(hostile_frame())
    q = "how many orders from o'brien in the east were returned?"
    with DuckDBSource.database_table(hostile_db) as source:
        qt = question_table(source, profile(source), q)
        mq, eq = parse_question(q, table), parse_question(q, qt)
        programs = [Program([Step("filter_eq", j, constant=k), Step("count")])
                    for j in range(table.n_cols) for k in range(len(mq.constants))]
        programs += [Program([Step("filter_eq", 0, constant=k), Step("filter_eq", 1, constant=k2), Step("count")])
                     for k in range(len(mq.constants)) for k2 in range(len(mq.constants))]
        seen = set()
        for p in programs:
            want = not execute(p, table, mq).selection.any()
            assert qt.selects_nothing(p, eq) == want, str(p)
            seen.add(want)
        assert seen == {True, False}


def test_columns_past_the_cap_give_the_executor_answers(tmp_path):
    """With every column past its cap (lookups, SQL forms, sampled kinds), the ops that read cells as
    text (filters on text, yes/no, mode, distinct counts, print, row moves) still give the exact
    executor's answer on the hostile text table. (A text column's numbers and dates past the cap are
    the engine's cast, an approximation: README, "Caps".)"""
    from sources_contract import all_programs

    from nqa.executor import run_programs
    from nqa.question import parse_question
    from nqa.sources.answer import run_programs as run_in_engine

    frame = hostile_frame()
    table = in_memory(frame)
    db = duckdb_file(tmp_path / "t.duckdb", frame)
    with DuckDBSource.database_table(db) as source:
        base, _ = profile_source(source, cap=1)
        assert not any(p.complete for p in base.profiles)
        assert [c.kind for c in base.columns] == [c.kind for c in table.columns]
        for q in QUESTIONS:
            qt = question_table(source, base, q)
            mq, eq = parse_question(q, table), parse_question(q, qt)
            assert mq.constants == eq.constants
            programs = all_programs(table, len(mq.constants))
            by_value = {"sum", "avg", "max", "min", "difference", "argmax", "argmin", "filter_gt", "filter_ge",
                        "filter_lt", "filter_le"}
            programs = [p for p in programs if not any(
                st.op in by_value or (st.op == "filter_eq" and mq.constants[st.constant or 0].kind != "text")
                for st in p.steps)]
            for p, e, g in zip(programs, run_programs(programs, table, mq), run_in_engine(source, qt, programs, eq)):
                assert (e is None) == (g is None), str(p)
                if e is not None and g is not None:
                    assert g.values == e.values, (q, str(p), e.values, g.values)


def test_cli_sends_a_csv_past_the_threshold_through_duckdb(tmp_path, tiny_model_dir):
    csv = tmp_path / "pets.csv"
    csv.write_text("name,legs\ncat,4\nbird,2\nsnake,0\n", encoding="utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), NQA_ENGINE_THRESHOLD="10")  # bytes
    proc = subprocess.run([sys.executable, "-m", "nqa.cli", "ask", str(csv), "which animal has the most legs?",
                           "--json", "--model", str(tiny_model_dir)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dialect"] == "duckdb" and "read_parquet" in out["sql"].lower()


MEDALS = "Nation,Gold,Silver\nNorway,5,3\nSweden,2,4\nFinland,1,1\nDenmark,0,2\nTotal,8,10\n"


def test_a_closing_total_row_is_left_out_as_in_memory(tiny_qa, tmp_path):
    """A table ending with a 'Total' row: the engine leaves it out of the records, as load_table does
    (nqa.table.footer_rows), in a CSV read by DuckDB (file order) and a DuckDB table (insertion order),
    and the profile's footer holds it. Counts, 'most' and sums are the in-memory ones."""
    from nqa.executor import run_programs
    from nqa.program import Program, Step
    from nqa.question import parse_question
    from nqa.sources.answer import run_programs as run_in_engine
    from nqa.sources.preview import rows_frame

    path = tmp_path / "medals.csv"
    path.write_text(MEDALS, encoding="utf-8")
    memory = open_source(path)
    assert isinstance(memory, Table) and memory.n_rows == 4 and memory.footer == [["Total", "8", "10"]]
    frame = pd.read_csv(path, dtype=str)
    db = duckdb_file(tmp_path / "medals.duckdb", frame, "medals")
    programs = [Program([Step("count")]), Program([Step("argmax", 1), Step("print", 0)]),
                Program([Step("sum", 2)]), Program([Step("last"), Step("print", 0)]),
                Program([Step("argmin", 2), Step("print", 0)]), Program([Step("print", 0)])]
    question = parse_question("how many?", memory)  # no constants: the programs read none
    expected = [e.values for e in run_programs(programs, memory, question)]
    assert expected[:4] == [["4"], ["Norway"], ["10"], ["Denmark"]]
    sources = [DuckDBSource.file(path, "csv", csv_options=csv_options(str(path))),
               DuckDBSource.database_table(db, "medals")]
    for source in sources:
        with source:
            base = profile(source)
            assert base.footer == memory.footer and base.source_rows == memory.n_rows == 4
            assert "Total" not in base.columns[0].raw  # not a cell the question can match
            got = [g.values if g is not None else None for g in run_in_engine(source, base, programs,
                                                                              parse_question("how many?", base))]
            assert got == expected
            assert list(rows_frame(source, base)["Nation"]) == ["Norway", "Sweden", "Finland", "Denmark"]
            for q in ["how many nations are there?", "which nation won the most gold?",
                      "what is the total silver?"]:
                tiny_qa.ask(memory, q)  # header encodings cached, as for the engine's ask below
                mem, eng = tiny_qa.ask(memory, q), tiny_qa.ask(source, q)
                assert (eng.values, str(eng.program), eng.confidence) == (mem.values, str(mem.program),
                                                                         mem.confidence), q
                assert eng.table.footer == [["Total", "8", "10"]]
                assert eng.run_sql() == eng.values  # the SQL shown runs as it is, footer left out
                assert "closing summary rows ('Total') are left out" in eng.sql


def test_a_source_reopened_with_a_cached_profile_still_leaves_the_footer_out(tmp_path):
    """open.profile keeps profiles by the table's contents; a new source of the same file gets the
    cached profile without profiling, and finds the footer itself when it first builds a query."""
    from nqa.program import Program, Step
    from nqa.sources.answer import run_program

    path = tmp_path / "medals.csv"
    path.write_text(MEDALS, encoding="utf-8")
    with DuckDBSource.file(path, "csv", csv_options=csv_options(str(path))) as first:
        base = profile(first)
    with DuckDBSource.file(path, "csv", csv_options=csv_options(str(path))) as again:
        assert profile(again) is base
        ran = run_program(again, base, Program([Step("count")]), None)
        assert ran is not None and ran.values == ["4"] and again.footer() == [["Total", "8", "10"]]


def test_footer_rows_follow_the_in_memory_rule(tmp_path):
    """Two closing rows at most, at least two records kept, the label in the first or second column,
    and the order column's order (not insertion order) when one is declared."""
    cases = {
        "two": ("Rank,Team,Pts\n1,A,5\n2,B,3\n3,C,1\n,Totals:,9\n,Grand total,9\n", 2),
        "second column": ("Rank,Team,Pts\n1,A,5\n2,B,3\n3,C,1\n-,TOTAL,9\n", 1),
        "keeps two": ("Team,Pts\nA,5\nTotal,5\nTotal,5\n", 1),
        "middle": ("Team,Pts\nA,5\nTotal,5\nB,3\nC,1\n", 0),
        "three": ("Team,Pts\nA,5\nB,3\nC,1\nTotal,9\nTotal,9\nTotal,9\n", 2),
    }
    for name, (text, k) in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        memory = open_source(path)
        assert isinstance(memory, Table) and len(memory.footer) == k, name
        with DuckDBSource.file(path, "csv", csv_options=csv_options(str(path))) as source:
            base = profile(source)
            assert base.footer == memory.footer and base.source_rows == memory.n_rows, name
    # inserted first, but last by the order column: a footer in that order
    frame = pd.DataFrame({"Team": ["Total", "A", "B", "C"], "Pos": [9, 1, 2, 3]})
    db = duckdb_file(tmp_path / "ordered.duckdb", frame, "t")
    with DuckDBSource.database_table(db, "t", order_by="Pos") as source:
        assert profile(source).footer == [["Total", "9"]] and profile(source).source_rows == 3
    with DuckDBSource.database_table(db, "t") as source:
        assert profile(source).footer == [] and profile(source).source_rows == 4


def test_every_program_agrees_with_the_executor_on_a_table_with_a_footer(tmp_path):
    """The contract's programs (filters, moves, first/last, print order...) on the hostile table
    with a closing 'Total' row: the engine's records are the in-memory ones."""
    frame = hostile_frame()
    total = pd.DataFrame([["Total", None, None, None, "$1,507.00", None, None, "21", None]],
                         columns=frame.columns, dtype=object)
    frame = pd.concat([frame, total], ignore_index=True)
    assert in_memory(frame).footer and len(in_memory(frame).footer) == 1
    db = duckdb_file(tmp_path / "footer.duckdb", frame)
    with DuckDBSource.database_table(db, HOSTILE_TABLE) as source:
        assert profile(source).footer == in_memory(frame).footer
        assert assert_programs_agree(source, frame, QUESTIONS) > 1000
