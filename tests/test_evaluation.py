"""The official WTQ evaluator's rules: what counts as a correct answer, and `nqa evaluate`."""
import argparse
import doctest

import pytest

import nqa.evaluation as evaluation
from nqa.evaluation import (
    DateValue,
    NumberValue,
    StringValue,
    canonical_form,
    check_denotation,
    evaluate,
    is_correct,
    normalize,
    read_predictions,
    to_value,
    to_value_list,
    tsv_escape,
    tsv_unescape,
    tsv_unescape_list,
)
from nqa.wtq import cli_evaluate


@pytest.mark.parametrize("raw, norm", [
    ("Café Déjà Vu", "cafe deja vu"),
    ("  Hello   World  ", "hello world"),
    ("Wolfe Tones[3]", "wolfe tones"),
    ("Wolfe Tones[a][3]", "wolfe tones"),
    ("Smith*", "smith"), ("Smith †", "smith"),
    ("Paris (France)", "paris"),
    ('"Quoted"', "quoted"),
    ("“Quoted”", "quoted"),
    ("St. Louis.", "st. louis"),
    ("1–2", "1-2"),
    ("It’s", "it's"),
    ("(1995)", "(1995)"),  # a parenthesis at the very start stays
    ("[1]", ""),
])
def test_normalize(raw, norm):
    assert normalize(raw) == norm


def test_value_types():
    assert to_value("42") == NumberValue(42, "42") and isinstance(to_value("42").amount, int)
    assert to_value("2.50").amount == 2.5
    assert isinstance(to_value("1,000"), StringValue)  # predictions are parsed as written
    assert isinstance(to_value("1995-01-26"), DateValue)
    assert to_value("1995-xx-xx") == NumberValue(1995, "")  # a year alone is a number
    assert to_value("xx-03-xx").ymd == (-1, 3, -1)
    assert isinstance(to_value("nan"), StringValue) and isinstance(to_value("inf"), StringValue)
    assert isinstance(to_value("1995-13-01"), StringValue)


@pytest.mark.parametrize("target, canon", [
    ("1,000", "1000"), ("12,467", "12467"), ("-3.5", "-3.5"), ("−2", "-2"),
    ("January 26, 1995", "1995-01-26"), ("26 Jan 1995", "1995-01-26"), ("March 1995", "1995-03-xx"),
    ("1995", "1995"), ("1999-2000", None), ("Paris", None), ("3rd", None), ("12 km", None),
])
def test_canonical_form(target, canon):
    assert canonical_form(target) == canon


@pytest.mark.parametrize("target, predicted", [
    (["1,000"], ["1000"]),
    (["1000"], ["1000.0"]),
    (["January 26, 1995"], ["1995-01-26"]),
    (["January 26, 1995"], ["january 26, 1995"]),
    (["March 1995"], ["1995-03-xx"]),
    (["Bangkok, Thailand"], ["bangkok, thailand"]),
    (["Café"], ["Cafe"]),
    (["Zürich"], ["ZURICH"]),
    (["Wolfe Tones[3]"], ["Wolfe Tones"]),
    (["Wolfe Tones"], ["Wolfe Tones[3]"]),
    (["Paris", "Rome"], ["Rome", "Paris"]),
    (["Paris", "Rome"], ["rome", "paris", "Paris"]),  # duplicates collapse
    (["2"], ["2.0000001"]),
])
def test_correct(target, predicted):
    assert is_correct(target, predicted)


@pytest.mark.parametrize("target, predicted", [
    (["3"], ["4"]),
    (["Paris"], ["Rome"]),
    (["Paris", "Rome"], ["Paris"]),
    (["Paris"], ["Paris", "Rome"]),
    (["1995-01-26"], ["1995-01-27"]),
    (["January 26, 1995"], ["1995"]),
    (["2"], ["2.01"]),
    (["Paris"], []),
    (["1000"], ["1,000"]),  # as officially: predictions are not canonicalised
])
def test_wrong(target, predicted):
    assert not is_correct(target, predicted)


def test_check_denotation_counts_distinct_values():
    t = to_value_list(["a", "b"])
    assert check_denotation(t, to_value_list(["b", "a"]))
    assert not check_denotation(t, to_value_list(["a", "a"]))
    assert to_value_list(["x", "X", "x."]) == [StringValue("x")]
    with pytest.raises(ValueError):
        to_value_list(["a"], ["a", "b"])


