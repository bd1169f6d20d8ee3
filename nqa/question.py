"""Questions: tokens, the constants a program may use, and their match against a table.

Minimal first version; hardened in issue 2 (interface stable).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from nqa.table import Table, contains_tokens, normalize_text, parse_date, parse_number

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|\w+|[^\w\s]", re.UNICODE)

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100, "thousand": 1000,
}
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10,
}


@dataclass(frozen=True)
class Constant:
    """A value from the question a program can point at.

    kind: "number" (numbers, number words, ordinals, years; compared numerically) or "text" (a span
    that matches cells; compared by `contains_tokens` on normalised text).
    """

    kind: str
    surface: str  # the question span as written
    norm: str  # normalised text (normalize_text of surface, or of the number's canonical form)
    number: float | None  # the numeric value for comparisons (None for text)
    span: tuple[int, int]  # token start, end (exclusive)


@dataclass
class Question:
    text: str
    tokens: list[str]
    constants: list[Constant] = field(default_factory=list)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def parse_question(text: str, table: Table | None = None, max_constants: int = 12) -> Question:
    """Tokenise and extract constants; text constants need a table to match against."""
    tokens = tokenize(text)
    consts: list[Constant] = []
    for i, tok in enumerate(tokens):
        low = tok.lower()
        num = parse_number(tok) if tok[:1].isdigit() else None
        if num is None:
            num = NUMBER_WORDS.get(low, ORDINAL_WORDS.get(low))
        if num is not None:
            consts.append(Constant("number", tok, normalize_text(tok), float(num), (i, i + 1)))
    if table is not None:
        consts.extend(_text_constants(tokens, table))
    return Question(text, tokens, consts[:max_constants])


def _text_constants(tokens: list[str], table: Table, max_len: int = 6) -> list[Constant]:
    cell_texts = {t for c in table.columns for t in c.text if t}
    out: list[Constant] = []
    covered: set[int] = set()
    n = len(tokens)
    for length in range(min(max_len, n), 0, -1):
        for i in range(0, n - length + 1):
            if covered & set(range(i, i + length)):
                continue
            norm = normalize_text(" ".join(tokens[i:i + length]))
            if not norm or norm in _STOP:
                continue
            if norm in cell_texts:
                out.append(Constant("text", " ".join(tokens[i:i + length]), norm, None, (i, i + length)))
                covered |= set(range(i, i + length))
    return out


_STOP = {"the", "a", "an", "of", "in", "on", "what", "which", "who", "how", "many", "is", "was", "and", "or",
         "to", "for", "at", "by", "did", "does", "name", "is", "are", "were", "that", "than", "with"}


def match_matrix(question: Question, table: Table) -> np.ndarray:
    """(constants, rows, cols) bool: cell i,j matches constant k (the filter_eq predicate)."""
    out = np.zeros((len(question.constants), table.n_rows, table.n_cols), dtype=bool)
    for k, const in enumerate(question.constants):
        for j, col in enumerate(table.columns):
            if const.kind == "number":
                out[k, :, j] = col.numbers == const.number
            else:
                out[k, :, j] = [contains_tokens(t, const.norm) for t in col.text]
    return out


def column_match(question: Question, table: Table) -> np.ndarray:
    """(cols,) float: share of a column name's tokens that appear in the question."""
    q = set(normalize_text(question.text).split())
    out = np.zeros(table.n_cols, dtype=np.float32)
    for j, col in enumerate(table.columns):
        toks = normalize_text(col.name).split()
        if toks:
            out[j] = sum(t in q for t in toks) / len(toks)
    return out
