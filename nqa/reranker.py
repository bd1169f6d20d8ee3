"""Choosing the answer among the beam's: a small learned score over the answers the top-k programs give.

Why: the model's most probable program is right on 44% of WTQ dev questions, but one of its top two
on 52% and one of its top four on 60% (u16r). Which one is right shows in things the program's
probability does not weigh: whether the answer's type fits the question ("how many" and a name,
"when" and a count), whether it only repeats a value the question names, how much of the beam
agrees on it, whether the question's constants and named columns were used. A conditional logit
over each question's distinct answers, fitted on training questions whose tables the deciding model
never saw (nqa.training.fit_reranker: models trained on folds of the training tables), weighs them.

No reranker (an older checkpoint) keeps execution-guided decoding (nqa.executor.choose_run).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nqa.confidence import TERMINAL_INDICATORS
from nqa.question import column_name_spans
from nqa.table import normalize_text, parse_number

if TYPE_CHECKING:
    from nqa.executor import Execution
    from nqa.program import Program
    from nqa.question import Question
    from nqa.table import Table

# what the question asks for, from its first words (checked in this order)
QUESTION_KINDS: tuple[tuple[str, re.Pattern], ...] = (
    ("how_many", re.compile(r"\b(how many|how much|number of|count)\b")),
    ("when", re.compile(r"\b(when|what year|which year|what date|what month)\b")),
    ("who", re.compile(r"\bwho(se|m)?\b")),
    ("yes_no", re.compile(r"^(is|are|was|were|did|does|do|has|have|can)\b")),
    ("which", re.compile(r"\b(which|what)\b")),
)
KINDS = tuple(k for k, _ in QUESTION_KINDS) + ("other",)
FEATURES: tuple[str, ...] = (
    "log_prob", "log_share", "covered_log_prob", "covered_log_share", "best_rank", "first", "n_programs",
    "goes_last", "log_n_values", "numeric",
    "year_like", "echo", "unused_constants", "named_unused", "n_steps", "covered",
    *(f"term_{t}" for t in TERMINAL_INDICATORS),
    *(f"{k}_numeric" for k in KINDS), *(f"{k}_text" for k in KINDS),
)


def question_kind(text: str) -> str:
    t = normalize_text(text)
    return next((k for k, pat in QUESTION_KINDS if pat.search(t)), "other")


@dataclass
class Candidate:
    """One distinct answer of the beam: the programs that give it, best first (indices into runs)."""

    values: list[str]
    runs: list[int]
    probability: float  # summed over its programs


def candidates(programs: list[Program], runs: list[Execution | None]) -> list[Candidate]:
    """The distinct answers the runs give (`gives_answer` ones only), in order of their best program."""
    # Imported here: nqa.executor imports torch, and the API imports this module before it checks
    # the user's input (bad input fails without loading the model stack).
    from nqa.executor import gives_answer

    out: dict[tuple, Candidate] = {}
    for i, (p, ex) in enumerate(zip(programs, runs)):
        if not gives_answer(ex):
            continue
        assert ex is not None
        key = tuple(sorted(normalize_text(v) for v in ex.values))
        c = out.setdefault(key, Candidate(list(ex.values), [], 0.0))
        c.runs.append(i)
        c.probability += 0.0 if math.isnan(p.probability) else p.probability
    return list(out.values())


def candidate_features(c: Candidate, cands: list[Candidate], programs: list[Program], question: Question,
                       table: Table, kind: str | None = None) -> np.ndarray:
    """(len(FEATURES),) float64 for one candidate answer among `cands`."""
    from nqa.decode import goes_last

    f = np.zeros(len(FEATURES))
    best = programs[c.runs[0]]
    total = sum(x.probability for x in cands)
    # a program decoding extended with a filter (Program.covered) keeps the model's low probability
    # for that step: its probability means something else, so it has its own weights
    log_prob = math.log(max(c.probability, 1e-6))
    log_share = math.log(max(c.probability, 1e-6) / max(total, 1e-6))
    f[2 if best.covered else 0] = log_prob
    f[3 if best.covered else 1] = log_share
    f[4] = c.runs[0]
    f[5] = float(c.runs[0] == 0)
    f[6] = len(c.runs)
    f[7] = float(goes_last(best))
    f[8] = math.log(len(c.values))
    numbers = [parse_number(v) for v in c.values]
    numeric = all(n is not None for n in numbers)
    f[9] = float(numeric)
    f[10] = float(numeric and all(n is not None and float(n).is_integer() and 1000 <= n <= 2100 for n in numbers))
    qnorm = f" {normalize_text(question.text)} "
    f[11] = float(all(f" {normalize_text(v)} " in qnorm for v in c.values if normalize_text(v)))
    used_constants = {s.constant for s in best.steps if s.constant is not None}
    used_columns = {s.column for s in best.steps if s.column is not None}
    named = {j for _a, _b, j in column_name_spans(question, table)}
    f[12] = sum(1 for k, q in enumerate(question.constants) if q.kind == "text" and k not in used_constants)
    f[13] = len(named - used_columns)
    f[14] = len(best.selection_steps)
    f[15] = float(best.covered)
    base = 16
    if best.terminal.op in TERMINAL_INDICATORS:
        f[base + TERMINAL_INDICATORS.index(best.terminal.op)] = 1.0
    base += len(TERMINAL_INDICATORS)
    k = KINDS.index(kind or question_kind(question.text))
    f[base + k + (0 if numeric else len(KINDS))] = 1.0
    return f


@dataclass
class Reranker:
    """A linear score over standardised FEATURES; the highest-scoring candidate is the answer."""

    weights: list[float]
    bias: list[float] = field(default_factory=list)  # unused by the argmax; kept for the record
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    features: list[str] = field(default_factory=lambda: list(FEATURES))

    def __post_init__(self) -> None:
        if list(self.features) != list(FEATURES):
            raise ValueError("the reranker was fitted on other features than this nqa computes")
        n = len(FEATURES)
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ValueError(f"the reranker needs {n} weights, means and scales")
        self._w = np.asarray(self.weights, dtype=np.float64) / np.asarray(self.scale, dtype=np.float64)

    @classmethod
    def from_config(cls, config: dict | None) -> Reranker | None:
        return None if not config else cls(**config)

    def to_config(self) -> dict:
        return {"weights": list(self.weights), "bias": list(self.bias), "mean": list(self.mean),
                "scale": list(self.scale), "features": list(self.features)}

    def scores(self, x: np.ndarray) -> np.ndarray:
        return (x - np.asarray(self.mean)) @ self._w

    def choose(self, programs: list[Program], runs: list[Execution | None], question: Question,
               table: Table) -> int | None:
        """The run whose answer scores highest (its best program); None when no run gives an answer
        (the caller falls back on execution-guided decoding)."""
        cands = candidates(programs, runs)
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0].runs[0]
        kind = question_kind(question.text)
        x = np.stack([candidate_features(c, cands, programs, question, table, kind) for c in cands])
        return cands[int(np.argmax(self.scores(x)))].runs[0]


def pick_run(programs: list[Program], runs: list[Execution | None], question: Question, table: Table,
             reranker: Reranker | None) -> int | None:
    """The run whose answer is given: the reranker's choice when there is one, else (and when no run
    gives an answer) execution-guided decoding's (nqa.executor.choose_run)."""
    from nqa.executor import choose_run

    chosen = reranker.choose(programs, runs, question, table) if reranker is not None else None
    return chosen if chosen is not None else choose_run(runs)
