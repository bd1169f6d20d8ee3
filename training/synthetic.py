"""Synthetic table questions in the spirit of the 2016 Neural Programmer paper, and a trainer on them.

Tables have number columns and word columns; questions come from templates, one per program family
(filters, superlatives, first/last, previous/next, count, sum/avg/max/min, print, difference, mfe),
1 to 4 ops long. The gold answer is the exact executor's result on the gold Program, and the model
only ever sees the answer (weak supervision), as on WTQ. Everything is reproducible from a seed.

    OMP_NUM_THREADS=1 python -m training.synthetic --minutes 15 --seed 0 --threads 1 [--show-wrong 4]

trains a model from scratch (frozen pretrained MiniLM, outputs cached; everything above it random
init) and prints one JSON metrics line LAST: accuracy on freshly generated test questions, overall and
per family, and the mean number of selection steps the model's (ACT) program takes per gold program
length. How it learns (training/README.md, "Synthetic task"): an offline search from the answer alone
finds the consistent programs; the loss is their marginal likelihood plus the soft answer loss.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass

import numpy as np

from nqa.executor import execute
from nqa.program import Program, Step
from nqa.question import Question, parse_question
from nqa.table import Table, table_from_rows

ROWS = (5, 12)  # rows per table, inclusive
NUMBER_COLUMNS = ["points", "goals", "wins", "year", "score", "rank", "games", "losses", "attendance", "height",
                  "weight", "votes"]
WORD_COLUMNS = {
    "team": ["lions", "tigers", "bears", "eagles", "sharks", "wolves", "hawks", "bulls", "falcons", "panthers",
             "ravens", "foxes", "dolphins", "jets", "kings", "rockets"],
    "city": ["paris", "london", "berlin", "madrid", "rome", "vienna", "oslo", "dublin", "lisbon", "prague",
             "warsaw", "athens", "zurich", "munich", "milan", "brussels"],
    "color": ["red", "blue", "green", "yellow", "black", "white", "orange", "purple", "pink", "brown", "gray",
              "silver", "gold", "violet", "maroon", "navy"],
    "country": ["france", "spain", "italy", "germany", "norway", "ireland", "poland", "greece", "sweden", "finland",
                "denmark", "austria", "belgium", "portugal", "hungary", "croatia"],
    "position": ["goalkeeper", "defender", "midfielder", "forward", "captain", "coach", "keeper", "winger",
                 "striker", "sweeper", "pitcher", "catcher", "guard", "center", "tackle", "referee"],
    "name": ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar",
             "peggy", "trent", "victor", "walter"],
}
VOCAB = (3, 12)  # distinct values per word column, inclusive
NUMBER_RANGES = (20, 50, 100, 1000)  # a number column's values are 0..one of these


@dataclass
class SyntheticExample:
    table: Table
    question: Question
    program: Program  # the gold program (never shown to the model)
    answer: list[str]
    family: str

    @property
    def n_select(self) -> int:
        return len(self.program.steps) - 1


def make_table(rng: random.Random, rows: tuple[int, int] = ROWS) -> tuple[Table, list[str], list[str]]:
    """A random table: 1-3 word columns, 1-3 number columns, `rows` rows (inclusive range)."""
    n_rows = rng.randint(*rows)
    words = rng.sample(sorted(WORD_COLUMNS), rng.randint(1, 3))
    nums = rng.sample(NUMBER_COLUMNS, rng.randint(1, 3))
    cols = words + nums
    rng.shuffle(cols)
    data = {}
    for c in words:
        vocab = rng.sample(WORD_COLUMNS[c], rng.randint(*VOCAB))
        data[c] = [rng.choice(vocab) for _ in range(n_rows)]
    for c in nums:
        hi = rng.choice(NUMBER_RANGES)
        data[c] = [str(rng.randint(0, hi)) for _ in range(n_rows)]
    cells = [[data[c][i] for c in cols] for i in range(n_rows)]
    return table_from_rows(cols, cells), words, nums


def _step(op: str, table: Table, column: str | None = None, constant: int | None = None) -> Step:
    return Step(op, column=None if column is None else table.column_names.index(column), column_name=column,
                constant=constant)


def _const(question: Question, value) -> int | None:
    """The index of the question constant that carries `value` (a word or a number)."""
    for k, c in enumerate(question.constants):
        if isinstance(value, str) and c.kind == "text" and c.norm == value:
            return k
        if not isinstance(value, str) and c.kind == "number" and c.number == float(value):
            return k
    return None


def _filter(rng, table, words, nums, data_word, data_num, avoid: tuple = ()):
    """A random filter: (phrase, op, column, value), or None when every column is in `avoid` (the
    printed one: a filter on it makes the question answerable by the filter alone, so its meaning
    cannot be learned; and the columns already filtered)."""
    words = [w for w in words if w not in avoid]
    nums = [n for n in nums if n not in avoid]
    if not words and not nums:
        return None
    if words and (not nums or rng.random() < 0.5):
        w = rng.choice(words)
        v = rng.choice(data_word[w])
        return rng.choice([f"{w} is {v}", f"the {w} is {v}", f"{w} {v}"]), "filter_eq", w, v
    n = rng.choice(nums)
    v = rng.choice(data_num[n])
    op, phrase = rng.choice([("filter_gt", "more than"), ("filter_gt", "greater than"), ("filter_lt", "less than"),
                             ("filter_lt", "below"), ("filter_ge", "at least"), ("filter_le", "at most")])
    return f"{n} {phrase} {v}", op, n, int(v)


FAMILIES = ("count", "filter_count", "superlative", "filter_superlative", "first_last", "prev_next", "sum_avg",
            "max_min", "difference", "mfe", "two_filters_count", "filter_filter_superlative")


def make_example(rng: random.Random, family: str | None = None, rows: tuple[int, int] = ROWS
                 ) -> SyntheticExample | None:
    """One example, or None when the draw gives an ill-posed question (the caller draws again)."""
    table, words, nums = make_table(rng, rows)
    family = family or rng.choice(FAMILIES)
    data_word = {w: table.columns[table.column_names.index(w)].text for w in words}
    data_num = {n: table.columns[table.column_names.index(n)].raw for n in nums}
    W = rng.choice(words) if words else None
    N = rng.choice(nums)
    plan: list[tuple] = []  # (op, column, constant value or None)
    if family == "count":
        text = rng.choice(["how many rows are there?", "how many entries are listed?", "what is the number of rows?"])
        plan = [("count", None, None)]
    elif family in ("filter_count", "two_filters_count"):
        f1 = _filter(rng, table, words, nums, data_word, data_num)
        plan = [(f1[1], f1[2], f1[3])]
        cond = f1[0]
        if family == "two_filters_count":
            f2 = _filter(rng, table, words, nums, data_word, data_num, avoid=(f1[2],))
            if f2 is None:
                return None
            plan.append((f2[1], f2[2], f2[3]))
            cond = f"{f1[0]} and {f2[0]}"
        text = rng.choice([f"how many rows have {cond}?", f"how many entries with {cond}?",
                           f"count the rows where {cond}"])
        plan.append(("count", None, None))
    elif family in ("superlative", "filter_superlative", "filter_filter_superlative"):
        if W is None:
            return None
        big = rng.random() < 0.5
        sup = rng.choice(["highest", "most", "largest"] if big else ["lowest", "least", "smallest"])
        pre: list[tuple] = []
        cond = ""
        for _ in range({"superlative": 0, "filter_superlative": 1, "filter_filter_superlative": 2}[family]):
            f = _filter(rng, table, words, nums, data_word, data_num, avoid=(W, *(c for _, c, _ in pre)))
            if f is None:
                return None
            pre.append((f[1], f[2], f[3]))
            cond = f"{cond} and {f[0]}" if cond else f[0]
        where = f" among rows with {cond}" if cond else ""
        text = rng.choice([f"which {W} has the {sup} {N}{where}?", f"what {W} had the {sup} {N}{where}?"])
        plan = pre + [("argmax" if big else "argmin", N, None), ("print", W, None)]
    elif family == "first_last":
        if W is None:
            return None
        last = rng.random() < 0.5
        which = "last" if last else "first"
        if rng.random() < 0.5:
            f = _filter(rng, table, words, nums, data_word, data_num, avoid=(W,))
            if f is None:
                return None
            text = f"what is the {which} {W} with {f[0]}?"
            plan = [(f[1], f[2], f[3])]
        else:
            text = rng.choice([f"what is the {which} {W}?", f"which {W} is listed {which}?"])
        plan += [("last" if last else "first", None, None), ("print", W, None)]
    elif family == "prev_next":
        if W is None:
            return None
        v = rng.choice(data_word[W])
        after = rng.random() < 0.5
        text = (rng.choice([f"which {W} comes after {v}?", f"what {W} is listed after {v}?"]) if after else
                rng.choice([f"which {W} comes before {v}?", f"what {W} is listed before {v}?"]))
        plan = [("filter_eq", W, v), ("next" if after else "previous", None, None), ("print", W, None)]
    elif family == "sum_avg":
        avg = rng.random() < 0.5
        agg = rng.choice(["average", "mean"]) if avg else rng.choice(["total", "sum of"])
        if rng.random() < 0.5:
            f = _filter(rng, table, words, nums, data_word, data_num)
            text = f"what is the {agg} {N} for rows with {f[0]}?"
            plan = [(f[1], f[2], f[3])]
        else:
            text = f"what is the {agg} {N}?"
        plan.append(("avg" if avg else "sum", N, None))
    elif family == "max_min":
        big = rng.random() < 0.5
        text = f"what is the {'maximum' if big else 'minimum'} {N}?"
        if W is not None and rng.random() < 0.5:
            v = rng.choice(data_word[W])
            text = f"what is the {'highest' if big else 'lowest'} {N} when {W} is {v}?"
            plan = [("filter_eq", W, v)]
        plan.append(("max" if big else "min", N, None))
    elif family == "difference":
        if W is None:
            return None
        once = sorted(v for v in set(data_word[W]) if data_word[W].count(v) == 1)
        if len(once) < 2:
            return None
        a, b = rng.sample(once, 2)
        text = f"what is the difference in {N} between {a} and {b}?"
        plan = [("filter_any", W, None), ("difference", N, None)]
    elif family == "mfe":
        if W is None:
            return None
        if rng.random() < 0.5:
            text = f"how many times does the most common {W} appear?"
            plan = [("mfe", W, None), ("count", None, None)]
        else:
            text = rng.choice([f"which {W} appears most often?", f"what is the most frequent {W}?"])
            plan = [("mfe", W, None), ("first", None, None), ("print", W, None)]
    else:
        raise ValueError(f"unknown family {family!r}")
    question = parse_question(text, table)
    steps = []
    for op, col, value in plan:
        k = None
        if value is not None:
            k = _const(question, value)
            if k is None:
                return None
        steps.append(_step(op, table, col, k))
    program = Program(steps)
    ex = execute(program, table, question)
    if not ex.values or len(set(ex.values)) < len(ex.values) or len(ex.values) > 3 or not ex.selection.any():
        return None  # empty selection, empty or duplicate answers: ill-posed
    if program.terminal.op in ("sum", "avg", "max", "min") and ex.selection.sum() < 2:
        return None  # "the highest points when team is x" over one row: print says the same
    previous = np.ones(table.n_rows, dtype=bool)
    for sel in ex.selections:  # every step must change the selection, or a shorter program says the same
        if (sel == previous).all():
            return None
        previous = sel
    if not _every_step_needed(program, table, question, ex.values):
        return None
    return SyntheticExample(table, question, program, ex.values, family)


def _every_step_needed(program: Program, table: Table, question: Question, answer: list[str]) -> bool:
    """Whether dropping any one selection step changes the answer. A data-design rule, like "every
    step changes the selection": a condition the answer does not depend on ("highest points among rows
    with points above 3") makes a shorter program right on this table, and a model trained from answers
    alone then learns the shorter one, which is wrong on most other tables."""
    for i in range(len(program.steps) - 1):
        try:
            values = execute(Program(program.steps[:i] + program.steps[i + 1:]), table, question).values
        except ValueError:
            continue
        if same_answer(values, answer):
            return False
    return True


def generate(n: int, seed: int, family: str | None = None, rows: tuple[int, int] = ROWS) -> list[SyntheticExample]:
    """n examples, the families in turn (or only `family`)."""
    rng = random.Random(seed)
    out: list[SyntheticExample] = []
    while len(out) < n:
        ex = make_example(rng, family or FAMILIES[len(out) % len(FAMILIES)], rows)
        if ex is not None:
            out.append(ex)
    return out


def _features(examples: list[SyntheticExample]):
    from nqa.features import build_features, with_answer

    return [with_answer(build_features(e.table, e.question), e.table, e.answer) for e in examples]


def same_answer(pred: list[str], gold: list[str]) -> bool:
    """The official WTQ rules (training/data.py), as for WTQ and for the program search."""
    from nqa.training.data import answer_checker

    return bool(pred) and answer_checker(gold)(pred)


def evaluate(model, examples: list[SyntheticExample], show_wrong: int = 0) -> dict:
    """Accuracy of the greedy (ACT) program's exact answer, overall and per family; the first
    `show_wrong` wrong answers of each family go to stderr (predicted vs gold program)."""
    from nqa.decode import decode_programs

    model.eval()
    right: dict[str, list[bool]] = {}
    steps: dict[int, list[int]] = {}
    for i in range(0, len(examples), 64):
        chunk = examples[i:i + 64]
        progs = decode_programs(model, [e.table for e in chunk], [e.question for e in chunk], k=1)
        for e, ps in zip(chunk, progs):
            try:
                ok = same_answer(execute(ps[0], e.table, e.question).values, e.answer)
            except ValueError:
                ok = False
            right.setdefault(e.family, []).append(ok)
            if not ok and right[e.family].count(False) <= show_wrong:
                print(f"WRONG {e.family}: {e.question.text} | predicted {ps[0]} | gold {e.program} | "
                      f"answer {e.answer}", file=sys.stderr)
            steps.setdefault(e.n_select, []).append(len(ps[0].steps) - 1)
    model.train()
    allr = [x for v in right.values() for x in v]
    return {"accuracy": sum(allr) / len(allr),
            "per_family": {f: round(sum(v) / len(v), 4) for f, v in sorted(right.items())},
            "mean_steps_per_gold_length": {str(k): round(sum(v) / len(v), 3) for k, v in sorted(steps.items())},
            "n_test": len(allr)}


@dataclass
class TrainConfig:
    minutes: float = 10.0
    seed: int = 0
    batch_size: int = 32
    lr: float = 2e-3
    d_model: int = 64
    encoder: str = "minilm"  # frozen pretrained (outputs cached per example); "tiny": random init, trained
    max_steps: int = 3  # the synthetic programs have at most 3 selection steps
    n_test: int = 1200
    threads: int = 2
    family: str | None = None  # train and test on one family only
    answer_weight: float = 1.0  # the soft-execution answer loss (weak supervision)
    mml_weight: float = 1.0  # marginal likelihood of the programs an offline search finds consistent with the answer
    search_candidates: int = 24  # the most plausible consistent programs per example (64: 94.4%, 24: 96.9%)
    act_warmup: float = 0.25  # share of the time budget with uniform position weights (no ACT)
    entropy: float = 0.05  # entropy bonus at the start, decaying linearly ...
    entropy_until: float = 0.5  # ... to 0 at this share of the time budget
    fresh_per_update: int = 3  # new examples per update once the pool is warm (the rest are reused)
    pool_size: int = 20000
    log_every: int = 50
    out: str | None = None  # save the trained model here
    # training mix, "family:weight,...": families drawn in proportion (default 1); the test stays
    # uniform. Tried "filter_filter_superlative:3,two_filters_count:3,filter_superlative:2": no gain.
    family_weights: str = ""
    min_rows: int = ROWS[0]  # rows per table, train and test (10-25: run j, 95.5% against 96.8%)
    max_rows: int = ROWS[1]
    # drop searched programs that put a question number on a column other than the one named just before it
    lexical_binding: int = 1
    # ProgrammerConfig.op_columns: a column query offset per selection op, so a step's filter and its
    # superlative need not share one column distribution (run k 98.8%; run i, without it, 96.8%)
    op_columns: int = 1
    # ProgrammerConfig.col_mentions: column vectors also read the question words naming them (run l:
    # 98.9%, no gain over k; off)
    col_mentions: int = 0
    show_wrong: int = 0  # print this many wrong test answers per family (stderr)


def _constant_aware_search():
    """training/search.py's ExampleSearch, with one change: a selection state is keyed by its rows, the
    question constants used to reach it and its depth. The plain search keeps only the shortest
    programs per distinct selection, so on a small table "filter(a) -> filter(b) -> argmax -> print"
    disappears whenever two accidental filters select the same row, and the model can only learn the
    accident."""
    from nqa.training.search import ExampleSearch

    class ConstantAwareSearch(ExampleSearch):
        def states(self):
            full = np.ones(self.n, dtype=bool)
            seen = {(full.tobytes(), (), 0): (full, [()])}
            frontier = list(seen)
            for depth in range(1, self.cfg.max_steps + 1):
                new = []
                for key in frontier:
                    s, progs = seen[key]
                    for step, r in self._expand(s):
                        if not r.any() or (r == s).all():  # empty, or an idle step (padding)
                            continue
                        consts = tuple(sorted(set(key[1]) | ({step[2]} if step[2] is not None else set())))
                        rk = (r.tobytes(), consts, depth)
                        grown = [p + (step,) for p in progs if not p or _in_question_order(p[-1], step)]
                        if rk in seen:  # same-length programs join (ties), longer ones never do
                            entry = seen[rk][1]
                            entry.extend(grown[: max(0, self.cfg.keep_per_state - len(entry))])
                            continue
                        if len(seen) >= self.cfg.max_states or not grown:
                            continue
                        seen[rk] = (r, grown[: self.cfg.keep_per_state])
                        new.append(rk)
                frontier = new
            return seen

    return ConstantAwareSearch


def _consistent_programs(e: SyntheticExample, max_steps: int, limit: int, keep_per_state: int = 64,
                         lexical_binding: bool = True) -> list[Program]:
    """Programs (up to max_steps selection steps) whose exact answer equals e's answer, found from the
    answer alone (weak supervision), the `limit` most plausible ones (see `_plausibility`). With
    `lexical_binding`, programs that put a number filter on a column other than the one the question
    names just before that number are dropped when any consistent program has no such binding."""
    from nqa.training.search import SearchConfig

    search = _constant_aware_search()(e.table, e.question, e.answer,
                                      SearchConfig(max_steps=max_steps, max_candidates=100_000,
                                                   keep_per_state=keep_per_state))
    found = search.run()
    if lexical_binding:
        named = _named_columns(e.question, e.table)
        clean = [prog for prog in found if not _misbound(prog, named)]
        found = clean or found  # drop number filters on a column other than the one named before the number
    found.sort(key=lambda prog: _plausibility(prog, search.col_in_q))
    return [Program([Step(op, column=c, constant=k) for op, c, k in prog]) for prog in found[:limit]]


def _named_columns(question: Question, table: Table, window: int = 3) -> dict[int, int]:
    """Number constant index -> the column whose name ends at most `window` tokens before it ("rank
    more than 5": rank). Lexical evidence from the question text only, as a search over WTQ could use:
    on a small table a count is often right with the numbers swapped between two named columns."""
    from nqa.question import column_name_spans

    ends = [(end, j) for _, end, j in column_name_spans(question, table)]  # (token end, column)
    out = {}
    for k, c in enumerate(question.constants):
        if c.kind != "number":
            continue
        before = [(end, j) for end, j in ends if 0 <= c.span[0] - end < window]
        if before:
            out[k] = max(before)[1]
    return out


def _misbound(prog: tuple, named: dict[int, int]) -> bool:
    """Whether a number filter of `prog` compares a column other than the one named before its number."""
    return any(op in _NUMBER_FILTERS and k in named and named[k] != c for op, c, k in prog)


_NUMBER_FILTERS = ("filter_gt", "filter_ge", "filter_lt", "filter_le")


def _in_question_order(a: tuple, b: tuple) -> bool:
    """Whether step b may follow step a: two filters must come in the order of their constants in the
    question (then columns). Filters commute, so the search would find both orders; with both as
    targets the op, column and constant heads (each its own distribution) can each learn a different
    order, and mixed they pick the column of one condition and the constant of the other."""
    if not (a[0].startswith("filter_") and b[0].startswith("filter_")):
        return True
    return (-1 if a[2] is None else a[2], a[1]) < (-1 if b[2] is None else b[2], b[1])


def _plausibility(prog: tuple, col_in_q: np.ndarray) -> tuple:
    """Sort key, most plausible first: fewest things the question gives no evidence for or the program
    leaves unexplained (a selection op without a constant, except argmax/argmin on a column the
    question names; an op on a column the question does not name; a column the question names that
    the program never uses), then more of the question's constants, then shorter. Evidence before
    constants because the parser also reads "first" as the number 1: ranked by constants first, the
    candidate set fills with accidental filters on 1 and the real program drops out of it. Named
    columns left unused catch a number's filter put on the wrong column ("rank > 0 and rank > 16" for
    "rank more than 0 and score less than 16"), right by accident on a small table."""
    unexplained = sum(1 for op, c, k in prog[:-1] if k is None and not (op in ("argmax", "argmin") and col_in_q[c]))
    used = {c for _, c, _ in prog if c is not None}
    off_question = sum(1 for c in used if not col_in_q[c])
    uncovered = sum(1 for j in np.flatnonzero(col_in_q) if j not in used)
    return unexplained + off_question + uncovered, -len({k for _, _, k in prog if k is not None}), len(prog)


def _family_weights(spec: str) -> list[float]:
    """"family:weight,..." -> one weight per FAMILIES entry (1 when not named)."""
    named = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        family, _, w = item.partition(":")
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r} in family weights")
        named[family] = float(w)
    return [named.get(f, 1.0) for f in FAMILIES]


def train(cfg: TrainConfig) -> dict:
    """Train from scratch for cfg.minutes and evaluate on fresh questions. The loss is the soft
    answer loss (+ entropy bonus early, ACT after a warm-up) plus, when mml_weight > 0, the negative
    log of the summed probability of the searched consistent programs (both from answers only)."""
    import torch

    from nqa.act import tau_schedule
    from nqa.features import collate
    from nqa.minilm import training_dtype
    from nqa.programmer import NeuralProgrammer, ProgrammerConfig, ProgramTargets

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    with training_dtype():  # float32 encoder states on every machine
        model = NeuralProgrammer(ProgrammerConfig(encoder=cfg.encoder, d_model=cfg.d_model, tiny_hidden=cfg.d_model,
                                                  dropout=0.0, max_steps=cfg.max_steps,
                                                  op_columns=bool(cfg.op_columns), col_mentions=bool(cfg.col_mentions)))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rows = (cfg.min_rows, cfg.max_rows)
    test = generate(cfg.n_test, cfg.seed + 1_000_003, cfg.family, rows)
    weights = _family_weights(cfg.family_weights)
    start = time.time()
    deadline = start + cfg.minutes * 60
    update, act_start = 0, None
    nonfinite, max_norm = 0, 0.0  # gradient norms before clipping: the issue asks for finite ones throughout
    pool: list = []  # (features, consistent programs); reused: generating costs as much as an update
    while time.time() < deadline:
        n_new = cfg.batch_size if len(pool) < 4 * cfg.batch_size else cfg.fresh_per_update
        fresh: list = []
        while len(fresh) < n_new:  # a family first, then draws until it gives a well-posed question:
            family = cfg.family or rng.choices(FAMILIES, weights)[0]  # rejection must not thin out hard ones
            e = None
            while e is None:
                e = make_example(rng, family, rows)
            fresh.append(e)
        progs = [_consistent_programs(e, cfg.max_steps, cfg.search_candidates,
                                      lexical_binding=bool(cfg.lexical_binding))
                 if cfg.mml_weight else [] for e in fresh]
        feats = _features(fresh)
        if model.encoder.frozen:  # a frozen encoder's outputs are cached once per example
            with torch.no_grad():
                enc = model.encode(collate(feats))
            for b, f in enumerate(feats):
                f.encoded = enc.slice(b)
        pool.extend(zip(feats, progs))
        del pool[:max(0, len(pool) - cfg.pool_size)]
        items = pool[-n_new:] + rng.sample(pool[:-n_new], max(0, cfg.batch_size - n_new)) if n_new < cfg.batch_size \
            else pool[-n_new:]
        batch = collate([f for f, _ in items])
        frac = (time.time() - start) / (cfg.minutes * 60)
        for g in opt.param_groups:  # linear warm-up, cosine decay over the time budget
            g["lr"] = cfg.lr * min(1.0, (update + 1) / 50) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(frac, 1.0))))
        act = frac >= cfg.act_warmup
        act_start = act_start if act_start is not None or not act else update
        losses = {}
        total = torch.zeros(())
        if cfg.answer_weight:
            tau = 0.0 if act_start is None else tau_schedule(update - act_start, model.config.tau, 0, 200)
            losses = model.loss(model(batch), batch, act=act, tau=tau,
                                entropy=cfg.entropy * max(0.0, 1 - frac / cfg.entropy_until))
            total = total + cfg.answer_weight * losses["loss"]
        cands = [(b, p) for b, (_, ps) in enumerate(items) for p in ps]
        if cfg.mml_weight and cands:
            logp = model.program_log_prob(batch, ProgramTargets.from_programs(cands, cfg.max_steps))
            owner = torch.tensor([b for b, _ in cands])
            per_ex = torch.full((len(items), len(cands)), -math.inf).index_put_(
                (owner, torch.arange(len(cands))), logp, accumulate=False)
            has = torch.isfinite(per_ex).any(1)
            mml = -torch.logsumexp(per_ex[has], dim=1).mean()
            losses["mml"] = mml.detach()
            total = total + cfg.mml_weight * mml
        opt.zero_grad()
        total.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
        if math.isfinite(norm):
            max_norm = max(max_norm, norm)
        else:
            nonfinite += 1
        opt.step()
        update += 1
        if update % cfg.log_every == 0:
            print(f"update {update} t={time.time() - start:.0f}s pool={len(pool)} act={act} "
                  + " ".join(f"{k}={float(v.detach()):.3f}" for k, v in losses.items()), file=sys.stderr, flush=True)
    metrics = evaluate(model, test, cfg.show_wrong)
    metrics.update({"updates": update, "nonfinite_grad_updates": nonfinite, "max_grad_norm": round(max_norm, 3),
                    "train_seconds": round(time.time() - start, 1), "examples_generated": len(pool),
                    "config": {k: v for k, v in cfg.__dict__.items() if k not in ("out", "show_wrong")}})
    if cfg.out:
        model.save_pretrained(cfg.out)
    return metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for f in TrainConfig.__dataclass_fields__.values():
        kind = {"float": float, "int": int, "str": str}.get(str(f.type).split(" ")[0], str)
        p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None)
    a = p.parse_args(argv)
    cfg = TrainConfig(**{k: v for k, v in vars(a).items() if v is not None})
    if cfg.family is not None and cfg.family not in FAMILIES:
        p.error(f"--family must be one of {FAMILIES}")
    if "threads" not in {k for k, v in vars(a).items() if v is not None} and os.environ.get("OMP_NUM_THREADS"):
        cfg.threads = int(os.environ["OMP_NUM_THREADS"])
    print(json.dumps(train(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["make_example", "generate", "train", "evaluate", "SyntheticExample", "TrainConfig", "FAMILIES"]
