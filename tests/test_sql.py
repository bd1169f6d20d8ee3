"""Every answer as SQL: program -> SQL fixtures, and executor == SQLite == DuckDB on random and real tables."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nqa.sql_run
from nqa.executor import execute
from nqa.program import OPS_WITH_COLUMN, OPS_WITH_CONSTANT, SELECT_OPS, TERMINAL_OPS, Program, Step, display_number
from nqa.question import Constant, Question, parse_question
from nqa.sql import DIALECTS, SQLError, program_to_sql, schema_for, sql_record, table_to_setup_sql
from nqa.sql_run import ENGINES, connect, run_script, run_sql
from nqa.table import Table, load_table, normalize_text, table_from_rows

FIXTURES = Path(__file__).parent / "fixtures" / "sql"
UPDATE = os.environ.get("NQA_UPDATE_FIXTURES") == "1"  # rewrite the expected SQL files instead of comparing

# ---------------------------------------------------------------------------------------------
# A small table drawn here, the programs of the fixture files, and their answers
#
#   row  Nation       Gold  Date              Rank
#   0    France       3     January 3, 1995   1st
#   1    Spain        5     1996              2nd
#   2    New France   5     ""                3rd
#   3    Italy        ""    May 1990          4th
#   4    Spain        1     1992              5th


MEDALS = table_from_rows(
    ["Nation", "Gold", "Date", "Rank"],
    [["France", "3", "January 3, 1995", "1st"], ["Spain", "5", "1996", "2nd"], ["New France", "5", "", "3rd"],
     ["Italy", "", "May 1990", "4th"], ["Spain", "1", "1992", "5th"]],
)
QUESTION = Question("q", [], [Constant("text", "france", "france", None, (0, 1)),
                              Constant("number", "4", "4", 4.0, (1, 2)),
                              Constant("text", "spain", "spain", None, (2, 3))])


def prog(*steps: tuple) -> Program:
    """prog(("filter_eq", 0, 0), ("count",)): (op, column, constant) tuples."""
    out = []
    for s in steps:
        op, col, k = (list(s) + [None, None])[:3]
        out.append(Step(op, col, constant=k, constant_value=QUESTION.constants[k] if k is not None else None))
    return Program(out)


# (fixture name, program, answer)
CASES = [
    ("filter_eq_count", prog(("filter_eq", 0, 0), ("count",)), ["1"]),  # the exact cell wins: not New France
    ("filter_eq_number", prog(("filter_eq", 1, 1), ("count",)), ["0"]),
    ("two_filters", prog(("filter_eq", 0, 2), ("filter_gt", 1, 1), ("print", 0)), ["Spain"]),
    ("filter_any_argmax_next", prog(("filter_any", 0), ("argmax", 1), ("next",), ("print", 0)),
     ["New France"]),  # France and Spain exactly (not New France): argmax Spain, next New France
    ("argmin_print", prog(("argmin", 2), ("print", 0)), ["Italy"]),
    ("first_last_previous", prog(("last",), ("previous",), ("print", 3)), ["4th"]),
    ("mfe_print", prog(("mfe", 0), ("print", 3)), ["2nd", "5th"]),
    ("mfe_difference", prog(("mfe", 0), ("difference", 2)), ["4"]),
    ("reset_sum", prog(("filter_le", 1, 1), ("reset",), ("sum", 1)), ["14"]),
    ("avg_dates", prog(("filter_lt", 2, 1), ("avg", 2)), []),
    ("max_of_text_constant", prog(("filter_ge", 1, 0), ("max", 1)), []),
    ("min", prog(("min", 1)), ["1"]),
]


def _fixture_sql(name: str, dialect: str) -> Path:
    return FIXTURES / (f"{name}.sql" if dialect == "sqlite" else f"{name}.{dialect}.sql")


@pytest.mark.parametrize("name,program,answer", CASES, ids=[c[0] for c in CASES])
def test_program_sql_matches_fixture_and_answer(name, program, answer):
    assert execute(program, MEDALS, QUESTION).values == answer
    sql = program_to_sql(program, MEDALS, question=QUESTION)
    path = _fixture_sql(name, "sqlite")
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql + "\n")
    assert sql == path.read_text().rstrip("\n")
    for engine in ENGINES:
        assert run_sql(MEDALS, program, engine, QUESTION) == answer


# Other dialects: rendered by sqlglot from the same tree; checked as text for a few programs.
@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "sqlite"])
@pytest.mark.parametrize("name", ["filter_eq_count", "filter_any_argmax_next", "mfe_difference"])
def test_other_dialects_match_fixture(name, dialect):
    program = dict((c[0], c[1]) for c in CASES)[name]
    sql = program_to_sql(program, MEDALS, dialect=dialect, question=QUESTION)
    path = _fixture_sql(name, dialect)
    if UPDATE:
        path.write_text(sql + "\n")
    assert sql == path.read_text().rstrip("\n")


def test_setup_sql_fixture_and_script_run():
    setup = table_to_setup_sql(MEDALS)
    path = FIXTURES / "medals_setup.sql"
    if UPDATE:
        path.write_text(setup + "\n")
    assert setup == path.read_text().rstrip("\n")
    for name, program, answer in CASES:
        for engine in ENGINES:
            sql = program_to_sql(program, MEDALS, dialect=engine, question=QUESTION)
            assert run_script(table_to_setup_sql(MEDALS, engine), sql, program.terminal.op, engine) == answer, name


def test_single_step_is_one_select_and_steps_become_ctes():
    one = sqlglot.parse_one(program_to_sql(prog(("filter_eq", 0, 0), ("count",)), MEDALS), read="sqlite")
    assert not one.ctes and one.find(sqlglot.exp.Count)
    four = prog(("filter_any", 0), ("argmax", 1), ("next",), ("first",), ("print", 0))
    tree = sqlglot.parse_one(program_to_sql(four, MEDALS, question=QUESTION), read="sqlite")
    assert [c.alias for c in tree.ctes] == ["step1", "step2", "step3"]


def test_every_op_renders_in_every_dialect():
    programs = [prog((op, 1, 1) if op in OPS_WITH_CONSTANT else (op, 1) if op in OPS_WITH_COLUMN else (op,),
                     ("print", 0)) for op in SELECT_OPS]
    programs += [prog((term, 2) if term in OPS_WITH_COLUMN else (term,)) for term in TERMINAL_OPS]
    for program in programs:
        for dialect in DIALECTS:
            sql = program_to_sql(program, MEDALS, dialect=dialect, question=QUESTION)
            assert sqlglot.parse_one(sql, read=dialect).sql(dialect) == program_to_sql(
                program, MEDALS, dialect=dialect, question=QUESTION, pretty=False)
        sqlglot.parse(table_to_setup_sql(MEDALS, dialect), read=dialect)


def test_errors_are_clear():
    with pytest.raises(SQLError, match="not a selection op"):
        program_to_sql(Program([Step("count"), Step("count")]), MEDALS)
    with pytest.raises(SQLError, match="terminal"):
        program_to_sql(Program([Step("first")]), MEDALS)
    with pytest.raises(SQLError, match="column"):
        program_to_sql(Program([Step("sum", 9)]), MEDALS)
    with pytest.raises(SQLError, match="question"):
        program_to_sql(Program([Step("filter_any", 0), Step("count")]), MEDALS)
    with pytest.raises(SQLError, match="constant"):
        program_to_sql(Program([Step("filter_eq", 0), Step("count")]), MEDALS)
    with pytest.raises(SQLError, match="constant 7"):
        program_to_sql(Program([Step("filter_eq", 0, constant=7), Step("count")]), MEDALS, question=QUESTION)
    with pytest.raises(SQLError, match="dialect"):
        program_to_sql(prog(("count",)), MEDALS, dialect="cobol")
    with pytest.raises(SQLError, match="engine"):
        run_sql(MEDALS, prog(("count",)), engine="oracle")
    with pytest.raises(SQLError, match="empty"):
        program_to_sql(Program([]), MEDALS)
    with pytest.raises(SQLError, match="table name"):
        table_to_setup_sql(MEDALS, table_name="")


def test_schema_names_unique_under_case_folding():
    t = table_from_rows(["row_id", "A (norm)", "a", ""], [["1", "2", "3", "4"]])
    t.columns[2].name = "A"  # a clash the loader would never make, to check the SQL side on its own
    names = schema_for(t)
    every = [names.row_id] + [n for c in names.columns for n in (c.raw, c.norm, c.number)]
    assert len({n.casefold() for n in every}) == len(every)
    assert names.columns[0].raw == "row_id" and names.row_id == "row_id (2)"
    for engine in ENGINES:
        assert run_sql(t, Program([Step("print", 2)]), engine) == ["3"]


def test_sql_record_runs_in_fresh_sqlite():
    program, answer = CASES[3][1], CASES[3][2]
    rec = sql_record("nt-1", MEDALS, program, answer, question=QUESTION)
    assert set(rec) == {"id", "answer", "sql", "setup_sql"}
    rec = json.loads(json.dumps(rec))
    assert run_script(rec["setup_sql"], rec["sql"], program.terminal.op) == rec["answer"] == answer


def test_empty_table():
    t = table_from_rows(["a", "b"], [])
    for program, answer in [(Program([Step("count")]), ["0"]), (Program([Step("print", 0)]), []),
                            (Program([Step("argmax", 1), Step("sum", 1)]), [])]:
        assert execute(program, t, QUESTION).values == answer
        for engine in ENGINES:
            assert run_sql(t, program, engine) == answer
            assert run_script(table_to_setup_sql(t, engine), program_to_sql(program, t, engine),
                              program.terminal.op, engine) == answer


def test_sums_run_in_row_order_as_the_engines_do():
    """numpy's pairwise mean gives 5.48125, SQLite's and DuckDB's running sums 5.481249999999999:
    the executor sums in row order too, so the answer is the SQL's double; display rounds both alike."""
    t = table_from_rows(["x"], [[v] for v in ["1.34", "8.47", "7.64", "2.55", "4.95", "4.49", "6.52", "7.89"]])
    program = Program([Step("avg", 0)])
    assert execute(program, t, QUESTION).values == ["5.481249999999999"]
    for engine in ENGINES:
        assert run_sql(t, program, engine) == ["5.481249999999999"]
    assert display_number(5.481249999999999) == display_number(5.48125) == "5.4813"


