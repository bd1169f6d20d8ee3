"""Question constants and their match against tables (the filter_eq predicate of docs/ops.md)."""
import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nqa.question as question_module
from nqa.question import (
    COLUMN_FEATURES,
    Constant,
    column_features,
    column_match,
    match_matrix,
    parse_question,
    same_word,
    tokenize,
)
from nqa.table import contains_tokens, table_from_rows

TABLE = table_from_rows(
    ["Year", "Team", "League", "Attendance", "Date"],
    [["2001", "Boston Red Sox", "American League", "7,169", "April 3, 2001"],
     ["2002", "New York Yankees", "American League", "6,260", "April 9, 2002"],
     ["2003", "The Who", "Did not qualify", "45%", "May 1, 2003"],
     ["2004", "Chicago Cubs", "National League", "1,000", "June 5, 2004"]],
)


def consts(q, table=TABLE, **kw):
    return [(c.kind, c.norm, c.number, c.source) for c in parse_question(q, table, **kw).constants]


def test_tokenize():
    assert tokenize("How many had 1,000 or 2.5 and 45%?") == ["How", "many", "had", "1,000", "or", "2.5", "and",
                                                            "45", "%", "?"]


def test_number_constants():
    got = consts("which team had more than 1,000 fans, 2.5 times or 45% in the 3rd year?", None)
    assert ("number", "1 000", 1000.0, "number") in got
    assert ("number", "2 5", 2.5, "number") in got
    assert ("number", "45", 45.0, "number") in got
    assert ("number", "3rd", 3.0, "number") in got


@pytest.mark.parametrize("text, value", [
    ("three", 3), ("twice", 2), ("once", 1), ("first", 1), ("tenth", 10), ("twenty-one", 21),
    ("twenty one", 21), ("two hundred", 200), ("3 million", 3_000_000), ("a dozen", 12),
])
def test_number_words(text, value):
    numbers = [c.number for c in parse_question(f"were there {text} games", None).constants]
    assert numbers == [value]


def test_date_constants():
    got = consts("who played after january 26, 1995?", None)
    assert got[0][0] == "number" and got[0][3] == "date" and got[0][1] == "january 26 1995"
    assert 1995 < got[0][2] < 1995.1
    assert ("number", "1995", 1995.0, "number") in got


def test_text_constants_exact_partial_and_column():
    got = consts("did the boston red sox have more attendance than chicago in the american league?")
    assert ("text", "boston red sox", None, "cell") in got  # exact cell
    assert ("text", "chicago", None, "cell_part") in got  # a token run inside 'Chicago Cubs'
    assert ("text", "american league", None, "cell") in got
    assert ("text", "attendance", None, "column") in got
    # maximal spans only: no 'red sox' or 'boston' beside 'boston red sox'
    assert not any(norm in ("red sox", "boston", "red", "sox") for _, norm, _, _ in got)


def test_stop_words_never_make_constants():
    # 'the' and 'who' are in cells ('The Who') but alone they are junk; the whole cell is kept.
    got = consts("who was the team that had the who?")
    norms = [n for _, n, _, _ in got]
    assert "the who" in norms and "who" not in norms and "the" not in norms
    assert consts("what is it that was there?") == []


def test_exact_cell_survives_inside_a_partial_span():
    t = table_from_rows(["Team", "Note"], [["Red Sox", ""], ["x", "Red Sox win streak record"]])
    norms = [c.norm for c in parse_question("did the red sox win streak end", t).constants]
    assert "red sox win streak" in norms and "red sox" in norms


def test_max_constants_keeps_most_useful():
    q = "in 2001 2002 2003 did the boston red sox play one or two or three games first"
    kept = parse_question(q, TABLE, max_constants=4).constants
    assert len(kept) == 4
    assert [c.source for c in kept] == ["number", "number", "number", "cell"]
    assert [c.span[0] for c in kept] == sorted(c.span[0] for c in kept)  # question order


def test_constant_is_backward_compatible():
    c = Constant("number", "3", "3", 3.0, (0, 1))
    assert c.source == ""


def naive_match(question, table):
    """docs/ops.md match(cell, constant), cell by cell."""
    out = np.zeros((len(question.constants), table.n_rows, table.n_cols), dtype=bool)
    for k, c in enumerate(question.constants):
        for j, col in enumerate(table.columns):
            exact_somewhere = c.kind == "text" and bool(c.norm) and any(t == c.norm for t in col.text)
            for i in range(table.n_rows):
                if c.kind == "month":
                    d = col.dates[i]
                    out[k, i, j] = d is not None and d.month == c.number
                elif c.kind == "number":
                    if c.is_year and col.kind == "date":
                        out[k, i, j] = col.years[i] == c.number
                    else:
                        out[k, i, j] = col.numbers[i] == c.number
                elif exact_somewhere:  # the exact cell wins
                    out[k, i, j] = col.text[i] == c.norm
                else:
                    out[k, i, j] = contains_tokens(col.text[i], c.norm)
    return out


