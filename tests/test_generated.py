"""Generated (question, gold program) pairs over real tables: train phrasings only, programs that run."""
from __future__ import annotations

import json
from pathlib import Path

from nqa.executor import execute
from nqa.question import parse_question
from nqa.table import load_table
from nqa.training.generated import column_words, load_phrasings, spec_to_program, wtq_table_examples

ROOT = Path(__file__).resolve().parents[1]
ORDERS = load_table(str(ROOT / "data" / "orders.csv"))


def test_column_words():
    assert column_words("Unit price ($)") == "unit price"
    assert column_words("total_bill") == "total bill"
    assert column_words("body_mass_g") == "body mass g"


def test_generated_questions_use_train_phrasings_and_their_programs_run():
    phrasings = load_phrasings()
    split = {pid: sp for ps in phrasings.values() for pid, sp, _ in ps}
    examples = wtq_table_examples([ORDERS], per_table=300, seed=0)
    kinds = {e[5] for e in examples}
    assert {"sum_where", "avg_where", "most_common", "count_2", "flag", "date_month", "date_year", "share",
            "count_distinct", "argmax_group"} <= kinds
    for ex_id, answer, table, question, program, _ in examples:
        assert split[ex_id.split("-", 3)[3]] == "train"
        assert execute(program, table, question).values == list(answer) and answer
    assert examples == wtq_table_examples([ORDERS], per_table=300, seed=0)  # deterministic


def test_spec_to_program_binds_columns_and_constants():
    q = parse_question("how many orders from london were shipped by air", ORDERS)
    spec = [{"op": "filter_eq", "column": "City", "value": "London"},
            {"op": "filter_eq", "column": "Shipping", "value": "air"}, {"op": "count"}]
    program = spec_to_program(json.loads(json.dumps(spec)), ORDERS, q)
    assert execute(program, ORDERS, q).values == ["4"]
    q = parse_question("which city appears most often", ORDERS)
    program = spec_to_program([{"op": "mfe", "column": "City"}, {"op": "print", "column": "City"}], ORDERS, q)
    assert [s.op for s in program.steps] == ["mfe", "first", "print"]  # one value, not every London row
    assert execute(program, ORDERS, q).values == ["London"]
    assert spec_to_program([{"op": "filter_eq", "column": "City", "value": "paris"}, {"op": "count"}],
                           ORDERS, q) is None  # the question has no such constant


def test_extra_train_phrasings_are_no_test_template():
    from training.generated import EXTRA_TRAIN_PHRASINGS

    test_templates = {t for ps in load_phrasings().values() for _pid, split, t in ps if split == "test"}
    extras = {t for ts in EXTRA_TRAIN_PHRASINGS.values() for t in ts}
    assert extras and not extras & test_templates