# ---------------------------------------------------------------------------------------------
# Property tests: random tables x random programs, executor == SQLite == DuckDB


CELLS = {
    "number": ["0", "1", "2", "3", "3", "5", "12", "1,200", "-4", "2.5", "7.25", "45%", "$12", "1st", "3-1", "",
               "N/A", "12 km"],
    "date": ["1995", "1996", "1995", "January 3, 1995", "March 1995", "12 May", "1999-2000", "3 June 1990", "",
             "May 1990"],
    "text": ["France", "france", "New France", "Spain", "spain (ESP)", "Italy", "é", "O'Brien", "", " ",
             "new york", "York", "3", "1995"],
}


@st.composite
def tables(draw, max_rows: int = 9) -> Table:
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(1, max_rows))
    headers = draw(st.lists(st.sampled_from(["Nation", "nation", "Gold", "Year", "", "Rank", "row_id"]),
                            min_size=n_cols, max_size=n_cols))
    kinds = draw(st.lists(st.sampled_from(sorted(CELLS)), min_size=n_cols, max_size=n_cols))
    rows = [[draw(st.sampled_from(CELLS[k])) for k in kinds] for _ in range(n_rows)]
    return table_from_rows(headers, rows)


@st.composite
def questions(draw, table: Table) -> Question:
    numbers = sorted({float(x) for c in table.columns for x in c.numbers if x == x} | {0.0, 3.0, 4.0, 1995.0})
    words = sorted({w for c in table.columns for t in c.text for w in [t, t.split(" ")[0]] if w} | {"zzz"})
    consts = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            x = draw(st.sampled_from(numbers))
            consts.append(Constant("number", str(x), normalize_text(str(x)), x, (0, 1)))
        else:
            w = draw(st.sampled_from(words))
            consts.append(Constant("text", w, w, None, (0, 1)))
    return Question("q", [], consts)


