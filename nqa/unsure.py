"""When an answer should say "I don't know", and what its confidence means.

Two reasons to be unsure, both shown to the user instead of a bold answer (the best guess stays
available):

1. **A value the question names is in no cell.** "what is the price of the chainsaw?" on a table
   without a chainsaw has no answer; any program the model picks answers another question. A word
   counts as such a value when it is in no cell, in no column name, in no question constant, and is
   not a word questions are made of (nqa/data/question_words.txt: words of WikiTableQuestions'
   training questions and of the user benchmark's training phrasings; training/question_words.py).
   Plural words are let through: they name what the rows are ("how many orders..."), which tables
   rarely spell out.
2. **Low confidence.** The model's probability of its answer is calibrated on dev (isotonic
   regression of correctness on the beam's summed program probability: training/calibrate.py,
   docs/calibration.md); an answer below the threshold chosen there is more likely wrong than right.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from nqa.question import NUMBER_WORDS, ORDINAL_WORDS, STOP_WORDS, Question, stem, table_index
from nqa.table import _MONTHS, Table, normalize_text

WORDS_FILE = Path(__file__).resolve().parent / "data" / "question_words.txt"
# Chat spellings and contractions without their apostrophe: words of questions in any domain.
_CHAT_WORDS = frozenset("""
whats hows whos wheres whens arent isnt dont doesnt didnt wasnt werent hasnt havent cant wont
pls plz thx thanks please ok okay hey hi
""".split())


@lru_cache(maxsize=1)
def question_words() -> frozenset[str]:
    if not WORDS_FILE.exists():
        return frozenset()
    return frozenset(WORDS_FILE.read_text(encoding="utf-8").split())


def missing_values(question: Question, table: Table) -> list[str]:
    """Runs of question words that look like values no cell of the table holds, as written."""
    idx = table_index(table)
    header_words = _header_words(table)
    covered = {k for c in question.constants for k in range(*c.span)}
    known = question_words()
    unknown: list[int] = []
    for i, tok in enumerate(question.tokens):
        low = tok.lower()
        if i in covered or not low.isalpha() or len(low) < 3:
            continue
        if low in STOP_WORDS or low in known or low in _CHAT_WORDS or low in NUMBER_WORDS \
                or low in ORDINAL_WORDS or low in _MONTHS:
            continue
        if low in header_words or stem(low) in header_words:
            continue
        if idx.any_cell_contains(low) or idx.any_cell_contains(stem(low)):
            continue
        if low.endswith("s") and not low.endswith(("ss", "is", "us")):  # plural: what rows are ("orders")
            continue
        unknown.append(i)
    runs: list[list[int]] = []
    for i in unknown:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    lows = [t.lower() for t in question.tokens]
    found = [" ".join(question.tokens[k] for k in run) for run in runs if _in_value_slot(run[0], lows, header_words)]
    return list(dict.fromkeys(found))


# Words after which a question names a value: 'the price OF the chainsaw', 'total sales FOR atlantis'.
_SLOT_CUES = frozenset("of for in at by from with named called about than vs versus between and or".split())
_DETERMINERS = frozenset("the a an".split())


def _header_words(table: Table) -> frozenset[str]:
    """The words of the column names, and their stems; once per table (every `ask` reads them)."""
    words = table._cache.get("header_words")
    if words is None:
        found: set[str] = set()
        for name in table.column_names:
            for w in normalize_text(re.sub(r"[_()]", " ", name)).split():
                found |= {w, stem(w)}
        words = table._cache["header_words"] = frozenset(found)
    return words


def _in_value_slot(i: int, lows: list[str], header_words: frozenset[str]) -> bool:
    """The run starting at token i follows a cue word or a column's name (skipping 'the', 'a')."""
    j = i - 1
    while j >= 0 and lows[j] in _DETERMINERS:
        j -= 1
    return j >= 0 and (lows[j] in _SLOT_CUES or lows[j] in header_words or lows[j].rstrip("'") in header_words)


