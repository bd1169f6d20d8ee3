"""Synthetic table questions in the spirit of the 2016 Neural Programmer paper, and a trainer on them.

Tables have number columns and word columns; questions come from templates, one per program family
(filters, superlatives, first/last, previous/next, count, sum/avg/max/min, print, difference, mfe),
1 to 4 ops long. The gold answer is the exact executor's result on the gold Program, and the model
only ever sees the answer (weak supervision), as on WTQ. Everything is reproducible from a seed.

    python -m training.synthetic --minutes 10 --seed 0

trains a model from scratch (tiny random-init encoder by default) and prints one JSON metrics line
LAST: accuracy on freshly generated test questions, overall and per family, and the mean number of
selection steps the model's (ACT) program takes per gold program length.
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

NUMBER_COLUMNS = ["points", "goals", "wins", "year", "score", "rank", "games", "losses", "attendance", "height",
                  "weight", "votes"]
WORD_COLUMNS = {
    "team": ["lions", "tigers", "bears", "eagles", "sharks", "wolves", "hawks", "bulls"],
    "city": ["paris", "london", "berlin", "madrid", "rome", "vienna", "oslo", "dublin"],
    "color": ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"],
    "country": ["france", "spain", "italy", "germany", "norway", "ireland", "poland", "greece"],
    "position": ["goalkeeper", "defender", "midfielder", "forward", "captain", "coach", "keeper", "winger"],
    "name": ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"],
}


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


def make_table(rng: random.Random) -> tuple[Table, list[str], list[str]]:
    """A random table: 1-3 word columns, 1-3 number columns, 5-12 rows."""
    n_rows = rng.randint(5, 12)
    words = rng.sample(sorted(WORD_COLUMNS), rng.randint(1, 3))
    nums = rng.sample(NUMBER_COLUMNS, rng.randint(1, 3))
    cols = words + nums
    rng.shuffle(cols)
    data = {}
    for c in words:
        vocab = rng.sample(WORD_COLUMNS[c], rng.randint(3, 6))
        data[c] = [rng.choice(vocab) for _ in range(n_rows)]
    for c in nums:
        hi = rng.choice([20, 50, 100])
        data[c] = [str(rng.randint(0, hi)) for _ in range(n_rows)]
    rows = [[data[c][i] for c in cols] for i in range(n_rows)]
    return table_from_rows(cols, rows), words, nums


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


def _filter(rng, table, words, nums, data_word, data_num):
    """A random filter: (phrase, op, column, value)."""
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


def make_example(rng: random.Random, family: str | None = None) -> SyntheticExample | None:
    """One example, or None when the draw gives an ill-posed question (the caller draws again)."""
    table, words, nums = make_table(rng)
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
            f2 = _filter(rng, table, words, nums, data_word, data_num)
            if f2[2] == f1[2]:
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
        pre = []
        cond = ""
        for _ in range({"superlative": 0, "filter_superlative": 1, "filter_filter_superlative": 2}[family]):
            f = _filter(rng, table, words, nums, data_word, data_num)
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
            f = _filter(rng, table, words, nums, data_word, data_num)
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
    if not ex.values or len(set(ex.values)) < len(ex.values) or len(ex.values) > 3:
        return None  # empty or duplicate answers: ill-posed for a lookup
    return SyntheticExample(table, question, program, ex.values, family)


def generate(n: int, seed: int, family: str | None = None) -> list[SyntheticExample]:
    """n examples, the families in turn (or only `family`)."""
    rng = random.Random(seed)
    out: list[SyntheticExample] = []
    while len(out) < n:
        ex = make_example(rng, family or FAMILIES[len(out) % len(FAMILIES)])
        if ex is not None:
            out.append(ex)
    return out


def _features(examples: list[SyntheticExample]):
    from nqa.features import build_features, with_answer

    return [with_answer(build_features(e.table, e.question), e.table, e.answer) for e in examples]


def same_answer(pred: list[str], gold: list[str]) -> bool:
    return sorted(pred) == sorted(gold)


def evaluate(model, examples: list[SyntheticExample]) -> dict:
    """Accuracy of the greedy (ACT) program's exact answer, overall and per family."""
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
            steps.setdefault(e.n_select, []).append(len(ps[0].steps) - 1)
    model.train()
    allr = [x for v in right.values() for x in v]
    return {"accuracy": sum(allr) / len(allr),
            "per_family": {f: round(sum(v) / len(v), 4) for f, v in sorted(right.items())},
            "mean_steps_per_gold_length": {str(k): round(sum(v) / len(v), 3) for k, v in sorted(steps.items())},
            "n_test": len(allr)}