def _step(draw, op: str, table: Table, question: Question) -> Step:
    col = draw(st.integers(0, table.n_cols - 1)) if op in OPS_WITH_COLUMN else None
    k = draw(st.integers(0, len(question.constants) - 1)) if op in OPS_WITH_CONSTANT else None
    return Step(op, col, constant=k, constant_value=question.constants[k] if k is not None else None)


@st.composite
def cases(draw, max_rows: int = 9) -> tuple[Table, Question, Program]:
    table = draw(tables(max_rows))
    question = draw(questions(table))
    usable = [op for op in SELECT_OPS if question.constants or op not in OPS_WITH_CONSTANT]
    ops = draw(st.lists(st.sampled_from(usable), min_size=0, max_size=4)) + [draw(st.sampled_from(TERMINAL_OPS))]
    return table, question, Program([_step(draw, op, table, question) for op in ops])


def _check_agreement(table: Table, question: Question, program: Program) -> None:
    expected = execute(program, table, question).values
    for engine in ENGINES:
        got = run_sql(table, program, engine, question)
        assert got == expected, (engine, str(program), program_to_sql(program, table, engine, question=question))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_programs_agree_with_executor(case):
    _check_agreement(*case)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(max_rows=4))
def test_setup_script_form_agrees(case):
    """The text form (what --sql-out ships) gives the same answer as the parameterised load."""
    table, question, program = case
    expected = execute(program, table, question).values
    for engine in ENGINES:
        sql = program_to_sql(program, table, engine, question=question)
        assert run_script(table_to_setup_sql(table, engine), sql, program.terminal.op, engine) == expected


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(max_rows=30))
def test_random_programs_agree_with_executor_many(case):
    _check_agreement(*case)