@dataclass(frozen=True)
class Calibration:
    """How an answer's confidence is computed, fitted on dev (nqa/training/calibrate.py); below
    `threshold` the answer is flagged unsure.

    With `weights`: a logistic regression on nqa.confidence.FEATURES (the beam's probability and
    facts about the program and question), standardised by `mean` and `scale`. Else, with knots: the
    piecewise-linear map through (xs, ys), an isotonic regression of "right?" on the beam's summed
    probability p (checkpoints calibrated before the features). Neither: the identity."""

    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    threshold: float = 0.0
    weights: tuple[float, ...] = ()
    bias: float = 0.0
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()

    def __call__(self, p: float) -> float:
        """The confidence from the raw probability alone (the isotonic map, or the identity)."""
        p = 0.0 if math.isnan(p) else min(max(p, 0.0), 1.0)
        if len(self.xs) < 2:
            return p
        return float(np.interp(p, self.xs, self.ys))

    def of_answer(self, raw: float, program, question: Question | None, table: Table | None,
                  values: list[str]) -> float:
        """The confidence of one answer: the logistic model on its features when fitted, else __call__."""
        if not self.weights:
            return self(raw)
        from nqa.confidence import confidence_features

        return float(self.logistic(confidence_features(raw, program, question, table, values)[None])[0])

    def logistic(self, features: np.ndarray) -> np.ndarray:
        """(n,) confidences of (n, F) feature rows under the fitted logistic model."""
        z = ((features - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -700.0, 700.0)))

    def to_config(self) -> dict:
        """The checkpoint config's "calibration" entry (from_config reads it back)."""
        out: dict = {"xs": list(self.xs), "ys": list(self.ys), "threshold": self.threshold}
        if self.weights:
            from nqa.confidence import FEATURES

            out.update(features=list(FEATURES), weights=list(self.weights), bias=self.bias, mean=list(self.mean),
                       scale=list(self.scale))
        return out

    @classmethod
    def from_config(cls, config: dict) -> Calibration:
        c = config.get("calibration") or {}
        xs, ys = tuple(float(x) for x in c.get("xs", ())), tuple(float(y) for y in c.get("ys", ()))
        if len(xs) != len(ys) or any(b < a for a, b in zip(xs, xs[1:])) or any(b < a for a, b in zip(ys, ys[1:])):
            raise ValueError("calibration knots must be two non-decreasing lists of the same length")
        weights = tuple(float(w) for w in c.get("weights", ()))
        mean = tuple(float(m) for m in c.get("mean", ()))
        scale = tuple(float(s) for s in c.get("scale", ()))
        if weights:
            from nqa.confidence import FEATURES

            if tuple(c.get("features", ())) != FEATURES:
                raise ValueError("calibration features differ from this version's nqa.confidence.FEATURES")
            if not len(weights) == len(mean) == len(scale) == len(FEATURES) or not all(s > 0 for s in scale):
                raise ValueError("calibration weights, mean and scale must have one positive scale per feature")
            if not all(math.isfinite(v) for v in weights + mean + scale + (float(c.get("bias", 0.0)),)):
                raise ValueError("calibration weights must be finite numbers")
        return cls(xs, ys, float(c.get("threshold", 0.0)), weights, float(c.get("bias", 0.0)), mean, scale)


def unsure_reason(question: Question, table: Table, confidence: float, calibration: Calibration) -> str | None:
    """Why the answer should not be shown as one, or None."""
    missing = missing_values(question, table)
    if missing:
        quoted = ", ".join(f"'{m}'" for m in missing[:3])
        return f"no cell mentions {quoted}"
    if confidence < calibration.threshold:
        return (f"low confidence ({confidence:.0%}, under the {calibration.threshold:.0%} threshold: on dev, "
                f"answers this unsure were wrong more often than right)")
    return None
