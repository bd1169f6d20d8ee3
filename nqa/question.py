"""Questions: tokens, the constants a program may use, and their match against a table.

Constants are what filter ops compare cells with (docs/ops.md): numbers (digits, number words,
ordinals, dates as their ordinal) and text spans of the question that occur in the table. A text
span qualifies when, normalised, it equals a cell, is a contiguous token run inside a cell
(`contains_tokens`, the same predicate filter_eq uses), or equals a column name. Matching runs
against a per-table index of distinct cell texts, so a 100k-row table costs a few substring searches
per candidate span, not a Python loop over its cells.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

import numpy as np

from nqa.table import _MONTHS, Table, contains_tokens, factorize, normalize_text, parse_date, parse_number

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|\w+|[^\w\s]", re.UNICODE)

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000, "dozen": 12,
    "once": 1, "twice": 2, "thrice": 3, "single": 1, "double": 2, "triple": 3,
}
_TENS = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
_MULTIPLIERS = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20,
}

# Words that never make a text constant on their own, nor start or end one (unless the whole span
# is exactly a cell, as in 'The Who').
STOP_WORDS = frozenset("""
a an the of in on at by for to from with without into onto over under about after before than then
and or but nor not no yes if so as is was are were be been being am do does did done has have had
what which who whom whose when where why how many much more most less least fewer fewest
this that these those there here it its they them their he him his she her we us our you your i me my
any all each every both either neither other another some same such only just also very
can could will would shall should may might must
name names list tell give show number amount total times time
s t one ones
""".split())


def stem(word: str) -> str:
    """A plural's singular, roughly ('orders' -> 'order', 'companies' -> 'company'): enough to tell
    that a question word names a column or a kind of row."""
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


# Rank of each constant source when max_constants cuts the list (lower is kept first).
_SOURCE_RANK = {"number": 0, "date": 0, "month": 0, "cell": 1, "cell_part": 2, "ordinal": 3, "word": 4, "column": 5}


@dataclass(frozen=True)
class Constant:
    """A value from the question a program can point at.

    kind: "number" (numbers, number words, ordinals, years, dates; compared numerically), "text" (a
    span that matches cells; compared by `contains_tokens` on normalised text) or "month" (a month
    named alone, 'in march': matches date cells of that month, in any year; number = the month).
    source: where it came from: "number" (digits), "date" (number = the date's ordinal), "ordinal",
    "word" (number words), "cell" (equals a cell), "cell_part" (a token run inside a cell), "column"
    (equals a column name), "month".
    """

    kind: str
    surface: str  # the question span as written
    norm: str  # normalised text (normalize_text of surface, or of the number's canonical form)
    number: float | None  # the numeric value for comparisons (None for text)
    span: tuple[int, int]  # token start, end (exclusive)
    source: str = ""

    @property
    def is_year(self) -> bool:
        """Four digits read as a year: against a date column it compares with the cell's year."""
        return (self.kind == "number" and self.source == "number" and self.number is not None
                and float(self.number).is_integer() and 1000 <= self.number <= 2999
                and self.surface.strip().isdigit() and len(self.surface.strip()) == 4)


@dataclass
class Question:
    text: str
    tokens: list[str]
    constants: list[Constant] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list, repr=False)  # char span of each token


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _tokens_with_offsets(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    ms = list(_TOKEN.finditer(text))
    return [m.group() for m in ms], [m.span() for m in ms]


def parse_question(text: str, table: Table | None = None, max_constants: int = 12,
                   max_span: int = 8) -> Question:
    """Tokenise and extract constants (text constants need a table to match against).

    When more than `max_constants` are found, the most useful are kept (numbers and dates written
    in digits, then spans equal to a cell, spans inside a cell (longer first), ordinal words,
    number words, column names); the kept ones are returned in question order.

    >>> from nqa.table import table_from_rows
    >>> t = table_from_rows(["Team", "Wins"], [["Boston Red Sox", "93"], ["New York Yankees", "87"]])
    >>> [(c.kind, c.norm, c.number) for c in parse_question("Did the Red Sox win over 90 games?", t).constants]
    [('text', 'red sox', None), ('number', '90', 90.0)]
    """
    if not isinstance(text, str):
        raise TypeError(f"a question is a str, not {type(text).__name__}")
    tokens, offsets = _tokens_with_offsets(text)
    consts = _number_constants(text, tokens, offsets)
    if table is not None:
        consts.extend(_text_constants(text, tokens, offsets, table, max_span))
    seen: set[tuple] = set()
    unique = []
    for c in sorted(consts, key=lambda c: (_SOURCE_RANK[c.source], -(c.span[1] - c.span[0]), c.span[0])):
        key = (c.kind, c.norm, c.number)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    kept = sorted(unique[:max_constants], key=lambda c: (c.span[0], -(c.span[1] - c.span[0])))
    return Question(text, tokens, kept, offsets)


def _surface(text: str, offsets: list[tuple[int, int]], i: int, j: int) -> str:
    return text[offsets[i][0]:offsets[j - 1][1]]


def _number_constants(text: str, tokens: list[str], offsets: list[tuple[int, int]]) -> list[Constant]:
    out: list[Constant] = []
    n = len(tokens)
    # Dates written out ('january 26, 1995', '26 jan 1995', 'march 1995'): their ordinal, so that
    # comparisons with date columns work; the year inside still gives a plain number constant too.
    i = 0
    while i < n:
        found = None
        for length in (5, 4, 3, 2):
            if i + length > n:
                continue
            surface = _surface(text, offsets, i, i + length)
            d = parse_date(surface)
            if d is not None and d.month is not None and any(ch.isdigit() for ch in surface):
                found = (length, surface, d)
                break
        if found:
            length, surface, d = found
            out.append(Constant("number", surface, normalize_text(surface), d.ordinal(), (i, i + length), "date"))
            i += length
        else:
            month = _month_alone(tokens, i)
            if month:
                out.append(Constant("month", tokens[i], tokens[i].lower(), float(month), (i, i + 1), "month"))
            i += 1
    i = 0
    while i < n:
        tok, low = tokens[i], tokens[i].lower()
        value, end, source = None, i + 1, "number"
        if tok[:1].isdigit():
            value = parse_number(tok)
            if value is not None and end < n and tokens[end] == "%":
                end += 1
        elif low in ORDINAL_WORDS:
            value, source = float(ORDINAL_WORDS[low]), "ordinal"
        elif low in NUMBER_WORDS:
            value, source = float(NUMBER_WORDS[low]), "word"
            # 'twenty-one' / 'twenty one'
            if low in _TENS:
                k = end + (1 if end < n and tokens[end] == "-" else 0)
                if k < n and tokens[k].lower() in NUMBER_WORDS and NUMBER_WORDS[tokens[k].lower()] < 10:
                    value, end = value + NUMBER_WORDS[tokens[k].lower()], k + 1
        start = i
        if value is not None and source == "number" and tok.isdigit() and _point_before(tokens, offsets, i):
            value, start = float("0." + tok), i - 1  # '.500', '.42%': a decimal written without its 0
        if value is not None and source == "number" and _minus_sign_before(tokens, offsets, i):
            value, start = -value, i - 1  # 'nps -17 or more'; not the dash of '1990-1995' or '18 - 25'
        if value is not None:
            # '3 million', 'two hundred'
            if end < n and tokens[end].lower() in _MULTIPLIERS and abs(value) < 1000:
                value, end = value * _MULTIPLIERS[tokens[end].lower()], end + 1
            surface = _surface(text, offsets, start, end)
            norm = normalize_text(surface) if source == "number" else _number_norm(value)
            out.append(Constant("number", surface, norm, float(value), (start, end), source))
        i = end
    return out


def _point_before(tokens: list[str], offsets: list[tuple[int, int]], i: int) -> bool:
    """A '.' right before token i, itself at the start or after a space ('than .500'; not 'v1.2'
    nor the full stop of 'in 2005.5 teams')."""
    if i == 0 or tokens[i - 1] != "." or offsets[i - 1][1] != offsets[i][0]:
        return False
    return i == 1 or offsets[i - 2][1] < offsets[i - 1][0]


def _minus_sign_before(tokens: list[str], offsets: list[tuple[int, int]], i: int) -> bool:
    """A '-' right before token i, itself at the start or after a space: a negative number."""
    if i == 0 or tokens[i - 1] not in ("-", "\u2212") or offsets[i - 1][1] != offsets[i][0]:
        return False
    return i == 1 or offsets[i - 2][1] < offsets[i - 1][0]


# Month names that stand for a month only after 'in', 'of', 'during'... ('may' is also a verb).
_AMBIGUOUS_MONTHS = {"may", "mar", "jan", "jun", "oct", "dec", "sep", "aug", "apr", "nov", "feb", "jul"}
_MONTH_CUES = {"in", "of", "during", "for", "since", "until", "before", "after", "from", "through", "by",
               "every", "each", "last", "this", "next"}


def _month_alone(tokens: list[str], i: int) -> int | None:
    """The month a token names on its own ('in march'; full names, or short ones after a cue word)."""
    low = tokens[i].lower()
    month = _MONTHS.get(low)
    if month is None:
        return None
    if low in _AMBIGUOUS_MONTHS and (i == 0 or tokens[i - 1].lower() not in _MONTH_CUES):
        return None
    return month


def _number_norm(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# ---------------------------------------------------------------------------------------------
# matching against a table


@dataclass
class _ColumnIndex:
    """The distinct normalised texts of one column, laid out for fast token-run search."""

    codes: np.ndarray  # (rows,) index of each row's text in `uniques`
    uniques: list[str]
    blob: str  # "\n".join(" u ") over uniques: a token run occurs in a cell iff " run " is in its piece
    starts: list[int]  # start offset of each piece in blob

    @classmethod
    def build(cls, texts: list[str]) -> _ColumnIndex:
        codes, uniques = factorize(texts)
        pieces = [f" {u} " for u in uniques]
        starts, pos = [], 0
        for p in pieces:
            starts.append(pos)
            pos += len(p) + 1
        return cls(np.asarray(codes, dtype=np.int64), uniques, "\n".join(pieces), starts)

    def contains(self, norm: str) -> np.ndarray:
        """(uniques,) bool: contains_tokens(u, norm) for every distinct text u."""
        hits = np.zeros(len(self.uniques), dtype=bool)
        if not norm:
            return hits
        needle = f" {norm} "
        if self.blob.count(needle) > 64:  # many hits: one pass over the pieces beats a find per hit
            return np.fromiter((needle in f" {u} " for u in self.uniques), dtype=bool, count=len(self.uniques))
        pos = self.blob.find(needle)
        while pos != -1:
            k = bisect.bisect_right(self.starts, pos) - 1
            hits[k] = True
            nxt = self.starts[k + 1] if k + 1 < len(self.starts) else len(self.blob)
            pos = self.blob.find(needle, nxt)
        return hits

    def any_contains(self, norm: str) -> bool:
        return bool(norm) and f" {norm} " in self.blob

    def equals(self, norm: str) -> np.ndarray:
        """(uniques,) bool: the distinct text equals norm (at most one True)."""
        hits = np.zeros(len(self.uniques), dtype=bool)
        if norm:
            k = self.position.get(norm)
            if k is not None:
                hits[k] = True
        return hits

    @property
    def position(self) -> dict[str, int]:
        pos = self.__dict__.get("_position")
        if pos is None:
            pos = self.__dict__["_position"] = {u: k for k, u in enumerate(self.uniques)}
        return pos


@dataclass
class _TableIndex:
    columns: list[_ColumnIndex]
    cells: frozenset[str]  # every distinct non-empty normalised cell text
    column_names: frozenset[str]
    blob: str  # every column's blob, newline-separated: one search answers "in any cell?"

    def any_cell_contains(self, norm: str) -> bool:
        return bool(norm) and f" {norm} " in self.blob


def table_index(table: Table) -> _TableIndex:
    """The table's text index, built once and kept on the table."""
    idx = table._cache.get("question_index")
    if idx is None:
        cols = [_ColumnIndex.build(c.text) for c in table.columns]
        cells = frozenset().union(*(c.uniques for c in cols)) - {""}
        names = frozenset(n for n in (normalize_text(c.name) for c in table.columns) if n)
        blob = "\n".join(c.blob for c in cols)  # repeats across columns do not change "in any cell?"
        idx = table._cache["question_index"] = _TableIndex(cols, cells, names, blob)
    return idx


def _text_constants(text: str, tokens: list[str], offsets: list[tuple[int, int]], table: Table,
                    max_span: int) -> list[Constant]:
    """Maximal question spans that equal a cell, occur inside a cell, or equal a column name."""
    idx = table_index(table)
    n = len(tokens)
    words = [bool(re.match(r"\w", t)) for t in tokens]
    lows = [t.lower() for t in tokens]
    found: list[tuple[int, int, int, str, str]] = []  # (quality, i, j, norm, surface); quality 3 > 2 > 1
    for i in range(n):
        if not words[i]:
            continue
        for j in range(i + 1, min(n, i + max_span) + 1):
            if not words[j - 1]:
                continue
            surface = _surface(text, offsets, i, j)
            norm = normalize_text(surface)
            in_cells = idx.any_cell_contains(norm)
            if not in_cells and norm not in idx.column_names:
                # No cell holds this run, so none holds a longer one; a column name may still be
                # longer, so stop only when none starts with it either.
                if not any(name.startswith(norm) for name in idx.column_names):
                    break
            span_words = [lows[k] for k in range(i, j) if words[k]]
            if all(tokens[k][:1].isdigit() or not words[k] for k in range(i, j)):
                continue  # all digits: the number constant covers it
            only_stop = all(w in STOP_WORDS for w in span_words)
            if norm in idx.cells and (not only_stop or len(span_words) > 1):  # 'The Who' but not 'the'
                found.append((3, i, j, norm, surface))
                continue
            if only_stop:
                continue
            if lows[i] in STOP_WORDS or lows[j - 1] in STOP_WORDS:
                continue
            if in_cells:
                found.append((2, i, j, norm, surface))
            elif norm in idx.column_names:
                found.append((1, i, j, norm, surface))
    # Keep maximal spans: drop a span lying inside another found span of at least its quality.
    kept = []
    for q, i, j, norm, surface in found:
        inside = any(q2 >= q and i2 <= i and j <= j2 and (i2, j2) != (i, j) for q2, i2, j2, _, _ in found)
        if not inside:
            source = {3: "cell", 2: "cell_part", 1: "column"}[q]
            kept.append(Constant("text", surface, norm, None, (i, j), source))
    return kept


def match_matrix(question: Question, table: Table) -> np.ndarray:
    """(constants, rows, cols) bool: cell i,j matches constant k (the filter_eq predicate).

    number constant: `col.numbers == const.number`; text constant: `contains_tokens(col.text[i],
    const.norm)`, computed once per distinct cell text.
    """
    out = np.zeros((len(question.constants), table.n_rows, table.n_cols), dtype=bool)
    if not question.constants or not table.n_rows:
        return out
    idx = table_index(table)
    for k, const in enumerate(question.constants):
        for j, col in enumerate(table.columns):
            if const.kind == "month":
                out[k, :, j] = col.months == const.number
            elif const.kind == "number":
                if const.number is not None:
                    if const.is_year and col.kind == "date":
                        out[k, :, j] = col.years == const.number
                    else:
                        out[k, :, j] = col.numbers == const.number
            else:
                ci = idx.columns[j]
                hits = ci.contains(const.norm)
                exact = ci.equals(const.norm)
                # The exact cell wins: 'model x' picks Model X, not Model X Custom too, when a cell
                # of the column is exactly it; otherwise every cell containing it matches.
                out[k, :, j] = (exact if exact.any() else hits)[ci.codes]
    return out


def column_name_spans(question: Question, table: Table) -> list[tuple[int, int, int]]:
    """(start, end, column) for every place the question's tokens spell a column's whole normalised
    name: where in the question a column is named (for features and for lexical evidence in search)."""
    toks = [normalize_text(t) for t in question.tokens]
    spans: list[tuple[int, int, int]] = []
    for j, name in enumerate(table.column_names):
        name_toks = normalize_text(name).split()
        n = len(name_toks)
        spans.extend((i, i + n, j) for i in range(len(toks) - n + 1) if n and toks[i:i + n] == name_toks)
    return spans


def column_match(question: Question, table: Table, word_forms: bool = False) -> np.ndarray:
    """(cols,) float: share of a column name's tokens that appear in the question. word_forms: a
    token also counts when the question has another form of it (`same_word`: "draws" for "Drawn",
    "enrolment" for "enrolled"), as the model's feature reads it; the program search keeps exact
    tokens."""
    q = set(normalize_text(question.text).split())
    stems = {_stem(w) for w in q if w not in _NOT_A_FORM} if word_forms else set()
    out = np.zeros(table.n_cols, dtype=np.float32)
    for j, col in enumerate(table.columns):
        toks = normalize_text(col.name).split()
        if toks:
            out[j] = sum(t in q or (word_forms and _form_in(_stem(t), stems)) for t in toks) / len(toks)
    return out


# question words whose stem names a column they rarely mean: "how many times" is not the Time column
_NOT_A_FORM = frozenset({"times"})
_SUFFIXES = ("ments", "ment", "ings", "ing", "ies", "ed", "es", "s")


def _stem(word: str) -> str:
    """A light stem for telling word forms apart: one common suffix off ("ies" -> "y"), keeping at
    least three letters. Deliberately not a full stemmer (none is a dependency, and Porter's
    "drawn"/"draws" and "count"/"country" are the wrong way round for column names)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _form_in(stem: str, stems: set[str]) -> bool:
    """`stem` equals one of `stems`, or one is the other plus one letter ("draw"/"drawn",
    "enrol"/"enroll"); stems under three letters only match exactly."""
    if stem in stems:
        return True
    if len(stem) < 3:
        return False
    return any(len(s) >= 3 and abs(len(s) - len(stem)) == 1 and (s.startswith(stem) or stem.startswith(s))
               for s in stems)


def same_word(a: str, b: str) -> bool:
    """Two normalised words are forms of one word, as column_match(word_forms=True) reads them."""
    return a == b or (b not in _NOT_A_FORM and _form_in(_stem(a), {_stem(b)}))


COLUMN_FEATURES = ("name_token_share", "name_in_question", "cell_matches_text", "cell_matches_number")


def column_features(question: Question, table: Table, matches: np.ndarray | None = None) -> np.ndarray:
    """(cols, 4) float32 features per column, named by COLUMN_FEATURES: the share of the column
    name's tokens found in the question, whether the whole name occurs in it, and whether any cell
    matches a text constant / a number constant. `matches` reuses a computed match_matrix."""
    m = match_matrix(question, table) if matches is None else matches
    out = np.zeros((table.n_cols, len(COLUMN_FEATURES)), dtype=np.float32)
    out[:, 0] = column_match(question, table)
    qnorm = normalize_text(question.text)
    kinds = np.array([c.kind == "text" for c in question.constants], dtype=bool)
    for j, col in enumerate(table.columns):
        out[j, 1] = float(contains_tokens(qnorm, normalize_text(col.name)))
        if len(kinds):
            out[j, 2] = float(m[kinds, :, j].any()) if kinds.any() else 0.0
            out[j, 3] = float(m[~kinds, :, j].any()) if (~kinds).any() else 0.0
    return out