# Hostile names and values: quotes, comment markers, semicolons, unicode, newlines, NUL, empty.
HOSTILE = st.one_of(
    st.sampled_from(['"', "'", "`", "x\"; DROP TABLE t; --", "a'b", "*/", "/*", "--", ";", "\\", "\n", "\x00",
                     "ß", "SS", "İ", "\u2028", "row_id", "t", "step1", "a (norm)", " ", "NULL", "${x}", "?"]),
    st.text(max_size=12),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HOSTILE, min_size=1, max_size=3), st.lists(st.lists(HOSTILE, min_size=3, max_size=3), max_size=3),
       st.sampled_from(["t", "step1", 'we"ird;--', "x\x00"]), st.data())
def test_hostile_names_and_values_stay_data(headers, rows, table_name, data):
    table = table_from_rows(headers, [r[: len(headers)] for r in rows])
    table_name = table_name.replace("\x00", "")
    for c in table.columns:  # names the loader never makes (empty, clashing), straight into the Table
        c.name = data.draw(HOSTILE) if data.draw(st.booleans()) else c.name
    question = Question("q", [], [Constant("text", "a", "a", None, (0, 1))])
    for program in [Program([Step("print", j)]) for j in range(table.n_cols)] + [
            Program([Step("filter_any", 0), Step("mfe", 0), Step("previous"), Step("count")])]:
        expected = execute(program, table, question).values
        for dialect in DIALECTS:
            sql = program_to_sql(program, table, dialect, table_name, question)
            back = sqlglot.parse_one(sql, read=dialect).sql(dialect)
            # BigQuery reads a dot inside `...` as a path (and allows no such column names), so
            # there the check is that the text parses.
            if dialect != "bigquery":
                assert back == program_to_sql(program, table, dialect, table_name, question, pretty=False)
        for engine in ENGINES:
            sql = program_to_sql(program, table, engine, table_name, question)
            setup = table_to_setup_sql(table, engine, table_name)
            assert len(sqlglot.parse(setup, read=engine)) == 1 + (table.n_rows > 0)
            assert run_script(setup, sql, program.terminal.op, engine) == expected
            assert run_sql(table, program, engine, question, table_name) == expected


