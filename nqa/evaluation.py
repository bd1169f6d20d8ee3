"""WTQ denotation accuracy by the rules of the official evaluator (WikiTableQuestions 1.0.2).

Re-implemented from the official `evaluator.py`, rule for rule:

- strings are normalised (`normalize`): accents stripped (NFKD, drop combining marks), curly quotes
  and dashes unified, trailing citations ('[3]', '*', '†'...) and trailing parenthesised details
  removed, one pair of enclosing double quotes removed, a final '.' dropped, whitespace collapsed,
  lower-cased;
- every item becomes a Value: a NumberValue when its canonical form reads as an int/float, a
  DateValue when it reads as yyyy-mm-dd (parts may be 'xx'; a year alone becomes a number), else a
  StringValue;
- a target value matches a predicted one when their normalised strings are equal, or when both are
  numbers within 1e-6, or both dates with the same (year, month, day);
- a prediction is correct when, after removing duplicates, it has as many values as the target and
  every target value matches some predicted value (so order does not matter).

One difference is unavoidable: the official script takes each target's canonical form from CoreNLP
(the `targetCanon` column of the tagged dataset files, e.g. '1,000' -> 1000.0, 'January 26, 1995' ->
1995-01-26). Those files are not shipped, so `canonical_form` stands in for CoreNLP: a target that
is, as a whole, a number written with thousands separators/sign/decimals, or a date in a form
`nqa.table.parse_date` reads, gets that canonical form. As in the official script, predictions are
NOT canonicalised: a predicted '1000' matches a target '1,000', but a predicted '1,000' does not
match a target '1000' (compare normalised strings only).

The project also differs in one deliberate way from the official script's batch mode: examples
without a prediction count as wrong (the official script skips them). `nqa evaluate` (reading a WTQ
examples file) is `nqa.wtq.cli_evaluate`: this module knows values and files of predictions, not the
dataset.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# string normalisation

_CITATION = re.compile(r"((?<!^)\[[^\]]*\]|\[\d+\]|[•♦†‡*#+])*$")
_PAREN_DETAIL = re.compile(r"(?<!^)( \([^)]*\))*$")
_OUTER_QUOTES = re.compile(r'^"([^"]*)"$')


def normalize(x: str) -> str:
    """The official evaluator's string normalisation.

    >>> normalize('  "Déjà Vu"[2] (band)'), normalize('St. Louis.')
    ('deja vu', 'st. louis')
    """
    x = "".join(c for c in unicodedata.normalize("NFKD", x) if unicodedata.category(c) != "Mn")
    x = re.sub(r"[‘’´`]", "'", x)
    x = re.sub(r"[“”]", '"', x)
    x = re.sub(r"[‐‑‒–—−]", "-", x)
    while True:
        old = x
        x = _CITATION.sub("", x.strip())
        x = _PAREN_DETAIL.sub("", x.strip())
        x = _OUTER_QUOTES.sub(r"\1", x.strip())
        if x == old:
            break
    if x and x[-1] == ".":
        x = x[:-1]
    return re.sub(r"\s+", " ", x, flags=re.U).lower().strip()


# ---------------------------------------------------------------------------------------------
# values


class Value:
    """A normalised answer item; `match` is the official (asymmetric-looking but symmetric) test."""

    normalized: str

    def match(self, other: Value) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class StringValue(Value):
    normalized: str

    def __eq__(self, other) -> bool:
        return isinstance(other, StringValue) and self.normalized == other.normalized

    def __hash__(self) -> int:
        return hash(self.normalized)

    def match(self, other: Value) -> bool:
        return self.normalized == other.normalized


@dataclass(frozen=True, eq=False)
class NumberValue(Value):
    amount: float | int
    normalized: str

    def __eq__(self, other) -> bool:
        return isinstance(other, NumberValue) and self.amount == other.amount

    def __hash__(self) -> int:
        return hash(self.amount)

    def match(self, other: Value) -> bool:
        if self.normalized == other.normalized:
            return True
        return isinstance(other, NumberValue) and abs(self.amount - other.amount) < 1e-6

    @staticmethod
    def parse(text: str) -> float | int | None:
        """int(text), else a finite float(text), else None (Python's own literal rules, as officially)."""
        try:
            return int(text)
        except ValueError:
            pass
        try:
            amount = float(text)
        except ValueError:
            return None
        return None if math.isnan(amount) or math.isinf(amount) else amount


@dataclass(frozen=True, eq=False)
class DateValue(Value):
    year: int  # -1 where unknown
    month: int
    day: int
    normalized: str

    @property
    def ymd(self) -> tuple[int, int, int]:
        return (self.year, self.month, self.day)

    def __eq__(self, other) -> bool:
        return isinstance(other, DateValue) and self.ymd == other.ymd

    def __hash__(self) -> int:
        return hash(self.ymd)

    def match(self, other: Value) -> bool:
        if self.normalized == other.normalized:
            return True
        return isinstance(other, DateValue) and self.ymd == other.ymd

    @staticmethod
    def parse(text: str) -> tuple[int, int, int] | None:
        """'yyyy-mm-dd' with 'xx'/'xxxx' for unknown parts -> (y, m, d) with -1 for unknown."""
        parts = text.lower().split("-")
        if len(parts) != 3:
            return None
        try:
            year = -1 if parts[0] in ("xx", "xxxx") else int(parts[0])
            month = -1 if parts[1] == "xx" else int(parts[1])
            day = -1 if parts[2] == "xx" else int(parts[2])
        except ValueError:
            return None
        if year == month == day == -1:
            return None
        if not (month == -1 or 1 <= month <= 12) or not (day == -1 or 1 <= day <= 31):
            return None
        return (year, month, day)


def _amount(x: float | int) -> float | int:
    return int(x) if abs(x - round(x)) < 1e-6 else float(x)


def to_value(original: str | Value, canonical: str | None = None) -> Value:
    """A Value from an answer string; `canonical` (CoreNLP's form in the official data) is parsed
    in its place when given, while the normalised original string is kept for string matching."""
    if isinstance(original, Value):
        return original
    if not canonical:
        canonical = original
    amount = NumberValue.parse(canonical)
    if amount is not None:
        return NumberValue(_amount(amount), normalize(original))
    ymd = DateValue.parse(canonical)
    if ymd is not None:
        if ymd[1] == ymd[2] == -1:
            return NumberValue(ymd[0], normalize(original))
        return DateValue(*ymd, normalize(original))
    return StringValue(normalize(original))


def to_value_list(originals, canonicals=None) -> list[Value]:
    """Distinct Values of a list of strings (duplicates collapse, as in the official script)."""
    originals = list(originals)
    if canonicals is None:
        return list(dict.fromkeys(to_value(x) for x in originals))
    canonicals = list(canonicals)
    if len(canonicals) != len(originals):
        raise ValueError("originals and canonical forms differ in length")
    return list(dict.fromkeys(to_value(x, y) for x, y in zip(originals, canonicals)))


_PLAIN_NUMBER = re.compile(r"^[-+−]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$|^[-+−]?\.\d+$")


def canonical_form(item: str) -> str | None:
    """The stand-in for CoreNLP's canonical value of a target item (see the module docstring):
    '1,000' -> '1000', '−3.5' -> '-3.5', 'January 26, 1995' -> '1995-01-26', 'March 1995' ->
    '1995-03-xx'; anything else None (the item is then parsed as written)."""
    from nqa.table import parse_date

    s = item.strip()
    if _PLAIN_NUMBER.match(s):
        x = float(s.replace(",", "").replace("−", "-"))
        return str(int(x)) if x.is_integer() else repr(x)
    if re.search(r"\d{4}\s*[-–—/]\s*(\d{2}|\d{4})$", s):  # '1999-2000' is a span, not a date
        return None
    d = parse_date(s)
    if d is not None and d.month is not None and not s.isdigit():
        return d.iso()
    return None


def target_values(items: list[str]) -> list[Value]:
    """Target Values of an example's answer items, with canonical forms as the official data has."""
    return to_value_list(items, [canonical_form(x) for x in items])


def check_denotation(target: list[Value], predicted: list[Value]) -> bool:
    """Same number of distinct values, and every target value matched by some predicted value."""
    if len(target) != len(predicted):
        return False
    return all(any(t.match(p) for p in predicted) for t in target)


def is_correct(target_items: list[str], predicted_items: list[str]) -> bool:
    """Whether predicted answer strings are a correct denotation for target answer strings.

    >>> is_correct(["1,000"], ["1000"]), is_correct(["January 26, 1995"], ["1995-01-26"])
    (True, True)
    >>> is_correct(["Paris", "Rome"], ["rome", "París"]), is_correct(["3"], ["4"])
    (True, False)
    """
    return check_denotation(target_values(target_items), to_value_list(predicted_items))


# ---------------------------------------------------------------------------------------------
# files


def tsv_unescape(x: str) -> str:
    r"""Undo WTQ's TSV escapes: \n -> newline, \p -> '|', \\ -> backslash (left to right)."""
    return re.sub(r"\\([np\\])", lambda m: {"n": "\n", "p": "|", "\\": "\\"}[m.group(1)], x)


def tsv_escape(x: str) -> str:
    """The inverse of tsv_unescape, for writing prediction/example files."""
    return x.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\p").replace("\t", " ")


def tsv_unescape_list(x: str) -> list[str]:
    """A '|'-separated list of escaped items."""
    return [tsv_unescape(y) for y in x.split("|")]


def read_predictions(path: str) -> dict[str, list[str]]:
    """id -> predicted items, from lines 'id<TAB>item1<TAB>item2...' (later lines win)."""
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").rstrip("\r").split("\t")
            if fields and fields[0]:
                out[fields[0]] = [tsv_unescape(x) for x in fields[1:]]
    return out


@dataclass
class EvalResult:
    n_examples: int
    n_correct: int
    n_missing: int  # examples without a prediction (counted wrong)
    n_unknown: int  # predictions for ids not among the examples (ignored)
    wrong: list[tuple[str, list[str], list[str]]]  # (id, target, predicted) of wrong answers

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n_examples if self.n_examples else 0.0


def _no_answer(items: list[str]) -> bool:
    return not any(x.strip() for x in items)


def evaluate(targets: dict[str, list[str]], predictions: dict[str, list[str]]) -> EvalResult:
    """Accuracy of `predictions` over all examples in `targets` (missing predictions are wrong). A
    target with no answer (an unanswerable question) is matched only by no answer."""
    correct, missing = 0, 0
    wrong: list[tuple[str, list[str], list[str]]] = []
    for ex_id, target in targets.items():
        pred = predictions.get(ex_id)
        if pred is None:
            missing += 1
            wrong.append((ex_id, target, []))
        elif _no_answer(target) or _no_answer(pred):
            if _no_answer(target) and _no_answer(pred):
                correct += 1
            else:
                wrong.append((ex_id, target, pred))
        elif is_correct(target, pred):
            correct += 1
        else:
            wrong.append((ex_id, target, pred))
    unknown = sum(1 for k in predictions if k not in targets)
    return EvalResult(len(targets), correct, missing, unknown, wrong)
