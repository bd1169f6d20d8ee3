"""Soft ops equal the exact ops (docs/ops.md) at one-hot attention, for every op, on random tables."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nqa import ops
from nqa.executor import select_step
from nqa.features import build_features, collate
from nqa.program import SELECT_OPS, TERMINAL_OPS
from nqa.question import Constant, Question, match_matrix
from nqa.table import table_from_rows

CELLS = ["", "a", "b", "a b", "1", "2", "2", "2.5", "-3", "10", "1995", "x 2", "March 3, 1995", "1995-07-01",
         "0", "yes", "no"]
CONSTANTS = [Constant("number", "2", "2", 2.0, (0, 1)), Constant("number", "10", "10", 10.0, (1, 2)),
             Constant("text", "a", "a", None, (2, 3)), Constant("text", "b", "b", None, (3, 4)),
             Constant("number", "2.5", "2 5", 2.5, (4, 5)),
             Constant("number", "1995", "1995", 1995.0, (5, 6), "number"),  # a year: dates compare by year
             Constant("month", "march", "march", 3.0, (5, 6), "month")]


@st.composite
def examples(draw):
    n_rows = draw(st.integers(1, 7))
    n_cols = draw(st.integers(1, 3))
    rows = [[draw(st.sampled_from(CELLS)) for _ in range(n_cols)] for _ in range(n_rows)]
    table = table_from_rows([f"c{j}" for j in range(n_cols)], rows)
    consts = draw(st.lists(st.sampled_from(CONSTANTS), min_size=0, max_size=4, unique=True))
    question = Question("q a b c d e", ["q", "a", "b", "c", "d", "e"], consts)
    s = np.array(draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows)), dtype=bool)
    return table, question, s


def _batch(table, question, pad_with=None):
    feats = [build_features(table, question)]
    if pad_with is not None:  # a bigger second example forces padding of the first
        feats.append(build_features(*pad_with))
    return collate(feats)


BIG = (table_from_rows(["p", "q", "r", "s"], [["1", "a", "2", "x"]] * 9),
       Question("x", ["x"], CONSTANTS))


@settings(max_examples=150, deadline=None)
@given(examples(), st.data())
def test_every_selection_op_matches_exact(ex, data):
    table, question, s = ex
    batch = _batch(table, question, pad_with=BIG)
    match = match_matrix(question, table)
    R, C, K = batch.table.values.shape[1], batch.table.values.shape[2], batch.table.match.shape[1]
    s_soft = torch.zeros(2, R)
    s_soft[0, :table.n_rows] = torch.from_numpy(s.astype(np.float32))
    for o, op in enumerate(SELECT_OPS):
        col = data.draw(st.integers(0, table.n_cols - 1))
        const = data.draw(st.integers(0, len(question.constants) - 1)) if question.constants else None
        if op in ("filter_eq", "filter_gt", "filter_ge", "filter_lt", "filter_le") and const is None:
            continue
        exact = select_step(op, s, table, question, match, col, const)
        op_w = torch.zeros(2, len(SELECT_OPS))
        op_w[:, o] = 1
        col_w = torch.zeros(2, C)
        col_w[:, col] = 1
        const_w = torch.zeros(2, K)
        if const is not None:
            const_w[:, const] = 1
        soft = ops.soft_select_step(s_soft, batch.table, op_w, col_w, const_w)[0]
        assert soft[:table.n_rows].tolist() == exact.astype(np.float32).tolist(), (op, col, const)
        assert soft[table.n_rows:].abs().sum() == 0, f"{op} leaked into padding"


@settings(max_examples=150, deadline=None)
@given(examples(), st.data())
def test_every_terminal_op_matches_exact(ex, data):
    table, question, s = ex
    batch = _batch(table, question, pad_with=BIG)
    R = batch.table.values.shape[1]
    s_soft = torch.zeros(2, R, dtype=torch.float64)
    s_soft[0, :table.n_rows] = torch.from_numpy(s.astype(np.float64))
    scalars = ops.soft_terminal_scalars(s_soft, batch.table)[0]  # (ops, C)
    numeric = [op for op in TERMINAL_OPS if op != "print"]
    col = data.draw(st.integers(0, table.n_cols - 1))
    c = table.columns[col]
    for o, op in enumerate(numeric):
        values, number, _ = ops.exact_terminal(op, s, c.values, c.raw, c.text)
        if values:  # the soft op gives 0 where the exact answer is empty
            assert scalars[o, col].item() == pytest.approx(number, rel=1e-9, abs=1e-9), op
    col_w = torch.zeros(2, batch.table.values.shape[2], dtype=torch.float64)
    col_w[:, col] = 1
    lookup = ops.soft_lookup(s_soft, col_w)[0]
    values, _, rows = ops.exact_terminal("print", s, c.values, c.raw)
    expected = np.zeros(lookup.shape)
    expected[rows, col] = 1
    assert lookup.numpy().tolist() == expected.tolist()


def test_argmax_keeps_ties_and_skips_missing_values():
    table = table_from_rows(["n"], [["3"], [""], ["3"], ["1"]])
    batch = _batch(table, Question("q", ["q"], []))
    s = torch.ones(1, 4)
    out = ops.soft_argmax(s, batch.table.values, batch.table.valid)[0, :, 0]
    assert out.tolist() == [1, 0, 1, 0]
    assert ops.soft_argmax(s, batch.table.values, batch.table.valid, largest=False)[0, :, 0].tolist() == [0, 0, 0, 1]


def test_soft_ops_have_finite_gradients_on_soft_selections():
    table = table_from_rows(["n", "t"], [["3", "a"], ["", "a"], ["3", "b"], ["1", ""], ["7", "b"]])
    question = Question("q", ["q", "a", "3"], [CONSTANTS[0], CONSTANTS[2]])
    batch = _batch(table, question, pad_with=BIG)
    s = torch.rand(2, batch.table.values.shape[1], requires_grad=True)
    total = 0
    for o in range(len(SELECT_OPS)):
        op_w = torch.nn.functional.one_hot(torch.tensor([o, o]), len(SELECT_OPS)).float()
        col_w = torch.full((2, batch.table.values.shape[2]), 0.25)
        const_w = torch.softmax(torch.randn(2, batch.table.match.shape[1]), -1)
        total = total + ops.soft_select_step(s, batch.table, op_w, col_w, const_w).sum()
    total = total + ops.soft_terminal_scalars(s, batch.table).sum()
    total.backward()
    assert torch.isfinite(s.grad).all()


def test_one_row_table_and_no_constants():
    table = table_from_rows(["n"], [["5"]])
    batch = _batch(table, Question("q", ["q"], []))
    s = torch.ones(1, 1)
    outs = ops.soft_select_all(s, batch.table)
    assert outs["previous"].tolist() == [[0.0]] and outs["next"].tolist() == [[0.0]]
    assert outs["argmax"][0, 0, 0] == 1 and outs["mfe"][0, 0, 0] == 1
    assert outs["filter_any"].sum() == 0 and outs["filter_gt"].sum() == 0
    # count, sum, avg, max, min, difference, count_distinct, share
    assert ops.soft_terminal_scalars(s, batch.table)[0, :, 0].tolist() == [1, 5, 5, 5, 5, 0, 1, 100]


def test_flags_dates_and_distinct_counts():
    """filter_true/filter_false read yes/no and 0/1 columns only; a year compares with a date's year."""
    table = table_from_rows(["active", "goals", "joined", "city"],
                            [["Yes", "1", "2019-03-01", "Paris"], ["no", "0", "2019-12-31", "paris"],
                             ["Y", "2", "2020-01-05", "Rome"], ["", "1", "2018-07-07", ""]])
    year = Constant("number", "2019", "2019", 2019.0, (0, 1), "number")
    question = Question("2019", ["2019"], [year])
    match = match_matrix(question, table)
    s = np.ones(4, dtype=bool)
    assert select_step("filter_true", s, table, question, match, 0, None).tolist() == [True, False, True, False]
    assert select_step("filter_false", s, table, question, match, 0, None).tolist() == [False, True, False, False]
    assert not select_step("filter_true", s, table, question, match, 1, None).any()  # goals is no flag column
    assert select_step("filter_gt", s, table, question, match, 2, 0).tolist() == [False, False, True, False]
    assert select_step("filter_le", s, table, question, match, 2, 0).tolist() == [True, True, False, True]
    assert match[0, :, 2].tolist() == [True, True, False, False]  # 'in 2019'
    c = table.columns[3]
    assert ops.exact_terminal("count_distinct", s, c.values, c.raw, c.text)[0] == ["2"]
    assert ops.exact_terminal("share", np.array([1, 0, 0, 0], bool), None, None)[0] == ["25"]
