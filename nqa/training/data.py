"""WTQ data for training: one import point over nqa.wtq (examples, tables) and nqa.evaluation
(the official answer rules), so the search, the trainer and the tests all judge answers the same way."""
from __future__ import annotations

import os
from pathlib import Path

from nqa import evaluation, wtq
from nqa.evaluation import tsv_escape as escape_tsv  # noqa: F401 (re-exported)
from nqa.evaluation import tsv_unescape as unescape_tsv  # noqa: F401 (re-exported)
from nqa.table import Table
from nqa.wtq import Example, read_examples  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[2]  # the source checkout, when nqa is not installed


def runs_dir() -> Path:
    """Where training's caches and outputs go: runs/ of the source checkout this nqa lives in, else
    ./runs (an installed nqa, whose site-packages is no place for them)."""
    if (REPO / "pyproject.toml").is_file() and (REPO / "nqa").is_dir():
        return REPO / "runs"
    return Path("runs")


def default_wtq_root() -> Path:
    """$NQA_WTQ_ROOT, else the dataset beside the repository (nqa.wtq.default_root)."""
    env = os.environ.get("NQA_WTQ_ROOT")
    if env:
        return Path(env)
    return wtq.default_root() or (REPO / ".." / "shared" / "datasets" / "wikitablequestions").resolve()


def load_wtq_table(path: str) -> Table:
    """A WTQ table by its path (cached by nqa.wtq)."""
    return wtq.load_wtq_table(path)


def answer_checker(gold: list[str] | tuple[str, ...]):
    """A predicate on predicted items: equal to `gold` as sets of values by the official rules.
    The gold side is parsed once, since the search checks many candidate answers against it."""
    target = evaluation.target_values(list(gold))
    return lambda pred: evaluation.check_denotation(target, evaluation.to_value_list(list(pred)))


def item_matcher(gold: list[str] | tuple[str, ...]):
    """A predicate on ONE predicted item: does it match some gold item (official value rules)?
    A cheap necessary condition for a list of items to be correct: each must pass it."""
    targets = evaluation.target_values(list(gold))
    return lambda item: any(t.match(evaluation.to_value(item)) for t in targets)


def answer_correct(gold, pred) -> bool:
    return answer_checker(gold)(pred)


def write_tiny_wtq(root: str | Path, n_tables: int = 4) -> Path:
    """A tiny WTQ-format dataset (tables + `tiny-train.tsv`, `tiny-dev.tsv`) for smoke runs and tests:
    superlative, count, filter-lookup and next-row questions over small medal tables."""
    import random as _random

    root = Path(root)
    rng = _random.Random(0)
    nations = ["Norway", "Germany", "France", "Italy", "Spain", "Japan", "Kenya", "Chile"]
    lines: dict[str, list[str]] = {"tiny-train": [], "tiny-dev": []}
    k = 0
    for t in range(n_tables):
        rows = [[str(1990 + 4 * i), rng.choice(nations), str(rng.randint(0, 20))] for i in range(6)]
        path = root / "csv" / "200-csv" / f"{t}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("Year,Nation,Gold\n" + "".join(",".join(r) + "\n" for r in rows))
        ctx = f"csv/200-csv/{t}.csv"
        best = max(rows, key=lambda r: int(r[2]))
        qs = [("which nation won the most gold?", best[1] if sum(r[2] == best[2] for r in rows) == 1 else None),
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
