"""(Table, Question[, answer]) -> model inputs: one `Features` per example, `collate` -> padded `Batch`.

Features are numpy and cheap to build (a WTQ table is ~20 x 6); the row tensors (values, text groups,
cell matches) are only needed for soft execution in training, so `with_rows=False` skips them for
decoding, where the exact executor runs the program instead.

Column features (COL_FEATURES) and constant features (CONST_FEATURES) are small hand-made signals the
pointers use next to the encoder's vectors: they carry the table's evidence (which column holds a cell
the question mentions) that a text encoder of the question alone cannot see.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from nqa.cue_words import CUE_CLASSES, cue_matrix
from nqa.encoder import Encoded, tokenize_names, tokenize_questions
from nqa.ops import SoftTable
from nqa.question import Question, column_match, column_name_spans, match_matrix
from nqa.table import Table, normalize_text, parse_number

COL_FEATURES = ("name_in_question", "has_match", "has_text_match", "has_number_match",
                "kind_number", "kind_date", "kind_text", "share_valued", "is_flag")
CONST_FEATURES = ("is_number", "is_text", "log_number", "share_columns_matched", "matches_a_cell", "position",
                  "is_year", "is_month")


_PURE_NUMBER = re.compile(r"^[-+−]?[$€£]?(\d[\d,]*(\.\d+)?|\.\d+)%?$")


class FeatureError(ValueError):
    """Inputs that cannot be turned into model features."""


@dataclass
class Features:
    """One example. R rows, C columns, K constants, W question words."""

    words: list[str]
    column_names: list[str]
    n_rows: int
    values: np.ndarray  # (R, C) float64, NaN = no value (Column.values)
    nonempty: np.ndarray  # (R, C) bool
    groups: np.ndarray  # (R, C) int64: first row of the column with the same normalised text
    match: np.ndarray  # (K, R, C) bool
    col_feats: np.ndarray  # (C, len(COL_FEATURES)) float32
    const_feats: np.ndarray  # (K, len(CONST_FEATURES)) float32
    const_number: np.ndarray  # (K,) float64, NaN for text constants
    const_is_text: np.ndarray  # (K,) bool
    const_span: np.ndarray  # (K, 2) int64 word span [start, end)
    const_col: np.ndarray  # (K, C) float32: constant matches a cell of the column
    answer_number: float = math.nan  # the answer as a number, NaN when it is not one
    # (R, C) int64: which answer item a cell holds (-1: none); None: not a lookup
    answer_items: np.ndarray | None = None
    encoded: dict[str, torch.Tensor] | None = None  # cached frozen encoder outputs (Encoded.slice)
    meta: dict = field(default_factory=dict)
    col_mention: np.ndarray | None = None  # (C, W) float32: the question words that spell the column's name
    flags: np.ndarray | None = None  # (R, C) int8 Column.flags (None: no rows)
    years: np.ndarray | None = None  # (R, C) float64 Column.years, NaN = none (None: no rows)
    col_is_date: np.ndarray | None = None  # (C,) bool
    const_is_year: np.ndarray | None = None  # (K,) bool
    word_cues: np.ndarray | None = None  # (W, len(CUE_CLASSES)) float32 nqa.cue_words.cue_matrix


def answer_targets(table: Table, answer: list[str]) -> tuple[float, np.ndarray | None]:
    """(number or NaN, items (R, C) or None) for a weak-supervision answer.

    number: the answer when it is one item that reads as a plain number. items: for each cell, the
    index of the answer item its normalised text equals (−1: none); None unless every item is found
    in the table (then print cannot give the answer).
    """
    number = math.nan
    if len(answer) == 1 and _PURE_NUMBER.match(answer[0].strip()):
        parsed = parse_number(answer[0].strip())
        number = float(parsed) if parsed is not None else math.nan
    norms = [normalize_text(a) for a in answer]
    index = {n: i for i, n in reversed(list(enumerate(norms))) if n}
    if not index or len(index) < len(norms):
        return number, None
    items = np.full((table.n_rows, table.n_cols), -1, dtype=np.int64)
    for j, col in enumerate(table.columns):
        items[:, j] = [index.get(t, -1) for t in col.text]
    if len(set(items[items >= 0].tolist())) < len(index):
        return number, None
    return number, items


def build_features(table: Table, question: Question, answer: list[str] | None = None,
                   with_rows: bool = True, match: np.ndarray | None = None) -> Features:
    """Everything the model reads about one (table, question) pair."""
    if table.n_cols == 0:
        raise FeatureError(f"{table.source}: the table has no columns")
    R, C, K = table.n_rows, table.n_cols, len(question.constants)
    if match is None:
        match = match_matrix(question, table)  # (K, R, C)
    consts = question.constants
    is_text = np.array([c.kind == "text" for c in consts], dtype=bool)
    # a month constant only matches (filter_eq); it is no number to compare with
    number = np.array([c.number if c.number is not None and c.kind == "number" else math.nan for c in consts],
                      dtype=np.float64)
    is_year = np.array([c.is_year for c in consts], dtype=bool)
    const_col = np.asarray(match.any(axis=1), np.float32) if K else np.zeros((0, C), np.float32)  # (K, C)

    values = np.stack([c.values for c in table.columns], axis=1) if R and with_rows else np.zeros((0, C))
    col_feats = np.zeros((C, len(COL_FEATURES)), dtype=np.float32)
    col_feats[:, 0] = column_match(question, table, word_forms=True)
    if K:
        col_feats[:, 1] = const_col.max(axis=0)
        col_feats[:, 2] = (const_col * is_text[:, None]).max(axis=0)
        col_feats[:, 3] = (const_col * ~is_text[:, None]).max(axis=0)
    for j, col in enumerate(table.columns):
        col_feats[j, 4 + ("number", "date", "text").index(col.kind if col.kind in ("number", "date") else "text")] = 1
    if R:
        col_feats[:, 7] = [col.valued_share for col in table.columns]  # weighted on an engine's profile
        col_feats[:, 8] = [float(col.is_flag) for col in table.columns]

    const_feats = np.zeros((K, len(CONST_FEATURES)), dtype=np.float32)
    n_words = max(1, len(question.tokens))
    for k, c in enumerate(consts):
        const_feats[k, 0] = float(c.kind == "number")
        const_feats[k, 1] = float(c.kind == "text")
        if c.number is not None:
            const_feats[k, 2] = math.copysign(math.log1p(abs(c.number)), c.number) / 10
        const_feats[k, 3] = const_col[k].mean()
        const_feats[k, 4] = float(const_col[k].any())
        const_feats[k, 5] = c.span[0] / n_words
        const_feats[k, 6] = float(c.is_year)
        const_feats[k, 7] = float(c.kind == "month")
    span = np.array([c.span for c in consts], dtype=np.int64).reshape(K, 2)

    if with_rows:
        nonempty = np.stack([np.array([bool(t) for t in col.text], dtype=bool) for col in table.columns], axis=1) \
            if R else np.zeros((0, C), bool)
        groups = np.zeros((R, C), dtype=np.int64)
        for j, col in enumerate(table.columns):
            first: dict[str, int] = {}
            groups[:, j] = [first.setdefault(t, i) for i, t in enumerate(col.text)]
        flags = np.stack([col.flags for col in table.columns], axis=1) if R else np.zeros((0, C), np.int8)
        years = np.stack([col.years for col in table.columns], axis=1) if R else np.zeros((0, C))
    else:
        flags, years = np.zeros((0, C), np.int8), np.zeros((0, C))
        values = np.zeros((0, C))
        nonempty = np.zeros((0, C), bool)
        groups = np.zeros((0, C), np.int64)
        match = np.zeros((K, 0, C), bool)
    return Features(list(question.tokens), table.column_names, R if with_rows else 0, values, nonempty, groups,
                    match, col_feats, const_feats, number, is_text, span, const_col,
                    col_mention=column_mentions(question, table), flags=flags, years=years,
                    col_is_date=np.array([col.kind == "date" for col in table.columns], dtype=bool),
                    const_is_year=is_year, word_cues=cue_matrix(list(question.tokens)))


def column_mentions(question: Question, table: Table) -> np.ndarray:
    """(C, W) float32: 1 on the question words that spell a column's whole (normalised) name, at every
    place it occurs. Read only with ProgrammerConfig.col_mentions: the mention's contextual word
    vectors tell the column pointer where in the question the column is named (next to which number)."""
    out = np.zeros((table.n_cols, len(question.tokens)), dtype=np.float32)
    for start, end, j in column_name_spans(question, table):
        out[j, start:end] = 1.0
    return out


def with_answer(f: Features, table: Table, answer: list[str]) -> Features:
    """Attach weak-supervision targets (in place; returns f)."""
    f.answer_number, f.answer_items = answer_targets(table, answer)
    return f


@dataclass
class Batch:
    """A padded batch. B examples, R rows, C columns, K constants, W words (each padded to >= 1)."""

    table: SoftTable
    col_mask: torch.Tensor  # (B, C) bool
    col_feats: torch.Tensor  # (B, C, Fc)
    const_mask: torch.Tensor  # (B, K) bool
    const_feats: torch.Tensor  # (B, K, Fk)
    const_span: torch.Tensor  # (B, K, 2) long
    const_col: torch.Tensor  # (B, K, C) float
    word_mask: torch.Tensor  # (B, W) bool
    question_tokens: dict[str, torch.Tensor] | None  # tokenize_questions output (None when cached)
    name_tokens: dict[str, torch.Tensor] | None  # tokenize_names over the real columns, example by example
    encoded: Encoded | None  # cached encoder outputs, when every example had them
    answer_number: torch.Tensor  # (B,) float32, 0 where there is none
    has_number: torch.Tensor  # (B,) bool
    answer_items: torch.Tensor  # (B, R, C) long: answer item held by each cell, -1 none
    has_cells: torch.Tensor  # (B,) bool: every answer item is in the table
    col_mention: torch.Tensor | None = None  # (B, C, W) float: Features.col_mention
    word_cues: torch.Tensor | None = None  # (B, W, len(CUE_CLASSES)) float: Features.word_cues

    @property
    def size(self) -> int:
        return self.col_mask.shape[0]

    def to(self, device) -> Batch:
        def mv(x):
            if isinstance(x, torch.Tensor):
                return x.to(device)
            if isinstance(x, dict):
                return {k: v.to(device) for k, v in x.items()}
            return x
        enc = self.encoded
        if enc is not None:
            enc = Encoded(*(mv(getattr(enc, n)) for n in ("word_states", "word_mask", "pooled", "col_states",
                                                          "col_mask")))
        return Batch(**{k: (mv(v) if k not in ("table", "encoded") else v) for k, v in self.__dict__.items()
                        if k not in ("table", "encoded")}, table=self.table.to(device), encoded=enc)


def _pad(arrays: list[np.ndarray], shape: tuple[int, ...], dtype, fill=0) -> np.ndarray:
    out = np.full((len(arrays),) + shape, fill, dtype=dtype)
    for b, a in enumerate(arrays):
        out[(b,) + tuple(slice(0, n) for n in a.shape)] = a
    return out


def collate(feats: list[Features], max_question_pieces: int = 64) -> Batch:
    """Pad a list of Features into a Batch (tokenising the text unless all examples carry `encoded`)."""
    if not feats:
        raise FeatureError("collate needs at least one example")
    R = max(1, max(f.n_rows for f in feats))
    C = max(len(f.column_names) for f in feats)
    K = max(1, max(len(f.const_number) for f in feats))
    W = max(1, max(len(f.words) for f in feats))
    row_mask = torch.from_numpy(_pad([np.ones(f.n_rows, bool) for f in feats], (R,), bool))
    values = _pad([f.values for f in feats], (R, C), np.float64, np.nan)
    valid = ~np.isnan(values)
    numbers = _pad([f.const_number for f in feats], (K,), np.float64, np.nan)
    const_mask = _pad([np.ones(len(f.const_number), bool) for f in feats], (K,), bool)
    is_text = _pad([f.const_is_text for f in feats], (K,), bool)
    flags = _pad([f.flags if f.flags is not None else np.full((f.n_rows, len(f.column_names)), -1, np.int8)
                  for f in feats], (R, C), np.int8, -1)
    years = _pad([f.years if f.years is not None else np.full((f.n_rows, len(f.column_names)), np.nan)
                  for f in feats], (R, C), np.float64, np.nan)
    table = SoftTable(
        values=torch.from_numpy(np.nan_to_num(values, nan=0.0)),
        valid=torch.from_numpy(valid),
        nonempty=torch.from_numpy(_pad([f.nonempty for f in feats], (R, C), bool)),
        groups=torch.from_numpy(_pad([f.groups for f in feats], (R, C), np.int64)),
        row_mask=row_mask,
        match=torch.from_numpy(_pad([f.match for f in feats], (K, R, C), np.float32)),
        const_number=torch.from_numpy(np.nan_to_num(numbers, nan=0.0)),
        const_is_number=torch.from_numpy(const_mask & ~np.isnan(numbers)),
        const_is_text=torch.from_numpy(const_mask & is_text),
        truthy=torch.from_numpy(flags == 1),
        falsy=torch.from_numpy(flags == 0),
        years=torch.from_numpy(np.nan_to_num(years, nan=0.0)),
        year_valid=torch.from_numpy(~np.isnan(years)),
        col_is_date=torch.from_numpy(_pad([_or_empty(f.col_is_date, len(f.column_names)) for f in feats], (C,), bool)),
        const_is_year=torch.from_numpy(const_mask & _pad([_or_empty(f.const_is_year, len(f.const_number))
                                                          for f in feats], (K,), bool)),
    )
    col_mask = torch.from_numpy(_pad([np.ones(len(f.column_names), bool) for f in feats], (C,), bool))
    answer_number = np.array([f.answer_number for f in feats], dtype=np.float64)
    items = [f.answer_items if f.answer_items is not None else np.full((f.n_rows, len(f.column_names)), -1)
             for f in feats]
    cached = all(f.encoded is not None for f in feats)
    encoded = _collate_encoded(feats, W, C) if cached else None
    return Batch(
        table=table,
        col_mask=col_mask,
        col_feats=torch.from_numpy(_pad([f.col_feats for f in feats], (C, len(COL_FEATURES)), np.float32)),
        const_mask=torch.from_numpy(const_mask),
        const_feats=torch.from_numpy(_pad([f.const_feats for f in feats], (K, len(CONST_FEATURES)), np.float32)),
        const_span=torch.from_numpy(_pad([f.const_span for f in feats], (K, 2), np.int64)),
        const_col=torch.from_numpy(_pad([f.const_col for f in feats], (K, C), np.float32)),
        word_mask=torch.from_numpy(_pad([np.ones(len(f.words), bool) for f in feats], (W,), bool)),
        question_tokens=None if cached else tokenize_questions([f.words for f in feats], max_question_pieces),
        name_tokens=None if cached else tokenize_names([n for f in feats for n in f.column_names]),
        encoded=encoded,
        answer_number=torch.from_numpy(np.nan_to_num(answer_number, nan=0.0)).float(),
        has_number=torch.from_numpy(~np.isnan(answer_number)),
        answer_items=torch.from_numpy(_pad(items, (R, C), np.int64, -1)),
        has_cells=torch.tensor([f.answer_items is not None for f in feats]),
        col_mention=torch.from_numpy(_pad([f.col_mention if f.col_mention is not None else
                                           np.zeros((len(f.column_names), len(f.words)), np.float32)
                                           for f in feats], (C, W), np.float32)),
        word_cues=torch.from_numpy(_pad([f.word_cues if f.word_cues is not None else cue_matrix(f.words)
                                         for f in feats], (W, len(CUE_CLASSES)), np.float32)),
    )


def _or_empty(a: np.ndarray | None, n: int) -> np.ndarray:
    """Features saved before a field existed carry None: all False."""
    return a if a is not None else np.zeros(n, bool)


def _collate_encoded(feats: list[Features], W: int, C: int) -> Encoded:
    """The cached encoder outputs of `feats` (every one has them) as a batch."""
    encoded: list[dict[str, torch.Tensor]] = []
    for f in feats:
        assert f.encoded is not None
        encoded.append(f.encoded)
    H = encoded[0]["pooled"].shape[-1]
    B = len(feats)
    words = torch.zeros(B, W, H)
    cols = torch.zeros(B, C, H)
    for b, e in enumerate(encoded):
        words[b, :e["word_states"].shape[0]] = e["word_states"].float()
        cols[b, :e["col_states"].shape[0]] = e["col_states"].float()
    word_mask = torch.from_numpy(_pad([np.ones(len(f.words), bool) for f in feats], (W,), bool))
    col_mask = torch.from_numpy(_pad([np.ones(len(f.column_names), bool) for f in feats], (C,), bool))
    pooled = torch.stack([e["pooled"].float() for e in encoded])
    return Encoded(words, word_mask, pooled, cols, col_mask)
