"""training.check_sql: the --sql-out checker agrees on real records and catches a wrong answer."""
import json

from nqa.executor import execute
from nqa.program import Program, Step
from nqa.question import parse_question
from nqa.sql import sql_record
from nqa.table import load_table
from training.check_sql import main


def _records(tmp_path, wrong: bool):
    table = load_table("data/olympics.csv")
    q = parse_question("how many nations won more than 10 gold medals?", table)
    k = next(i for i, c in enumerate(q.constants) if c.number == 10)
    gold = table.column_names.index("Gold")
    prog = Program([Step("filter_gt", gold, "Gold", k, q.constants[k]), Step("count")])
    answer = execute(prog, table, q).values
    assert answer == ["6"]
    rec = sql_record("ex-1", table, prog, ["7"] if wrong else answer, q)
    path = tmp_path / "sql.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    return str(path)


def test_agreeing_records_pass(tmp_path, capsys):
    assert main([_records(tmp_path, wrong=False)]) == 0
    assert "sqlite: 1/1" in capsys.readouterr().out


def test_a_wrong_answer_is_reported(tmp_path, capsys):
    assert main([_records(tmp_path, wrong=True)]) == 1
    out = capsys.readouterr().out
    assert "sqlite: 0/1" in out and "duckdb: 0/1" in out