def train(minutes: float, seed: int, batch_size: int = 32, lr: float = 2e-3, d_model: int = 64,
          encoder: str = "tiny", n_test: int = 1200, log_every: int = 50, out: str | None = None,
          threads: int = 2, act_warmup: float = 0.25, family: str | None = None, fresh_per_update: int = 8,
          pool_size: int = 20000, entropy: float = 0.05, entropy_until: float = 0.5) -> dict:
    """Train from scratch for `minutes`; schedules are fractions of the time budget: uniform position
    weights (no ACT) for the first `act_warmup`, an entropy bonus decaying to 0 at `entropy_until`."""
    import torch

    from nqa.act import tau_schedule
    from nqa.features import collate
    from nqa.programmer import NeuralProgrammer, ProgrammerConfig

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = NeuralProgrammer(ProgrammerConfig(encoder=encoder, d_model=d_model, tiny_hidden=d_model, dropout=0.0))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    test = generate(n_test, seed + 1_000_003, family)
    start = time.time()
    deadline = start + minutes * 60
    update = 0
    act_start = None
    pool: list = []  # features of generated examples, reused: generating costs as much as an update
    while time.time() < deadline:
        fresh = []
        while len(fresh) < (batch_size if len(pool) < 8 * batch_size else fresh_per_update):
            e = make_example(rng, family)
            if e is not None:
                fresh.append(e)
        feats = _features(fresh)
        pool.extend(feats)
        if len(pool) > pool_size:
            del pool[:len(pool) - pool_size]
        batch = collate(feats + rng.sample(pool, batch_size - len(feats)) if len(feats) < batch_size else feats)
        frac = (time.time() - start) / (minutes * 60)
        for g in opt.param_groups:  # linear warm-up, cosine decay over the time budget
            g["lr"] = lr * min(1.0, (update + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        out_ = model(batch)
        act = frac >= act_warmup
        act_start = act_start if act_start is not None or not act else update
        losses = model.loss(out_, batch, act=act,
                            tau=0.0 if not act else tau_schedule(update - act_start, model.config.tau, 0, 200),
                            entropy=entropy * max(0.0, 1 - frac / entropy_until))
        opt.zero_grad()
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        update += 1
        if update % log_every == 0:
            print(f"update {update} t={time.time() - start:.0f}s loss={losses['loss'].item():.3f} "
                  f"answer={losses['answer'].item():.3f} ponder={losses['ponder'].item():.2f} "
                  f"entropy={losses['entropy'].item():.2f} act={act}", file=sys.stderr,
                  flush=True)
    metrics = evaluate(model, test)
    metrics.update({"updates": update, "train_seconds": round(time.time() - start, 1), "seed": seed,
                    "batch_size": batch_size, "encoder": encoder, "threads": threads})
    if out:
        model.save_pretrained(out)
    return metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--encoder", default="tiny", choices=["tiny", "minilm"])
    p.add_argument("--n-test", type=int, default=1200)
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    p.add_argument("--act-warmup", type=float, default=0.25, help="share of the time with uniform position weights")
    p.add_argument("--entropy", type=float, default=0.05, help="entropy bonus at the start (decays to 0)")
    p.add_argument("--family", default=None, choices=FAMILIES, help="train and test on one family only")
    p.add_argument("--out", default=None, help="save the trained model to this directory")
    a = p.parse_args(argv)
    metrics = train(a.minutes, a.seed, a.batch_size, a.lr, a.d_model, a.encoder, a.n_test, out=a.out,
                    threads=a.threads, act_warmup=a.act_warmup, family=a.family, entropy=a.entropy)
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["make_example", "generate", "train", "evaluate", "SyntheticExample", "FAMILIES", "np"]
