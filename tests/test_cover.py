"""Decoding covers the question's cell spans (nqa/decode.py, COVER_CELL_CONSTANTS): a span that equals a
cell and no step uses becomes a filter, appended where the model would halt or put first before a
ranking step; never when that selects nothing."""
from __future__ import annotations

import numpy as np

import nqa.decode as decode
from nqa.decode import _Choice, _cover_before, _cover_step, _unused
from nqa.feasibility import feasible_steps
from nqa.program import SELECT_OPS, TERMINAL_OPS
from nqa.question import parse_question
from nqa.table import table_from_rows

LISTINGS = table_from_rows(
    ["Address", "Type", "Price"],
    [["4 Elm Road", "condo", "$250,000"], ["9 Oak Lane", "house", "$180,000"],
     ["2 Ash Court", "condo", "$310,000"], ["7 Fir Way", "house", "$420,000"]])
EQ = SELECT_OPS.index("filter_eq")


def uniform(n: int) -> np.ndarray:
    return np.full(n, -np.log(max(n, 1)), dtype=np.float32)


def choice(op: str, column: int | None, constant: int | None, n_cols: int, n_const: int, terminal=False):
    n_ops = len(TERMINAL_OPS if terminal else SELECT_OPS)
    return _Choice(op, column, constant, uniform(n_ops), uniform(n_cols), None if terminal else uniform(n_const))


def setting(text: str):
    q = parse_question(text, LISTINGS)
    K, C = len(q.constants), LISTINGS.n_cols
    sel_ok, _ = feasible_steps(LISTINGS, q, C, K)
    first_lp = (uniform(len(SELECT_OPS)), uniform(C), uniform(K))
    return q, K, C, sel_ok, first_lp


def test_cover_step_filters_on_an_unused_cell_span_in_the_column_that_holds_it():
    q, K, C, sel_ok, (op_lp, col_lp, const_lp) = setting("among condo listings, which address has the lowest price")
    k = next(i for i, c in enumerate(q.constants) if c.norm == "condo")
    assert _cover_step(op_lp, col_lp, const_lp, sel_ok, q) == (EQ, LISTINGS.column_names.index("Type"), k)
    used = [choice("filter_eq", 1, k, C, K)]
    assert _cover_step(op_lp, col_lp, const_lp, _unused(sel_ok, used), q) is None  # nothing left to cover


def test_no_cover_without_a_cell_span():
    q, K, C, sel_ok, (op_lp, col_lp, const_lp) = setting("which address has the lowest price")
    assert _cover_step(op_lp, col_lp, const_lp, sel_ok, q) is None


def test_a_ranking_program_gets_the_filter_first():
    q, K, C, sel_ok, first_lp = setting("among condo listings, which address has the lowest price")
    choices = [choice("argmin", 2, None, C, K), choice("print", 0, None, C, K, terminal=True)]
    greedy = decode._program(choices, [0.2, 0.8], LISTINGS, q)
    covered = _cover_before(greedy, choices, [0.2, 0.8], first_lp, sel_ok, 3, LISTINGS, q, K)
    assert [(s.op, s.column_name) for s in covered.steps] == [("filter_eq", "Type"), ("argmin", "Price"),
                                                             ("print", "Address")]
    assert covered.covered and not greedy.covered
    from nqa.executor import execute

    assert execute(covered, LISTINGS, q).values == ["4 Elm Road"]  # the cheapest condo, not the cheapest home


def test_no_cover_when_the_program_is_full_or_a_difference_or_unranked():
    q, K, C, sel_ok, first_lp = setting("among condo listings, which address has the lowest price")
    full = [choice("argmin", 2, None, C, K), choice("print", 0, None, C, K, terminal=True)]
    g = decode._program(full, [0.2, 0.8], LISTINGS, q)
    assert _cover_before(g, full, [0.2, 0.8], first_lp, sel_ok, 1, LISTINGS, q, K) is g  # no step left
    unranked = [choice("print", 0, None, C, K, terminal=True)]
    g = decode._program(unranked, [1.0], LISTINGS, q)
    assert _cover_before(g, unranked, [1.0], first_lp, sel_ok, 3, LISTINGS, q, K) is g


def test_decoding_never_repeats_or_breaks_programs_with_cover(tiny_qa):
    """With the tiny model's (untrained) choices, covered programs still run and use a constant once."""
    assert decode.COVER_CELL_CONSTANTS
    for text in ["among condo listings, which address has the lowest price", "how many condo and house",
                 "total price of condo listings"]:
        q = parse_question(text, LISTINGS)
        for program in tiny_qa.model.decode(LISTINGS, q, k=4):
            used = [s.constant for s in program.selection_steps if s.constant is not None]
            assert len(used) == len(set(used))


def test_next_or_previous_is_never_the_first_step(tiny_qa):
    """The rows after (before) every row are all rows but one: no question means that."""
    q, K, C, sel_ok, _ = setting("which address comes after 9 oak lane")
    first = _unused(sel_ok, [])
    for op in ("next", "previous"):
        assert not first[SELECT_OPS.index(op)].any()
        after_filter = _unused(sel_ok, [choice("filter_eq", 0, 0, C, K)])
        assert after_filter[SELECT_OPS.index(op)].any()
    for text in ["which address comes after 9 oak lane", "what is the next type", "how many listings"]:
        for program in tiny_qa.model.decode(LISTINGS, parse_question(text, LISTINGS), k=4):
            assert program.steps[0].op not in ("next", "previous"), program
