"""Decoding takes feasible steps only: a constant with a column that holds it, numbers on columns with
values, flags on yes/no columns the question names; and never filters twice on one constant."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nqa.feasibility import feasible_steps
from nqa.program import OPS_WITH_CONSTANT, SELECT_OPS, TERMINAL_OPS
from nqa.question import match_matrix, parse_question
from nqa.table import load_table

ORDERS = load_table(str(Path(__file__).resolve().parents[1] / "data" / "orders.csv"))
QUESTIONS = [
    "how many orders from london were shipped by air?",
    "what is the total of the orders in the east?",
    "how many orders were refunded after 2023?",
    "which customer ordered the most units in march?",
    "how many different products are there?",
]


def test_masks_follow_the_table():
    q = parse_question("how many orders from london were shipped by air?", ORDERS)
    sel, term = feasible_steps(ORDERS, q, ORDERS.n_cols, len(q.constants))
    names = ORDERS.column_names
    k_london = next(k for k, c in enumerate(q.constants) if c.norm == "london")
    eq = SELECT_OPS.index("filter_eq")
    assert [names[j] for j in np.flatnonzero(sel[eq, :, k_london])] == ["City"]
    flag = SELECT_OPS.index("filter_true")
    assert not sel[flag].any()  # the question does not name the yes/no column
    for text in ("how many orders were refunded?", "how many refunded orders from london", "Refunded orders"):
        q2 = parse_question(text, ORDERS)
        sel2, _ = feasible_steps(ORDERS, q2, ORDERS.n_cols, len(q2.constants))
        assert [names[j] for j in np.flatnonzero(sel2[flag, :, 0])] == ["Refunded"], text
        assert (sel2[SELECT_OPS.index("filter_false")] == sel2[flag]).all()
    total = TERMINAL_OPS.index("sum")
    assert not term[total, names.index("Customer")] and term[total, names.index("Total ($)")]
    assert term[TERMINAL_OPS.index("count")].all()


def test_decoded_programs_are_feasible_and_never_repeat_a_constant(tiny_qa):
    model = tiny_qa.model
    for text in QUESTIONS:
        q = parse_question(text, ORDERS)
        match = match_matrix(q, ORDERS)
        for program in model.decode(ORDERS, q, k=4):
            used = [s.constant for s in program.selection_steps if s.op in OPS_WITH_CONSTANT]
            assert len(used) == len(set(used)), str(program)
            for step in program.selection_steps:
                if step.op == "filter_eq":
                    assert match[step.constant, :, step.column].any(), str(program)
                if step.op in ("filter_true", "filter_false"):
                    assert (ORDERS.columns[step.column].flags >= 0).any(), str(program)
            term = program.terminal
            if term.op in ("sum", "avg", "max", "min", "difference"):
                assert np.isfinite(ORDERS.columns[term.column].values).any(), str(program)


def test_fallback_programs_go_last_among_the_top_k(tiny_qa):
    from nqa.decode import goes_last
    from nqa.program import Program, Step

    assert goes_last(Program([Step("mfe", column=0), Step("count")]))
    assert goes_last(Program([Step("mfe", column=0), Step("next"), Step("count")]))
    assert not goes_last(Program([Step("mfe", column=0), Step("print", column=0)]))
    assert not goes_last(Program([Step("count")]))
    # the filtered column printed after a superlative: the question's own value
    assert goes_last(Program([Step("filter_eq", column=1, constant=0), Step("argmax", column=2),
                              Step("print", column=1)]))
    assert not goes_last(Program([Step("filter_eq", column=1, constant=0), Step("argmax", column=2),
                                  Step("print", column=0)]))
    assert not goes_last(Program([Step("filter_eq", column=1, constant=0), Step("print", column=1)]))
    for text in QUESTIONS:
        programs = tiny_qa.model.decode(ORDERS, parse_question(text, ORDERS), k=4)
        flags = [goes_last(p) for p in programs]
        assert flags == sorted(flags), [str(p) for p in programs]