# ---------------------------------------------------------------------------------------------
# Real WikiTableQuestions tables with their own questions' constants


def _wtq_examples(root: Path, n: int) -> list[tuple[str, str]]:
    """(question, table path) of the first `n` training examples."""
    out = []
    with open(root / "data" / "training.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            fields = line.rstrip("\n").split("\t")
            out.append((fields[1], str(root / fields[2])))
            if len(out) == n:
                break
    return out


def random_program(rng: random.Random, table: Table, question: Question) -> Program:
    usable = [op for op in SELECT_OPS if question.constants or op not in OPS_WITH_CONSTANT]
    ops = [rng.choice(usable) for _ in range(rng.randint(0, 3))] + [rng.choice(TERMINAL_OPS)]
    steps = []
    for op in ops:
        col = rng.randrange(table.n_cols) if op in OPS_WITH_COLUMN else None
        k = rng.randrange(len(question.constants)) if op in OPS_WITH_CONSTANT else None
        steps.append(Step(op, col, constant=k, constant_value=question.constants[k] if k is not None else None))
    return Program(steps)


def _check_wtq(root: Path, n_examples: int, programs_per_table: int) -> int:
    rng = random.Random(0)
    checked = 0
    for text, path in _wtq_examples(root, n_examples):
        table = load_table(path)
        question = parse_question(text, table)
        cons = {engine: connect(table, engine) for engine in ENGINES}
        for _ in range(programs_per_table):
            program = random_program(rng, table, question)
            expected = execute(program, table, question).values
            for engine, con in cons.items():
                sql = program_to_sql(program, table, engine, question=question)
                got = nqa.sql_run.format_answer(nqa.sql_run.fetch(con, sql), program.terminal.op)
                assert got == expected, (path, text, str(program), engine, sql)
            checked += 1
    return checked


def test_real_wtq_tables(wtq_root):
    assert _check_wtq(wtq_root, n_examples=6, programs_per_table=25) == 150


@pytest.mark.slow
def test_real_wtq_tables_many(wtq_root):
    print("checked", _check_wtq(wtq_root, n_examples=1000, programs_per_table=20))


# ---------------------------------------------------------------------------------------------
# docs/sql_examples.md stays what the code produces


DOC_TABLE = table_from_rows(["Rank", "Nation", "Gold", "Silver", "Year"], [
    ["1", "France", "12", "8", "1996"], ["2", "Spain", "10", "11", "2000"], ["3", "Italy", "10", "4", "2004"],
    ["4", "France", "7", "9", "2008"], ["5", "Japan", "3", "12", "2012"]])
DOC_EXAMPLES = [  # (question, [(op, column, surface of the constant)], answer)
    ("how many times did a nation win more than 9 gold medals?", [("filter_gt", 2, "9"), ("count",)], ["3"]),
    ("which nation won the most silver medals?", [("argmax", 3), ("print", 1)], ["Japan"]),
    ("which nation comes after france's best gold haul?",
     [("filter_eq", 1, "france"), ("argmax", 2), ("next",), ("print", 1)], ["Spain"]),
    ("how many years apart were the two games of the nation that appears most?",
     [("mfe", 1), ("difference", 4)], ["12"]),
]


def test_sql_examples_doc_is_current():
    doc = (Path(__file__).parents[1] / "docs" / "sql_examples.md").read_text()
    assert table_to_setup_sql(DOC_TABLE) in doc
    for text, steps, answer in DOC_EXAMPLES:
        question = parse_question(text, DOC_TABLE)
        surfaces = [c.surface for c in question.constants]
        program = Program([Step(s[0], s[1] if len(s) > 1 else None,
                                constant=surfaces.index(s[2]) if len(s) > 2 else None) for s in steps])
        sql = program_to_sql(program, DOC_TABLE, question=question)
        assert f"```sql\n{sql}\n```" in doc, text
        assert execute(program, DOC_TABLE, question).values == answer
        assert run_script(table_to_setup_sql(DOC_TABLE), sql, program.terminal.op) == answer
        assert run_sql(DOC_TABLE, program, "duckdb", question) == answer