def test_tsv_escapes():
    assert tsv_unescape(r"a\nb\pc\\d\\n") == "a\nb|c\\d\\n"
    assert tsv_unescape_list(r"a|b\pc") == ["a", "b|c"]
    for s in ["plain", "a|b", "back\\slash", "new\nline", "\\n literally"]:
        assert tsv_unescape(tsv_escape(s)) == s


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_evaluate_counts_missing_as_wrong(tmp_path, capsys):
    examples = _write(tmp_path / "ex.tsv", "id\tutterance\tcontext\ttargetValue\n"
                                           "nt-0\tq0\tcsv/1.csv\t1,000\n"
                                           "nt-1\tq1\tcsv/1.csv\tParis|Rome\n"
                                           "nt-2\tq2\tcsv/1.csv\tJanuary 26, 1995\n"
                                           "nt-3\tq3\tcsv/1.csv\ta\\pb\n")
    pred = _write(tmp_path / "pred.tsv", "nt-0\t1000\nnt-1\tRome\tParis\nnt-2\t1996-01-26\nnt-9\tx\n")
    assert read_predictions(pred)["nt-1"] == ["Rome", "Paris"]
    rc = cli_evaluate(argparse.Namespace(examples=examples, pred=pred, verbose=True))
    out = capsys.readouterr().out
    assert rc == 0
    assert "Examples: 4" in out and "Correct: 2" in out and "Accuracy: 0.5000" in out
    assert "Missing predictions (counted wrong): 1" in out and "unknown ids (ignored): 1" in out
    assert "WRONG nt-2" in out and "WRONG nt-3" in out and "(missing)" in out


def test_evaluate_targets_with_escaped_pipes(tmp_path):
    pred = _write(tmp_path / "p.tsv", "nt-3\ta|b\n")
    result = evaluate({"nt-3": ["a|b"]}, read_predictions(pred))
    assert result.accuracy == 1.0


def test_cli_evaluate_bad_files(tmp_path, capsys):
    bad = _write(tmp_path / "bad.tsv", "no header here\n")
    rc = cli_evaluate(argparse.Namespace(examples=bad, pred=bad, verbose=False))
    assert rc == 2 and "not a WTQ examples file" in capsys.readouterr().err
    rc = cli_evaluate(argparse.Namespace(examples=str(tmp_path / "none.tsv"), pred=bad, verbose=False))
    assert rc == 2


def test_nqa_evaluate_command(tmp_path, capsys):
    from nqa.cli import main

    examples = _write(tmp_path / "ex.tsv", "id\tutterance\tcontext\ttargetValue\nnt-0\tq\tc\t3\n")
    pred = _write(tmp_path / "pred.tsv", "nt-0\t3.0\n")
    assert main(["evaluate", "--examples", examples, "--pred", pred]) == 0
    assert "Accuracy: 1.0000" in capsys.readouterr().out


def test_docstring_examples():
    assert doctest.testmod(evaluation).failed == 0


def test_unanswerable_targets_and_accuracy_per_kind(tmp_path, capsys):
    """An empty target is matched only by no answer; a `kind` column gives accuracy per kind."""
    import argparse

    from nqa.evaluation import evaluate

    result = evaluate({"a": [""], "b": [""], "c": ["3"], "d": ["3"]}, {"a": [], "b": ["7"], "c": ["3"], "d": []})
    assert result.n_correct == 2 and {w[0] for w in result.wrong} == {"b", "d"}
    examples = tmp_path / "ex.tsv"
    examples.write_text("id\tutterance\tcontext\ttargetValue\tkind\n"
                        "a\tq\tt.csv\t\tunanswerable\nc\tq\tt.csv\t3\tcount_1\nd\tq\tt.csv\t4\tcount_1\n")
    pred = tmp_path / "pred.tsv"
    pred.write_text("a\nc\t3\nd\t5\n")
    assert cli_evaluate(argparse.Namespace(examples=str(examples), pred=str(pred), verbose=False)) == 0
    out = capsys.readouterr().out
    assert "Accuracy: 0.6667" in out
    assert "count_1" in out and "1/2" in out and "unanswerable" in out and "1/1" in out
