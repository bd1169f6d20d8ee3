"""WikiTableQuestions: reading examples, their tables, and where each answer sits in its table.

The dataset is read from a folder (never copied into the repo): `--root`, else the NQA_WTQ_ROOT
environment variable, else `../shared/datasets/wikitablequestions` next to the repository.

The weak-supervision losses need, for each example, the cells that hold the answer and the number it
is, if any. A cell holds an answer item when printing that cell would be judged correct for the item
by the official evaluator's rules (`nqa.evaluation`), so the training signal and the metric agree.
`nqa evaluate` (`cli_evaluate`) scores a predictions file against an examples file by those rules.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nqa.evaluation import (
    NumberValue,
    Value,
    evaluate,
    read_predictions,
    target_values,
    to_value,
    tsv_unescape,
    tsv_unescape_list,
)
from nqa.table import Table, load_table

ENV_ROOT = "NQA_WTQ_ROOT"
_REPO = Path(__file__).resolve().parent.parent


class WTQFormatError(ValueError):
    """A WTQ examples file is not in the expected format."""


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    context: str  # table path relative to the dataset root, e.g. 'csv/204-csv/590.csv'
    targets: list[str]  # answer items (unescaped); several for a multi-item answer

    @property
    def utterance(self) -> str:  # the dataset's own name for the question
        return self.question

    @property
    def answers(self) -> tuple[str, ...]:
        return tuple(self.targets)


def default_root() -> Path | None:
    """The dataset folder: $NQA_WTQ_ROOT, else ../shared/datasets/wikitablequestions beside the
    repository, else ~/.cache/nqa/wikitablequestions (where data/download_wtq.py puts it); None
    when none exists."""
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env)
    for p in (_REPO.parent / "shared" / "datasets" / "wikitablequestions",
              Path.home() / ".cache" / "nqa" / "wikitablequestions"):
        if p.is_dir():
            return p
    return None


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """`root` or the default dataset folder; a clear error when there is none."""
    path = Path(root) if root is not None else default_root()
    if path is None or not path.is_dir():
        where = str(path) if path is not None else f"${ENV_ROOT} or ../shared/datasets/wikitablequestions"
        raise FileNotFoundError(f"WikiTableQuestions not found at {where}; download it with "
                                f"`python data/download_wtq.py` and set {ENV_ROOT}")
    return path


def read_examples(path: str | os.PathLike) -> list[Example]:
    """Examples from a WTQ TSV file (columns id, utterance, context, targetValue; TSV escapes undone)."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        need = ("id", "utterance", "context", "targetValue")
        missing = [h for h in need if h not in header]
        if missing:
            raise WTQFormatError(f"{path}: not a WTQ examples file (header lacks {', '.join(missing)})")
        col = {h: header.index(h) for h in need}
        out = []
        for lineno, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) < len(header):
                raise WTQFormatError(f"{path}:{lineno}: {len(fields)} fields, expected {len(header)}")
            out.append(Example(fields[col["id"]], tsv_unescape(fields[col["utterance"]]), fields[col["context"]],
                               tsv_unescape_list(fields[col["targetValue"]])))
    return out


@lru_cache(maxsize=4096)
def _load_cached(path: str) -> Table:
    return load_table(path)


def load_wtq_table(path: str | os.PathLike) -> Table:
    """A WTQ table by its full path, loaded once per process (do not modify it)."""
    return _load_cached(str(path))


def load_context_table(context: str, root: str | os.PathLike | None = None) -> Table:
    """The table of an example's `context` path, loaded once per process (tables are shared by
    several questions). Callers must not modify the returned Table."""
    root = resolve_root(root)
    return _load_cached(str(root / context))


# ---------------------------------------------------------------------------------------------
# answer targets