def test_match_matrix_semantics():
    q = parse_question("did the american league teams have 1,000 or 45 fans in 2004?", TABLE)
    m = match_matrix(q, TABLE)
    assert m.shape == (len(q.constants), 4, 5) and m.dtype == bool
    np.testing.assert_array_equal(m, naive_match(q, TABLE))
    k = [c.norm for c in q.constants].index("american league")
    assert m[k, :, 2].tolist() == [True, True, False, False]
    k = [c.number for c in q.constants].index(1000.0)
    assert m[k, :, 3].tolist() == [False, False, False, True]


_WORDS = ["red", "sox", "new", "york", "the", "a", "league", "1", "2,000", "cubs", "é", "x-y"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.lists(st.sampled_from(_WORDS), max_size=4).map(" ".join), min_size=3, max_size=3),
                min_size=1, max_size=12),
       st.lists(st.sampled_from(_WORDS + ["what", "how", "many", "2000", "two"]), min_size=1, max_size=10)
       .map(" ".join))
def test_match_matrix_equals_the_definition(rows, text):
    t = table_from_rows(["a", "b", "c"], rows)
    q = parse_question(text, t)
    np.testing.assert_array_equal(match_matrix(q, t), naive_match(q, t))
    for c in q.constants:  # every text constant matches some cell or is a column name
        if c.kind == "text" and c.source != "column":
            assert naive_match(type(q)(q.text, q.tokens, [c]), t).any()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parsing_never_crashes(text):
    q = parse_question(text, TABLE)
    assert len(q.constants) <= 12
    match_matrix(q, TABLE)


def test_column_match_and_features():
    q = parse_question("what was the attendance in the year the boston red sox played?", TABLE)
    cm = column_match(q, TABLE)
    assert cm.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    f = column_features(q, TABLE)
    assert f.shape == (5, len(COLUMN_FEATURES))
    assert f[:, 1].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert f[:, 2].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]  # 'boston red sox' is in Team


def test_empty_table_and_no_constants():
    t = table_from_rows(["a"], [])
    q = parse_question("how many rows are there?", t)
    assert match_matrix(q, t).shape == (len(q.constants), 0, 1)
    with pytest.raises(TypeError):
        parse_question(None, t)


def test_docstring_examples():
    assert doctest.testmod(question_module).failed == 0


def test_match_matrix_with_many_hits():
    # more than 64 distinct cells contain the constant: the one-pass path must agree with the definition
    t = table_from_rows(["name"], [[f"red team {i}"] for i in range(200)] + [["blue"], ["reddish"]])
    q = parse_question("which red team won?", t)
    m = match_matrix(q, t)
    np.testing.assert_array_equal(m, naive_match(q, t))
    assert m[[c.norm for c in q.constants].index("red team"), :, 0].sum() == 200


@pytest.mark.parametrize("text, numbers", [
    ("count customers with nps -17 or more", [-17.0]),   # a minus sign after a space: negative
    ("temperature below −4", [-4.0]),                    # the Unicode minus too
    ("-5 degrees", [-5.0]),                              # at the start
    ("seasons 1990-1995", [1990.0, 1995.0]),             # a range's dash is no sign
    ("ages 18 - 25", [18.0, 25.0]),                      # nor a dash between spaces
])
def test_negative_numbers(text, numbers):
    consts = parse_question(text).constants
    assert [c.number for c in consts] == numbers
    assert all(c.surface in text for c in consts)


def test_a_negative_number_matches_negative_cells():
    t = table_from_rows(["Customer", "NPS"], [["a", "-17"], ["b", "17"]])
    q = parse_question("customers with nps -17", t)
    (c,) = [c for c in q.constants if c.kind == "number"]
    assert c.number == -17.0 and c.surface == "-17"
    assert match_matrix(q, t)[q.constants.index(c), :, 1].tolist() == [True, False]


def test_a_decimal_written_without_its_zero():
    t = table_from_rows(["Player", "FG%"], [["a", ".512"], ["b", ".480"]])
    nums = [(c.number, c.span) for c in parse_question("players with a percentage over .500?", t).constants
            if c.kind == "number"]
    assert nums == [(0.5, (5, 7))]  # the span covers the point and the digits
    assert [c.number for c in parse_question("only .42% of people", t).constants if c.kind == "number"] == [0.42]
    # a full stop, or a point inside a version number, is no leading point
    assert [c.number for c in parse_question("version 1.2 and 3", t).constants if c.kind == "number"] == [1.2, 3.0]
    assert 0.2 not in [c.number for c in parse_question("v1.2", t).constants]


@pytest.mark.parametrize("a, b, same", [
    ("drawn", "draws", True), ("enrolled", "enrolment", True), ("salary", "salaries", True),
    ("shipped", "shipping", True), ("goals", "goal", True), ("goals", "goals", True),
    ("country", "count", False), ("time", "times", False), ("won", "wins", False), ("lost", "losses", False),
    ("at", "ate", False)])
def test_same_word_tells_forms_of_one_word(a, b, same):
    assert same_word(a, b) is same


def test_column_match_word_forms_only_when_asked():
    t = table_from_rows(["Team", "Drawn", "Time"], [["Lions", "3", "1:02"]])
    q = parse_question("how many draws did the lions have, and how many times", t)
    assert column_match(q, t).tolist() == [0.0, 0.0, 0.0]
    assert column_match(q, t, word_forms=True).tolist() == [0.0, 1.0, 0.0]
