"""`nqa predict` on a tiny WTQ-format dataset: the official prediction format, input order, escapes,
unreadable tables kept (id alone), and --sql-out records that SQLite runs."""
from __future__ import annotations

import json
import sqlite3

import pytest
import torch

from nqa.cli import main as nqa_main
from nqa.predict import PredictError, escape_item, read_examples
from nqa.training.data import write_tiny_wtq


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from nqa.api import TableQA
    from nqa.programmer import NeuralProgrammer, ProgrammerConfig

    root = write_tiny_wtq(tmp_path_factory.mktemp("wtq"), n_tables=3)
    # an example whose table is missing: must still get a line
    with open(root / "data" / "tiny-dev.tsv", "a") as f:
        f.write("nt-999\twhat is missing?\tcsv/200-csv/404.csv\tx\n")
    torch.manual_seed(0)
    model_dir = tmp_path_factory.mktemp("model")
    TableQA(NeuralProgrammer(ProgrammerConfig(encoder="tiny", tiny_hidden=32, d_model=32))).save_pretrained(model_dir)
    return root, model_dir


def test_prediction_format_and_order(setup, tmp_path):
    root, model_dir = setup
    out, sql_out = tmp_path / "pred.tsv", tmp_path / "sql.jsonl"
    rc = nqa_main(["predict", "--examples", str(root / "data/tiny-dev.tsv"), "--tables-root", str(root),
                   "--out", str(out), "--sql-out", str(sql_out), "--model", str(model_dir), "--batch-size", "2"])
    assert rc == 0
    ids = [e.id for e in read_examples(root / "data/tiny-dev.tsv")]
    lines = out.read_text().split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(ids)
    assert [ln.split("\t")[0] for ln in lines[:-1]] == ids
    assert lines[-2] == "nt-999"  # unreadable table: the id alone, counted wrong
    assert sum(1 for ln in lines[:-2] if "\t" in ln) >= 1  # the model answers something
    records = [json.loads(x) for x in sql_out.read_text().splitlines()]
    assert [r["id"] for r in records] == ids
    for r in records[:-1]:
        assert set(r) >= {"id", "answer", "sql", "setup_sql"}
        db = sqlite3.connect(":memory:")
        db.executescript(r["setup_sql"])
        db.execute(r["sql"]).fetchall()  # runs
    assert records[-1]["sql"] is None and records[-1]["answer"] == []


def test_escapes():
    assert escape_item("a|b\\c\nd\te") == "a\\pb\\\\c\\nd e"


def test_bad_examples_file(tmp_path):
    with pytest.raises(PredictError):
        read_examples(tmp_path / "nope.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("question\tanswer\nx\ty\n")
    with pytest.raises(PredictError):
        read_examples(bad)


def test_abstain_and_confidence_out(setup, tmp_path):
    """--confidence-out: one row per example with its confidence and unsure reason; --abstain: no
    answer exactly where a reason is given (here a calibration whose threshold flags everything)."""
    import csv
    import shutil

    root, model_dir = setup
    strict = tmp_path / "model"
    shutil.copytree(model_dir, strict)
    config = json.loads((strict / "config.json").read_text())
    config["calibration"] = {"xs": [0.0, 1.0], "ys": [0.0, 0.5], "threshold": 0.9}
    (strict / "config.json").write_text(json.dumps(config))
    conf, out = tmp_path / "conf.tsv", tmp_path / "pred.tsv"
    args = ["predict", "--examples", str(root / "data/tiny-dev.tsv"), "--tables-root", str(root),
            "--model", str(strict), "--confidence-out", str(conf)]
    assert nqa_main(args + ["--out", str(out), "--abstain"]) == 0
    rows = list(csv.DictReader(open(conf), delimiter="\t"))
    assert [r["id"] for r in rows] == [e.id for e in read_examples(root / "data/tiny-dev.tsv")]
    assert all(r["unsure"] for r in rows) and all(float(r["confidence"]) <= 0.5 for r in rows)
    assert all("\t" not in line for line in out.read_text().splitlines())  # every answer withheld


def test_choose_run_passes_over_blank_answers():
    import numpy as np

    from nqa.executor import Execution, choose_run

    def run(*values):
        return Execution(list(values), None, np.zeros(0, dtype=bool))

    assert choose_run([None, run(), run(" ", "—"), run("Brazil")]) == 3  # blank cells are no answer
    assert choose_run([run("n/a"), run("0")]) == 1  # a count of 0 is an answer
    assert choose_run([None, run("-"), run()]) == 1  # nothing better: the blank one, not nothing
    assert choose_run([None, run()]) == 1 and choose_run([None]) is None