@dataclass
class AnswerTargets:
    """Where an example's answer can come from.

    cells[k]: the (row, col) cells whose printed value matches answer item k (by the evaluator).
    number: the answer's number when it is a single numeric item (what a scalar op must produce).
    """

    cells: list[list[tuple[int, int]]]
    number: float | None

    @property
    def in_table(self) -> bool:
        """Every answer item is some cell of the table."""
        return bool(self.cells) and all(self.cells)

    @property
    def kind(self) -> str:
        """'cells', 'number', 'both' or 'neither' (the loss that applies)."""
        if self.in_table:
            return "both" if self.number is not None else "cells"
        return "number" if self.number is not None else "neither"


def _cell_values(table: Table) -> list[tuple[list[int], list[Value]]]:
    """Per column: each row's index into its distinct raw texts, and their evaluator Values."""
    cached = table._cache.get("evaluator_values")
    if cached is None:
        cached = []
        for col in table.columns:
            index: dict[str, int] = {}
            codes = [index.setdefault(r, len(index)) for r in col.raw]
            cached.append((codes, [to_value(u) for u in index]))
        table._cache["evaluator_values"] = cached
    return cached


def answer_targets(targets: list[str], table: Table) -> AnswerTargets:
    """The cells holding each answer item, and the answer's number if it is one.

    >>> from nqa.table import table_from_rows
    >>> t = table_from_rows(["Year", "City"], [["2001", "Paris"], ["2004", "Rome[3]"]])
    >>> answer_targets(["rome"], t), answer_targets(["2004"], t).kind
    (AnswerTargets(cells=[[(1, 1)]], number=None), 'both')
    """
    values = _cell_values(table)
    cells: list[list[tuple[int, int]]] = []
    for item in targets:
        target = target_values([item])[0]
        hits: list[tuple[int, int]] = []
        for j, (codes, uniques) in enumerate(values):
            good = {u for u, v in enumerate(uniques) if target.match(v)}
            if good:
                hits.extend((i, j) for i, c in enumerate(codes) if c in good)
        cells.append(sorted(hits))
    number = None
    tv = target_values(targets)
    if len(tv) == 1 and isinstance(tv[0], NumberValue):
        number = float(tv[0].amount)
    return AnswerTargets(cells, number)


def example_targets(example: Example, root: str | os.PathLike | None = None) -> AnswerTargets:
    return answer_targets(example.targets, load_context_table(example.context, root))


# ---------------------------------------------------------------------------------------------
# coverage report


@dataclass
class Coverage:
    counts: Counter  # kind -> examples
    n_examples: int
    seconds: float

    def shares(self) -> dict[str, float]:
        return {k: self.counts.get(k, 0) / max(self.n_examples, 1) for k in ("cells", "number", "both", "neither")}

    def report(self) -> str:
        lines = [f"{self.n_examples} examples ({self.seconds:.1f} s)"]
        for k, share in self.shares().items():
            lines.append(f"  {k:8s} {self.counts.get(k, 0):6d}  {share:6.1%}")
        s = self.shares()
        lines.append(f"  answer in the table (cells or both): {s['cells'] + s['both']:.1%}; "
                     f"numeric answer (number or both): {s['number'] + s['both']:.1%}")
        return "\n".join(lines)


def coverage(examples: list[Example], root: str | os.PathLike | None = None) -> Coverage:
    """How many examples' answers are cells of their table, a number, both, or neither."""
    start = time.perf_counter()
    counts: Counter = Counter()
    for ex in examples:
        counts[example_targets(ex, root).kind] += 1
    return Coverage(counts, len(examples), time.perf_counter() - start)


@dataclass
class CellTypes:
    """How the cells of a set of tables were typed (non-empty cells only)."""

    n_tables: int
    n_cells: int
    n_number: int
    n_date: int  # any date, years included
    n_date_with_month: int
    kinds: Counter  # column kind -> columns
    seconds: float  # time to load the tables

    def report(self) -> str:
        c = max(self.n_cells, 1)
        return (f"{self.n_tables} tables, {self.n_cells} non-empty cells, loaded in {self.seconds:.1f} s\n"
                f"  read as numbers: {self.n_number / c:.1%}\n"
                f"  read as dates:   {self.n_date / c:.1%} ({self.n_date_with_month / c:.1%} with a month, "
                f"the rest years)\n"
                f"  columns by kind: {dict(self.kinds)}")


