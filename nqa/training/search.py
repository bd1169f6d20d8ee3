"""Offline program search: the short programs whose exact execution gives each training answer.

Why: weak supervision (answers only) gives the model a needle-in-a-haystack signal; enumerating the
programs consistent with each answer once, offline, turns it into a marginal-likelihood target over a
small candidate set (the lever of MAPO and iterative-search parsers, see DESIGN.md).

How: breadth-first over DISTINCT row selections. A state is a selection (bool per row), keyed by its
bytes; each state keeps the few shortest programs that reach it. Up to `max_steps` selection ops
(docs/ops.md, exact versions from nqa.ops), then every terminal op on every distinct state, checked
against the gold answer by the official WTQ rules. Candidates are ranked (shorter first, filters on
columns the question names, fewer ops without evidence in the question) and capped.

Run: python -m nqa.training.search --split random-split-1-train [--workers 2] [--max-steps 3]
It caches JSON lines under runs/search/ (one object per example: id, programs, coverage flags).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nqa import ops
from nqa.program import Program, Step, format_number
from nqa.question import Question, column_match, match_matrix, parse_question
from nqa.table import Table
from nqa.training.data import runs_dir

CACHE_DIR = runs_dir() / "search"

# A searched program in its cache form: a tuple of (op, column, constant) triples, the last terminal.
StepT = tuple[str, int | None, int | None]
ProgramT = tuple[StepT, ...]


@dataclass
class SearchConfig:
    max_steps: int = 3  # selection steps before the terminal op (DESIGN.md: 3 reaches ~83% of dev)
    max_candidates: int = 48  # consistent programs kept per example (MML target set)
    keep_per_state: int = 2  # shortest programs remembered per distinct selection
    max_states: int = 3000  # distinct selections explored per example (bounds time on wide tables)


# ---------------------------------------------------------------------------------------------
# answers


def _answer_checker(gold: list[str]):
    """A function list[str] -> bool: whether predicted items equal the gold ones (official rules)."""
    from nqa.training.data import answer_checker

    return answer_checker(gold)


# ---------------------------------------------------------------------------------------------
# the search for one example


def _column_codes(texts: list[str]) -> np.ndarray:
    """Integer code per normalised cell text (-1 for empty), codes in order of first appearance."""
    seen: dict[str, int] = {}
    out = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        out[i] = -1 if not t else seen.setdefault(t, len(seen))
    return out


def _mfe(s: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """exact_mfe on integer codes (same tie rule: earliest first selected occurrence wins)."""
    sel = s & (codes >= 0)
    if not sel.any():
        return np.zeros_like(s)
    c = codes[sel]
    counts = np.bincount(c)
    best_count = counts.max()
    for code in c:  # first selected occurrence order
        if counts[code] == best_count:
            return s & (codes == code)
    return np.zeros_like(s)  # pragma: no cover


class ExampleSearch:
    """All the per-example precomputation, then `run()`."""

    def __init__(self, table: Table, question: Question, gold: list[str], cfg: SearchConfig):
        self.t, self.q, self.cfg = table, question, cfg
        self.n = table.n_rows
        self.match = match_matrix(question, table)  # (K, rows, cols)
        self.check = _answer_checker(gold)
        self.col_in_q = column_match(question, table) > 0
        self.numeric = [j for j, c in enumerate(table.columns) if np.isfinite(c.values).sum() >= 1]
        self.codes = [_column_codes(c.text) for c in table.columns]
        self.repeats = [j for j in range(table.n_cols)
                        if (self.codes[j] >= 0).sum() > len(set(self.codes[j].tolist()) - {-1})]
        self.gold = gold
        self.gold_numbers = self._gold_numbers(gold)
        text_ks = [k for k, c in enumerate(question.constants) if c.kind == "text"]
        # Static masks: filters that do not depend on the current selection (op, col, const, mask).
        self.static: list[tuple[StepT, np.ndarray]] = []
        for k in range(len(question.constants)):
            for j in range(table.n_cols):
                m = self.match[k, :, j]
                if m.any():
                    self.static.append((("filter_eq", j, k), m))
        if len(text_ks) > 1:
            for j in range(table.n_cols):
                m = np.asarray(self.match[text_ks, :, j].any(axis=0))
                if m.any():
                    self.static.append((("filter_any", j, None), m))
        for k, c in enumerate(question.constants):
            if c.kind != "number":
                continue
            for j in self.numeric:
                col = table.columns[j]
                v = col.years if c.is_year and col.kind == "date" else col.values  # as the executor
                for op in ("filter_gt", "filter_ge", "filter_lt", "filter_le"):
                    m = ops.exact_compare(op, np.ones(self.n, bool), v, c.number)
                    if m.any() and not m.all():
                        self.static.append(((op, j, k), m))

    @staticmethod
    def _gold_numbers(gold: list[str]) -> float | None:
        if len(gold) != 1:
            return None
        g = gold[0].strip().replace(",", "")
        try:
            x = float(g)
        except ValueError:
            return None
        return x if np.isfinite(x) else None

    def _expand(self, s: np.ndarray):
        """Yield (step, selection) for every selection op applied to s (empty results skipped)."""
        for step, m in self.static:
            r = s & m
            if r.any():
                yield step, r
        for j in self.numeric:
            v = self.t.columns[j].values
            yield ("argmax", j, None), ops.exact_argmax(s, v)
            yield ("argmin", j, None), ops.exact_argmax(s, v, largest=False)
        yield ("first", None, None), ops.exact_first(s)
        yield ("last", None, None), ops.exact_first(s, last=True)
        yield ("previous", None, None), ops.exact_shift(s, -1)
        yield ("next", None, None), ops.exact_shift(s, +1)
        for j in self.repeats:
            yield ("mfe", j, None), _mfe(s, self.codes[j])

    def states(self) -> dict[bytes, tuple[np.ndarray, list[tuple[StepT, ...]]]]:
        """Distinct non-empty selections reachable in <= max_steps ops, with their shortest programs."""
        full = np.ones(self.n, dtype=bool)
        seen: dict[bytes, tuple[np.ndarray, list[tuple[StepT, ...]]]] = {full.tobytes(): (full, [()])}
        frontier = [full.tobytes()]
        for depth in range(1, self.cfg.max_steps + 1):
            new: list[bytes] = []
            for key in frontier:
                s, progs = seen[key]
                for step, r in self._expand(s):
                    if not r.any():
                        continue
                    rk = r.tobytes()
                    if rk in seen:
                        entry = seen[rk]
                        # same length programs may join (ties), longer ones never do
                        if entry[1] and len(entry[1][0]) == depth and len(entry[1]) < self.cfg.keep_per_state:
                            for p in progs:
                                if len(entry[1]) < self.cfg.keep_per_state and p + (step,) not in entry[1]:
                                    entry[1].append(p + (step,))
                        continue
                    if len(seen) >= self.cfg.max_states:
                        continue
                    seen[rk] = (r, [p + (step,) for p in progs][: self.cfg.keep_per_state])
                    new.append(rk)
            frontier = new
            if not frontier:
                break
        return seen

    def _prepare_terminals(self) -> None:
        """Precomputed for the terminal checks: which cells can be an answer item (print), and the
        numeric columns as one matrix (count/sum/avg/max/min/difference in one vectorised pass)."""
        from nqa.training.data import item_matcher

        ok = item_matcher(self.gold)
        memo: dict[str, bool] = {}
        self.cell_hit = [np.array([memo[r] if r in memo else memo.setdefault(r, ok(r)) for r in c.raw], dtype=bool)
                         for c in self.t.columns]
        self.V = np.stack([self.t.columns[j].values for j in self.numeric], axis=1) if self.numeric \
            else np.zeros((self.n, 0))

    def _terminals(self, s: np.ndarray):
        """Yield (terminal step, answer items) for the terminal ops that may give the gold answer
        (cheap necessary conditions first; the caller checks the answer by the official rules)."""
        n_sel = int(s.sum())
        g = self.gold_numbers
        if g is not None:
            if abs(n_sel - g) < 1e-6:
                yield ("count", None, None), [format_number(float(n_sel))]
            if self.numeric:
                V = self.V[s]  # (selected, numeric cols)
                valid = ~np.isnan(V)
                cnt = valid.sum(0)
                Z = np.where(valid, V, 0.0)
                sums = Z.sum(0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    res = {"sum": sums, "avg": sums / cnt,
                           "max": np.where(valid, V, -np.inf).max(0), "min": np.where(valid, V, np.inf).min(0)}
                for op in ("sum", "avg", "max", "min"):
                    if op in ("sum", "avg") and n_sel < 2:
                        continue  # equals print/max on one row: keep the simpler form only
                    for c in np.flatnonzero((cnt > 0) & (np.abs(res[op] - g) < 1e-6)):
                        yield (op, self.numeric[c], None), [format_number(float(res[op][c]))]
                for c in np.flatnonzero(cnt >= 2):
                    col = V[:, c][valid[:, c]]
                    x = abs(float(col[0]) - float(col[-1]))
                    if abs(x - g) < 1e-6:
                        yield ("difference", self.numeric[c], None), [format_number(x)]
        idx = None
        for j in range(self.t.n_cols):
            if not self.cell_hit[j][s].all():
                continue
            if idx is None:
                idx = np.flatnonzero(s)
            raw = self.t.columns[j].raw
            yield ("print", j, None), [raw[i] for i in idx]

    def _preference(self, prog: ProgramT) -> tuple:
        """Sort key: shorter first, then filters/ops on columns the question names, then fewer
        selection ops without a question constant."""
        n_sel = len(prog) - 1
        off_q = sum(1 for op, col, _ in prog if col is not None and not self.col_in_q[col])
        no_const = sum(1 for op, _, k in prog[:-1] if k is None)
        return (n_sel, off_q, no_const)

    def run(self) -> list[ProgramT]:
        self._prepare_terminals()
        found: list[ProgramT] = []
        answer_cache: dict[tuple, bool] = {}
        for s, progs in self.states().values():
            for term, vals in self._terminals(s):
                key = tuple(sorted(v.strip().lower() for v in vals))
                ok = answer_cache.get(key)
                if ok is None:
                    ok = answer_cache[key] = bool(vals) and self.check(vals)
                if ok:
                    found.extend(p + (term,) for p in progs)
        found.sort(key=self._preference)
        return found[: self.cfg.max_candidates]


def search_example(table: Table, question_text: str, gold: list[str], cfg: SearchConfig | None = None
                   ) -> tuple[Question, list[ProgramT]]:
    """The consistent programs for one example, best first (and the parsed question they index)."""
    cfg = cfg or SearchConfig()
    q = parse_question(question_text, table)
    return q, ExampleSearch(table, q, gold, cfg).run()


def to_program(prog: ProgramT, table: Table, question: Question) -> Program:
    """A cached program as a nqa Program (for the executor, SQL and the model's log-prob)."""
    steps = []
    for op, col, k in prog:
        steps.append(Step(op=op, column=col, column_name=table.columns[col].name if col is not None else None,
                          constant=k, constant_value=question.constants[k] if k is not None else None))
    return Program(steps)


# ---------------------------------------------------------------------------------------------
# dataset-level driver: multiprocessing over tables, JSON-lines cache


SEARCH_VERSION = 3  # bump when the search itself changes; table/question changes are handled at load (re-run
# programs that no longer fit are dropped), but programs they make consistent are found only by a
# new search. 3: closing "Total" rows left out of tables (nqa.table.footer_rows), ".500" read as 0.5


def _const_key(q: Question | None, k: int | None) -> list | None:
    """A constant by its content (kind, norm, number), so cached programs survive parser changes."""
    if k is None or q is None:
        return None
    c = q.constants[k]
    return [c.kind, c.norm, c.number]


def _search_group(args: tuple[str, list[dict], dict]) -> list[dict]:
    """One table's examples (run in a worker: the table is read once)."""
    from nqa.training.data import load_wtq_table

    table_path, examples, cfg_dict = args
    cfg = SearchConfig(**cfg_dict)
    out = []
    try:
        table = load_wtq_table(table_path)
    except Exception as e:  # a table we cannot read: no programs, counted as uncovered
        return [{"id": ex["id"], "programs": [], "error": f"table: {e}"} for ex in examples]
    for ex in examples:
        t0 = time.perf_counter()
        try:
            q, progs = search_example(table, ex["question"], ex["answers"], cfg)
            err = None
        except Exception as e:  # keep going; the example is reported as uncovered
            q, progs, err = None, [], repr(e)
        rec = {"id": ex["id"], "programs": [[[op, col, k, _const_key(q, k)] for op, col, k in p] for p in progs],
               "ms": round(1000 * (time.perf_counter() - t0), 1)}
        if err:
            rec["error"] = err
        out.append(rec)
    return out


def run_search(examples_path: str | Path, tables_root: str | Path, cfg: SearchConfig | None = None,
               workers: int = 2, limit: int | None = None, cache_dir: Path = CACHE_DIR,
               progress: bool = True) -> dict[str, list]:
    """Search every example of a WTQ TSV (cached); returns id -> cached programs (see load_cache)."""
    from nqa.training.data import read_examples

    cfg = cfg or SearchConfig()
    examples = read_examples(examples_path)
    if limit:
        examples = examples[:limit]
    tag = f"{Path(examples_path).stem}-s{cfg.max_steps}-c{cfg.max_candidates}-v{SEARCH_VERSION}"
    if limit:
        tag += f"-n{limit}"
    cache = Path(cache_dir) / f"{tag}.jsonl"
    if cache.exists():
        return load_cache(cache)
    groups: dict[str, list[dict]] = {}
    for ex in examples:
        groups.setdefault(ex.context, []).append(
            {"id": ex.id, "question": ex.question, "answers": list(ex.answers)})
    jobs = [(str(Path(tables_root) / ctx), exs, cfg.__dict__) for ctx, exs in groups.items()]
    jobs.sort(key=lambda j: -len(j[1]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # unique: DDP ranks may search at the same time
    results: dict[str, list[ProgramT]] = {}
    from tqdm import tqdm

    bar = tqdm(total=len(examples), desc=f"search {Path(examples_path).stem}", disable=not progress,
               mininterval=5)
    with open(tmp, "w") as f:
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as pool:
                it = pool.imap_unordered(_search_group, jobs, chunksize=1)
                _consume(it, f, results, bar)
        else:
            _consume(map(_search_group, jobs), f, results, bar)
    bar.close()
    os.replace(tmp, cache)
    return results


def _consume(it, f, results, bar) -> None:
    for recs in it:
        for r in recs:
            f.write(json.dumps(r) + "\n")
            results[r["id"]] = r["programs"]
        bar.update(len(recs))
        bar.set_postfix(coverage=f"{sum(1 for p in results.values() if p) / max(1, len(results)):.3f}")


def load_cache(path: Path) -> dict[str, list]:
    """id -> programs, each a list of [op, column, constant index, [kind, norm, number] | None]."""
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            out[r["id"]] = r["programs"]
    return out


def revalidate(cached: list, table: Table, question: Question, gold, limit: int = 0) -> list[ProgramT]:
    """Cached programs mapped onto the current parse of the question (constants found again by
    content), re-executed, and kept only when they still give the gold answer: the cache stays valid
    when the table or question code changes underneath it."""
    from nqa.executor import ProgramError, execute
    from nqa.training.data import answer_checker

    check = answer_checker(gold)
    index = {(c.kind, c.norm): k for k, c in enumerate(question.constants)}
    match = match_matrix(question, table)
    out: list[ProgramT] = []
    for prog in cached:
        steps: list[StepT] = []
        ok = True
        for op, col, k, key in prog:
            if key is not None:
                k = index.get((key[0], key[1]))
                if k is None:
                    ok = False
                    break
            if col is not None and col >= table.n_cols:
                ok = False
                break
            steps.append((op, col, k))
        if not ok:
            continue
        p = tuple(steps)
        try:
            ex = execute(to_program(p, table, question), table, question, match)
        except ProgramError:
            continue
        if ex.values and check(ex.values) and p not in out:
            out.append(p)
            if limit and len(out) >= limit:
                break
    return out


def main(argv: list[str] | None = None) -> int:
    from nqa.training.data import default_wtq_root

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", default="random-split-1-train", help="a file name in <wtq>/data without .tsv")
    p.add_argument("--wtq-root", default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=SearchConfig.max_steps)
    p.add_argument("--max-candidates", type=int, default=SearchConfig.max_candidates)
    p.add_argument("--limit", type=int, default=None)
    a = p.parse_args(argv)
    root = Path(a.wtq_root) if a.wtq_root else default_wtq_root()
    cfg = SearchConfig(max_steps=a.max_steps, max_candidates=a.max_candidates)
    t0 = time.time()
    res = run_search(root / "data" / f"{a.split}.tsv", root, cfg, workers=a.workers, limit=a.limit)
    cov = sum(1 for p in res.values() if p) / max(1, len(res))
    n_avg = sum(len(p) for p in res.values()) / max(1, len(res))
    print(f"{a.split}: {len(res)} examples, coverage {cov:.3f}, {n_avg:.1f} programs/example, "
          f"{time.time() - t0:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
