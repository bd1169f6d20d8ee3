"""Cell typing and normalisation: numbers, dates, column kinds, and the Table views over them."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqa.table import (
    Date,
    contains_tokens,
    make_column,
    normalize_text,
    parse_date,
    parse_number,
    table_from_rows,
    unique_names,
)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


@pytest.mark.parametrize("text, number", [
    ("1,234", 1234.0), ("1,234,567.5", 1234567.5), ("-3", -3.0), ("−3", -3.0), ("–7", -7.0), ("+2", 2.0),
    ("45%", 45.0), ("12.5 %", 12.5), ("$12", 12.0), ("US$ 1,500", 1500.0), ("€3.50", 3.5), ("£ 7", 7.0),
    ("-$5", -5.0), ("1st", 1.0), ("2nd", 2.0), ("23rd", 23.0), ("4th, Western", 4.0), ("12 km", 12.0),
    ("1,234[3]", 1234.0), ("7*", 7.0), ("1999-2000", 1999.0), ("3–1", 3.0), (".5", 0.5), ("1.5e3", 1500.0),
    ("1:23.45", 83.45), ("2:03:45", 7425.0), ("  42  ", 42.0),
])
def test_numbers(text, number):
    assert parse_number(text) == pytest.approx(number)


@pytest.mark.parametrize("text", ["", "abc", "12a", "12km", "inf", "nan", "-", "—", "N/A", "1.5th", "No. 5",
                                  "$", "%", "e5", "1e400"])
def test_not_numbers(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text, date", [
    ("1995", Date(1995)), ("January 26, 1995", Date(1995, 1, 26)), ("Jan. 26th, 1995", Date(1995, 1, 26)),
    ("26 Jan 1995", Date(1995, 1, 26)), ("26 January, 1995", Date(1995, 1, 26)), ("1995-01-26", Date(1995, 1, 26)),
    ("1995/1/26", Date(1995, 1, 26)), ("26/01/1995", Date(1995, 1, 26)), ("01/26/1995", Date(1995, 1, 26)),
    ("March 1995", Date(1995, 3)), ("September 30", Date(None, 9, 30)), ("30 September", Date(None, 9, 30)),
    ("1999-2000", Date(1999)), ("2004–05", Date(2004)), ("January 26–28, 1995", Date(1995, 1, 26)),
    ("Sunday, January 26, 1995", Date(1995, 1, 26)), ("January 26, 1995[4]", Date(1995, 1, 26)),
    ("2021-03-04T10:00:00", Date(2021, 3, 4)),
])
def test_dates(text, date):
    assert parse_date(text) == date


@pytest.mark.parametrize("text", ["", "hello", "12", "0999", "3000", "1995-13-01", "February 32, 1995",
                                  "13/13/1995", "1,995"])
def test_not_dates(text):
    assert parse_date(text) is None


def test_date_ordinal_and_iso():
    assert Date(1995, 1, 26).iso() == "1995-01-26"
    assert Date(1995).iso() == "1995-xx-xx" and Date(None, 9, 30).iso() == "xxxx-09-30"
    assert Date(1995).ordinal() == 1995.0
    assert Date(1995, 1, 26).ordinal() < Date(1995, 2, 1).ordinal() < Date(1996).ordinal()
    # year-less dates still order among themselves; no month and no year has no place
    assert Date(None, 9, 30).ordinal() < Date(None, 10, 1).ordinal()
    assert math.isnan(Date().ordinal())


def test_normalize_and_contains():
    assert normalize_text("  Café  Déjà-Vu!! ") == "cafe deja vu"
    assert contains_tokens("new york city", "york city")
    assert not contains_tokens("new yorker", "york")
    assert not contains_tokens("abc", "")


def test_column_typing_and_kind():
    col = make_column("Date", "Date", ["January 26, 1995", "26 Jan 1996", "", "1997-03-01"])
    assert col.kind == "date"
    # a cell that is a date is not the number it starts with
    assert np.isnan(col.numbers).all()
    assert col.values[0] < col.values[1] < col.values[3] and np.isnan(col.values[2])
    num = make_column("Pop", "Pop", ["1,000", "2,500[1]", "n/a", "3,000"])
    assert num.kind == "number" and num.numbers[1] == 2500 and np.isnan(num.numbers[2])
    years = make_column("Year", "Year", ["1995", "1996", "1999-2000"])
    assert years.kind == "number" and years.values.tolist() == [1995, 1996, 1999]
    assert make_column("Name", "Name", ["Ann", "Bob", "3"]).kind == "text"
    assert make_column("Empty", "Empty", ["", " "]).kind == "text"


def test_names_that_start_with_a_number_are_text():
    # street addresses and event names read as their leading number, but they name things
    addresses = ["175 Maple Avenue", "162 Lakeside Court", "195 Birch Road", "31 Maple Avenue", "9 Oak Lane"]
    assert make_column("Address", "Address", addresses).kind == "text"
    events = ["2010 FIFA World Cup qualification", "2007 UNCAF Nations Cup", "Friendly", "2011 CONCACAF Gold Cup"]
    assert make_column("Competition", "Competition", events).kind == "text"
    # a unit repeats: still numbers, and so is a two-word unit the same in every cell
    assert make_column("Distance", "Distance", ["12 km", "7 km", "30 km", "5 km"]).kind == "number"
    pop = make_column("Population", "Population", ["5 million people", "12 million people", "3 million people"])
    assert pop.kind == "number" and pop.numbers.tolist() == [5, 12, 3]


def test_repeated_values_share_parses():
    col = make_column("c", "c", ["1,000", "x", "1,000"] * 1000)
    assert col.text[:3] == ["1 000", "x", "1 000"] and len(col.text) == 3000
    assert np.nansum(col.numbers) == 2000 * 1000.0


def test_table_from_rows_ragged_and_names():
    t = table_from_rows(["a", "", "a"], [["1", "2"], ["3", "4", "5", "6"]])
    assert t.column_names == ["a", "column 2", "a (2)", "column 4"]
    assert t.columns[2].raw == ["", "5"] and t.columns[3].raw == ["", "6"]
    assert t.cell(1, 0).number == 3.0 and t.cell(0, 2).number is None
    assert unique_names(["X", "x", " x "]) == ["X", "x (2)", "x (3)"]


# ---------------------------------------------------------------------------------------------
# properties


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parsing_never_crashes(s):
    n = parse_number(s)
    assert n is None or math.isfinite(n)
    d = parse_date(s)
    assert d is None or isinstance(d, Date)
    assert isinstance(normalize_text(s), str)
    make_column("c", "c", [s, s, ""])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_normalize_idempotent(s):
    once = normalize_text(s)
    assert normalize_text(once) == once
    assert once == once.strip() and "  " not in once


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**12), st.sampled_from([
    "{:,}", "{}", "${:,}", "{}%", "{:,}[3]", "{} km", "-{:,}", "−{}", "+{}", "€ {:,}", "{:,}*"]))
def test_integer_formats_round_trip(x, fmt):
    text = fmt.format(x)
    expected = -x if text.startswith(("-", "−")) else x
    assert parse_number(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=99))
def test_decimal_round_trip(whole, cents):
    assert parse_number(f"{whole:,}.{cents:02d}") == pytest.approx(whole + cents / 100)


@given(st.integers(1, 99), st.sampled_from(["st", "nd", "rd", "th"]))
def test_ordinals_round_trip(x, suffix):
    assert parse_number(f"{x}{suffix}") == x


@settings(max_examples=300, deadline=None)
@given(st.integers(1000, 2999), st.integers(1, 12), st.integers(1, 28),
       st.sampled_from(["iso", "mdy", "dmy", "dmy_short", "my", "y", "range"]))
def test_date_formats_round_trip(y, m, d, fmt):
    name = MONTHS[m - 1]
    text, expected = {
        "iso": (f"{y:04d}-{m:02d}-{d:02d}", Date(y, m, d)),
        "mdy": (f"{name} {d}, {y}", Date(y, m, d)),
        "dmy": (f"{d} {name} {y}", Date(y, m, d)),
        "dmy_short": (f"{d} {name[:3]} {y}", Date(y, m, d)),
        "my": (f"{name} {y}", Date(y, m)),
        "y": (f"{y}", Date(y)),
        "range": (f"{y}–{(y + 1) % 100:02d}", Date(y)),
    }[fmt]
    assert parse_date(text) == expected
    assert parse_date(text).iso().startswith(f"{y:04d}")


def test_a_closing_total_row_is_left_out_of_the_records():
    from nqa.table import table_from_rows

    rows = [["1", "Brazil", "7"], ["2", "Chile", "3"], ["3", "Peru", "2"], ["Total", "", "12"]]
    t = table_from_rows(["Rank", "Nation", "Gold"], rows)
    assert t.n_rows == 3 and t.footer == [["Total", "", "12"]]
    assert t.columns[2].values.tolist() == [7.0, 3.0, 2.0]  # a sum no longer counts the total twice
    # the label may sit in the second column, and 'Totals' / 'Grand total' read the same
    t = table_from_rows(["Rank", "Nation", "Gold"], rows[:3] + [["", "Grand Total", "12"]])
    assert t.n_rows == 3
    # 'Total' in a row that is not last is a record; a table of little more than its total keeps it
    assert table_from_rows(["Rank", "Nation"], [["Total", "x"], ["1", "Chile"], ["2", "Peru"]]).n_rows == 3
    assert table_from_rows(["Team", "Gold"], [["Chile", "3"], ["Total", "3"]]).n_rows == 2
    from nqa.table import table_from_columns
    cols = [list(c) for c in zip(*rows)]
    assert table_from_columns(["Rank", "Nation", "Gold"], cols, keep_footer=True).n_rows == 4


def test_footer_note_names_the_rows_left_out():
    from nqa.table import footer_note, table_from_rows

    t = table_from_rows(["Rank", "Nation"], [["1", "Chile"], ["2", "Peru"], ["3", "Cuba"], ["", "Totals:"]])
    assert footer_note(t.footer) == "the table's closing 'Totals:' row left out: a summary, not a record"
    assert footer_note([]) is None
