"""WTQ data for training: examples, tables and answer checking, through one small adapter.

nqa.wtq (TSV reading, answer targets) and nqa.evaluation (the official rules) are owned elsewhere;
this module uses them when they are present and otherwise falls back to a faithful local port, so the
training code has one stable import point.
"""
from __future__ import annotations

import math
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nqa.table import Table

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    context: str  # table path relative to the WTQ root, e.g. csv/204-csv/590.csv
    answers: tuple[str, ...]


def default_wtq_root() -> Path:
    env = os.environ.get("NQA_WTQ_ROOT")
    if env:
        return Path(env)
    return (REPO / ".." / "shared" / "datasets" / "wikitablequestions").resolve()


def unescape_tsv(s: str) -> str:
    """WTQ TSV field escapes: \\n newline, \\p pipe, \\\\ backslash."""
    out, i = [], 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            out.append({"n": "\n", "p": "|", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def escape_tsv(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\p").replace("\t", " ")


def read_examples(path: str | Path) -> list[Example]:
    """A WTQ examples TSV (id, utterance, context, targetValue); a missing target gives no answers."""
    try:
        from nqa import wtq

        if hasattr(wtq, "read_examples"):
            exs = wtq.read_examples(path)
            return [Example(e.id, getattr(e, "question", getattr(e, "utterance", "")), e.context,
                            tuple(getattr(e, "answers", getattr(e, "target", ())))) for e in exs]
    except ImportError:
        pass
    out = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = {h: i for i, h in enumerate(header)}
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            target = parts[col["targetValue"]] if "targetValue" in col and len(parts) > col["targetValue"] else ""
            answers = tuple(unescape_tsv(x) for x in target.split("|")) if target else ()
            out.append(Example(parts[col["id"]], unescape_tsv(parts[col["utterance"]]), parts[col["context"]],
                               answers))
    return out


@lru_cache(maxsize=4096)
def load_wtq_table(path: str) -> Table:
    """A WTQ table by its path (the .csv of the example's context)."""
    try:
        from nqa import wtq

        if hasattr(wtq, "load_wtq_table"):
            return wtq.load_wtq_table(path)
    except ImportError:
        pass
    from nqa.table_io import read_table

    return read_table(path)


# ---------------------------------------------------------------------------------------------
# the official evaluator's value matching (Pasupat & Liang, evaluator.py), ported


def _normalize(x: str) -> str:
    x = "".join(c for c in unicodedata.normalize("NFKD", x) if unicodedata.category(c) != "Mn")
    x = re.sub(r"[‘’´`]", "'", x)
    x = re.sub(r"[“”]", '"', x)
    x = re.sub(r"[‐‑‒–—−]", "-", x)
    while True:
        old = x
        x = re.sub(r"((?<!^)\[[^\]]*\]|\[\d+\]|[•♦†‡*#+])*$", "", x.strip())
        x = re.sub(r"(?<!^)( \([^)]*\))*$", "", x.strip())
        x = re.sub(r'^"([^"]*)"$', r"\1", x.strip())
        if x == old:
            break
    if x and x[-1] == ".":
        x = x[:-1]
    return re.sub(r"\s+", " ", x, flags=re.U).lower().strip()


def _parse_number(text: str) -> float | None:
    try:
        return float(int(text))
    except ValueError:
        try:
            v = float(text)
        except ValueError:
            return None
        return None if math.isnan(v) or math.isinf(v) else v


def _parse_date(text: str) -> tuple[int, int, int] | None:
    try:
        ymd = text.lower().split("-")
        assert len(ymd) == 3
        y = -1 if ymd[0] in ("xx", "xxxx") else int(ymd[0])
        m = -1 if ymd[1] == "xx" else int(ymd[1])
        d = -1 if ymd[2] == "xx" else int(ymd[2])
        assert not (y == m == d == -1)
        assert m == -1 or 1 <= m <= 12
        assert d == -1 or 1 <= d <= 31
        return y, m, d
    except (ValueError, AssertionError):
        return None


def _to_value(s: str, canon: str | None = None) -> tuple:
    """('n', amount, norm) | ('d', ymd, norm) | ('s', None, norm); canon: the parsed form if any."""
    norm = _normalize(s)
    s = canon if canon is not None else s
    n = _parse_number(s)
    if n is not None:
        return ("n", n, norm)
    d = _parse_date(s)
    if d is not None:
        return ("d", d, norm)
    return ("s", None, norm)


def _match(target: tuple, pred: tuple) -> bool:
    if target[0] == "n":
        if pred[0] == "n":
            return abs(target[1] - pred[1]) < 1e-6
        return target[2] == pred[2]
    if target[0] == "d":
        if pred[0] == "d":
            return target[1] == pred[1]
        return target[2] == pred[2]
    return target[2] == pred[2]


def _value_set(items: list[str], canon: bool = False) -> list[tuple]:
    out: list[tuple] = []
    for v in (_to_value(x, _canon_target(x) if canon else None) for x in items):
        if not any(_match(v, u) and _match(u, v) for u in out):
            out.append(v)
    return out


def _canon_target(s: str) -> str:
    """Targets such as '12,467' are numbers for the official evaluator (its tagged targetCanon)."""
    t = s.strip()
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", t):
        return t.replace(",", "")
    return t


def answer_checker(gold: list[str] | tuple[str, ...]):
    """A predicate on predicted items: equal to `gold` as sets of values by the official rules."""
    try:
        from nqa import evaluation

        if hasattr(evaluation, "target_values") and hasattr(evaluation, "check_denotation"):
            target = evaluation.target_values(list(gold))  # parsed once, checked many times
            return lambda pred: evaluation.check_denotation(target, evaluation.to_value_list(list(pred)))
    except ImportError:
        pass
    targets = _value_set(list(gold), canon=True)

    def check(pred: list[str]) -> bool:
        preds = _value_set(list(pred))
        if len(preds) != len(targets):
            return False
        return all(any(_match(t, p) for p in preds) for t in targets)

    return check


def item_matcher(gold: list[str] | tuple[str, ...]):
    """A predicate on ONE predicted item: does it match some gold item (official value rules)?
    A cheap necessary condition for a list of items to be correct: each must pass it."""
    try:
        from nqa import evaluation

        if hasattr(evaluation, "target_values"):
            targets = evaluation.target_values(list(gold))
            return lambda item: any(t.match(evaluation.to_value(item)) for t in targets)
    except ImportError:
        pass
    targets = _value_set(list(gold), canon=True)
    return lambda item: any(_match(t, _to_value(item)) for t in targets)


def answer_correct(gold, pred) -> bool:
    return answer_checker(gold)(pred)


def write_tiny_wtq(root: str | Path, n_tables: int = 4) -> Path:
    """A tiny WTQ-format dataset (tables + `tiny-train.tsv`, `tiny-dev.tsv`) for smoke runs and tests:
    superlative, count, filter-lookup and next-row questions over small medal tables."""
    import random as _random

    root = Path(root)
    rng = _random.Random(0)
    nations = ["Norway", "Germany", "France", "Italy", "Spain", "Japan", "Kenya", "Chile"]
    lines = {"tiny-train": [], "tiny-dev": []}
    k = 0
    for t in range(n_tables):
        rows = [[str(1990 + 4 * i), rng.choice(nations), str(rng.randint(0, 20))] for i in range(6)]
        path = root / "csv" / "200-csv" / f"{t}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("Year,Nation,Gold\n" + "".join(",".join(r) + "\n" for r in rows))
        ctx = f"csv/200-csv/{t}.csv"
        best = max(rows, key=lambda r: int(r[2]))
        qs = [(f"which nation won the most gold?", best[1] if sum(r[2] == best[2] for r in rows) == 1 else None),
              (f"how many times did {rows[0][1].lower()} appear?", str(sum(r[1] == rows[0][1] for r in rows))),
              (f"who won in {rows[2][0]}?", rows[2][1]),
              (f"what year came after {rows[3][0]}?", rows[4][0]),
              (f"how many gold in {rows[1][0]}?", rows[1][2])]
        for q, a in qs:
            if a is None:
                continue
            split = "tiny-dev" if t == n_tables - 1 else "tiny-train"
            lines[split].append(f"nt-{k}\t{q}\t{ctx}\t{escape_tsv(a)}")
            k += 1
    (root / "data").mkdir(parents=True, exist_ok=True)
    for name, ls in lines.items():
        (root / "data" / f"{name}.tsv").write_text("id\tutterance\tcontext\ttargetValue\n" + "\n".join(ls) + "\n")
    return root