def cell_types(contexts: list[str], root: str | os.PathLike | None = None) -> CellTypes:
    """Load each table (uncached, to time it) and count how its cells were typed."""
    import numpy as np

    root = resolve_root(root)
    start = time.perf_counter()
    tables = [load_table(root / c) for c in contexts]
    seconds = time.perf_counter() - start
    cells = num = date = month = 0
    kinds: Counter = Counter()
    for t in tables:
        for col in t.columns:
            filled = np.array([bool(r.strip()) for r in col.raw], dtype=bool)
            cells += int(filled.sum())
            num += int((~np.isnan(col.numbers) & filled).sum())
            date += sum(1 for f, d in zip(filled, col.dates) if f and d is not None)
            month += sum(1 for f, d in zip(filled, col.dates) if f and d is not None and d.month is not None)
            kinds[col.kind] += 1
    return CellTypes(len(tables), cells, num, date, month, kinds, seconds)


def cli_evaluate(args) -> int:
    """`nqa evaluate --examples F --pred P [--verbose]`: print the accuracy by the official rules."""
    try:
        examples = read_examples(args.examples)
        predictions = read_predictions(args.pred)
    except (OSError, ValueError) as e:
        print(f"nqa evaluate: {e}", file=sys.stderr)
        return 2
    result = evaluate({ex.id: ex.targets for ex in examples}, predictions)
    if getattr(args, "verbose", False):
        for ex_id, target, pred in result.wrong:
            print(f"WRONG {ex_id}\ttarget={target}\tpredicted={pred if pred else '(missing)'}")
    print(f"Examples: {result.n_examples}")
    print(f"Correct: {result.n_correct}")
    print(f"Missing predictions (counted wrong): {result.n_missing}")
    if result.n_unknown:
        print(f"Predictions for unknown ids (ignored): {result.n_unknown}")
    print(f"Accuracy: {result.accuracy:.4f}")
    kinds = _kinds(args.examples)
    if kinds:  # a file with a `kind` column (the user-question benchmark): accuracy per kind
        wrong = {w[0] for w in result.wrong}
        per: dict[str, list[int]] = {}
        for ex in examples:
            per.setdefault(kinds.get(ex.id, "?"), []).append(ex.id not in wrong)
        print("Per kind:")
        for kind in sorted(per):
            ok = per[kind]
            print(f"  {kind:<16} {sum(ok):>4}/{len(ok):<4} {sum(ok) / len(ok):.3f}")
    return 0


def _kinds(path: str) -> dict[str, str]:
    """id -> kind when the examples file has a `kind` column, else {}."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if "kind" not in header or "id" not in header:
            return {}
        i, k = header.index("id"), header.index("kind")
        return {fields[i]: fields[k] for fields in (line.rstrip("\r\n").split("\t") for line in f)
                if len(fields) > max(i, k)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nqa.wtq", description=__doc__.split("\n")[0])
    p.add_argument("--root", default=None, help=f"dataset folder (default: ${ENV_ROOT} or ../shared/...)")
    p.add_argument("--examples", default="data/training.tsv", help="examples file, relative to the root")
    p.add_argument("--coverage", action="store_true", help="report answer coverage")
    p.add_argument("--cell-types", action="store_true", help="report how the examples' tables' cells are typed")
    args = p.parse_args(argv)
    try:
        root = resolve_root(args.root)
        examples = read_examples(root / args.examples)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.cell_types:
        print(cell_types(sorted({e.context for e in examples}), root).report())
    if args.coverage:
        print(coverage(examples, root).report())
    if not (args.coverage or args.cell_types):
        print(f"{len(examples)} examples on {len({e.context for e in examples})} tables")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
