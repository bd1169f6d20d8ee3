"""Fit the answer reranker (nqa.reranker) on training questions over tables the deciding model never saw.

    python -m nqa.training.fit_reranker --fold-models runs/f0/best runs/f1/best --model nqa/checkpoints

Fold model k was trained with `--held_out_fold=k/n` (n = the number of fold models): it never saw
the tables of fold k, so its beam on fold k's training questions looks like the shipped model's beam
on a new table (on its own training questions a model's first program is nearly always right, and a
reranker fitted there would learn to trust it). The fit is a conditional logit over each question's
distinct answers (softmax over them; the loss is −log of the mass on the right ones), L2-regularised.
It reports, per fold, the accuracy of execution-guided decoding and of the reranker fitted on the
other folds, then writes the reranker fitted on all folds into --model's config.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from nqa.question import Question
    from nqa.table import Table


@dataclass
class Questions:
    """Every fold question's candidate answers: features (N, F), right (N,), question index (N,),
    plus per question its fold, its source (0: WTQ, 1: generated) and whether execution-guided
    decoding got it right."""

    x: np.ndarray
    right: np.ndarray
    group: np.ndarray
    fold: np.ndarray  # (Q,)
    source: np.ndarray  # (Q,)
    baseline_right: np.ndarray  # (Q,)


SOURCES = ("WTQ", "generated")


def collect(fold_models: list[str], wtq_root: Path, split: str, top_k: int, limit: int = 0,
            generated_per_table: int = 8, progress: bool = True) -> Questions:
    """Fold k's model decodes fold k's training questions and, on the same tables, questions in the
    user benchmark's training phrasings (nqa.training.generated): the kinds WTQ has few of, which a
    reranker fitted on WTQ alone would learn to give up on."""
    from tqdm import tqdm

    from nqa.api import TableQA
    from nqa.evaluation import is_correct
    from nqa.executor import choose_run, run_programs
    from nqa.predict import decode_batch
    from nqa.question import parse_question
    from nqa.reranker import candidate_features, candidates, question_kind
    from nqa.training.data import load_wtq_table, read_examples
    from nqa.training.generated import wtq_table_examples
    from nqa.training.train import in_fold

    examples = read_examples(wtq_root / "data" / f"{split}.tsv")
    if limit:
        examples = examples[:limit]
    n = len(fold_models)
    xs, rights, groups, folds, sources, base = [], [], [], [], [], []
    for k, path in enumerate(fold_models):
        model = TableQA.from_pretrained(path).model
        asked: list[tuple[tuple[str, ...], Table, Question, int]] = []  # (answers, table, question, source)
        tables: dict[str, Table | None] = {}
        for ex in examples:
            if not in_fold(str(wtq_root / ex.context), f"{k}/{n}"):
                continue
            if ex.context not in tables:
                try:
                    tables[ex.context] = load_wtq_table(str(wtq_root / ex.context))
                except ValueError:
                    tables[ex.context] = None
            t = tables[ex.context]
            if t is not None and t.n_rows:
                asked.append((tuple(ex.answers), t, parse_question(ex.question, t), 0))
        if generated_per_table:
            fold_tables = [t for t in tables.values() if t is not None]
            asked += [(a, t, q, 1) for _i, a, t, q, _p, _k in
                      wtq_table_examples(fold_tables, generated_per_table, seed=1000 + k, augment=True)]
        for start in tqdm(range(0, len(asked), 64), desc=f"fold {k}/{n}", disable=not progress, mininterval=10):
            part = asked[start:start + 64]
            beams = decode_batch(model, [p[1] for p in part], [p[2] for p in part], top_k)
            for (answers, t, q, source), beam in zip(part, beams):
                runs = run_programs(beam, t, q)
                c = choose_run(runs)
                ran = runs[c] if c is not None else None
                base.append(bool(ran is not None and ran.values and is_correct(list(answers), ran.values)))
                folds.append(k)
                sources.append(source)
                cands = candidates(beam, runs)
                kind = question_kind(q.text)
                for cand in cands:
                    xs.append(candidate_features(cand, cands, beam, q, t, kind))
                    rights.append(is_correct(list(answers), cand.values))
                    groups.append(len(folds) - 1)
    return Questions(np.array(xs), np.array(rights, dtype=bool), np.array(groups), np.array(folds),
                     np.array(sources), np.array(base, dtype=bool))


def fit(x: np.ndarray, right: np.ndarray, group: np.ndarray, l2: float = 1e-2,
        group_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conditional logit weights (on standardised features), the means and the scales. Questions
    whose candidates are all right or all wrong carry no signal and are left out. group_weight:
    per question (indexed by `group`), e.g. to weigh sources the same."""
    keep = np.zeros(len(group), dtype=bool)
    for g in np.unique(group):
        idx = group == g
        keep[idx] = right[idx].any() and not right[idx].all()
    kept_groups, inverse = np.unique(group[keep], return_inverse=True)
    weight = np.ones(len(kept_groups)) if group_weight is None else group_weight[kept_groups]
    x, right, group = x[keep], right[keep], inverse
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0
    xs = torch.tensor((x - mean) / scale, dtype=torch.float64)
    r = torch.tensor(right)
    g = torch.tensor(group)
    n_groups = int(group.max()) + 1 if len(group) else 0
    gw = torch.tensor(weight, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=500, tolerance_grad=1e-10, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def group_logsumexp(s: torch.Tensor) -> torch.Tensor:
        top = torch.full((n_groups,), -math.inf, dtype=s.dtype).scatter_reduce(0, g, s, "amax")
        return top + torch.zeros(n_groups, dtype=s.dtype).index_add(0, g, torch.exp(s - top[g])).log()

    def closure():
        opt.zero_grad()
        s = xs @ w
        per_question = group_logsumexp(s) - group_logsumexp(s.masked_fill(~r, -math.inf))
        loss = (per_question * gw).sum() / gw.sum() + l2 * (w * w).sum()
        loss.backward()
        return loss

    if n_groups:
        opt.step(closure)
    return w.detach().numpy(), mean, scale


def chosen_right(q: Questions, w: np.ndarray, mean: np.ndarray, scale: np.ndarray, mask: np.ndarray) -> int:
    """How many of the questions in `mask` the reranker answers right (no candidate: wrong)."""
    s = ((q.x - mean) / scale) @ w
    best: dict[int, tuple[float, bool]] = {}
    for i, g in enumerate(q.group):
        if mask[g] and (g not in best or s[i] > best[g][0]):
            best[g] = (s[i], bool(q.right[i]))
    return sum(1 for _, ok in best.values() if ok)


def main(argv: list[str] | None = None) -> int:
    from nqa.reranker import FEATURES, Reranker
    from nqa.training.data import default_wtq_root

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fold-models", nargs="+", required=True, help="fold k's model: trained with held_out_fold=k/n")
    ap.add_argument("--model", default="", help="checkpoint whose config.json gets the reranker (none: report only)")
    ap.add_argument("--split", default="random-split-1-train", help="the training questions the folds split")
    ap.add_argument("--wtq-root", default="")
    ap.add_argument("--top-k", type=int, default=4, help="programs decoded per question, as TableQA.top_k")
    ap.add_argument("--l2", type=float, default=1e-2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--generated-per-table", type=int, default=8,
                    help="questions in the benchmark's training phrasings tried per fold table (0: WTQ only)")
    ap.add_argument("--cache", default="", help=".npz: reuse (or write) the collected candidates")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    root = Path(a.wtq_root) if a.wtq_root else default_wtq_root()
    if a.cache and Path(a.cache).exists():
        z = np.load(a.cache)
        q = Questions(*(z[f.name] for f in dataclasses.fields(Questions)))
    else:
        q = collect(a.fold_models, root, a.split, a.top_k, a.limit, a.generated_per_table)
        if a.cache:
            np.savez(a.cache, **dataclasses.asdict(q))
    # each source weighs the same in the fit, as in calibration (nqa.training.calibrate)
    counts = np.bincount(q.source, minlength=len(SOURCES)).astype(float)
    group_weight = 1.0 / counts[q.source]
    report: dict = {"candidates": int(len(q.x)), "folds": []}
    n = len(a.fold_models)
    oracle = np.zeros(len(q.fold), dtype=bool)
    oracle[q.group[q.right]] = True
    for k in range(n):
        test = q.fold == k
        train_rows = ~test[q.group]
        w, mean, scale = fit(q.x[train_rows], q.right[train_rows], q.group[train_rows], a.l2, group_weight)
        for src, name in enumerate(SOURCES):
            mask = test & (q.source == src)
            if mask.any():
                report["folds"].append({"fold": k, "source": name, "questions": int(mask.sum()),
                                        "oracle": int(oracle[mask].sum()),
                                        "execution_guided": int(q.baseline_right[mask].sum()),
                                        "reranked": chosen_right(q, w, mean, scale, mask)})
    w, mean, scale = fit(q.x, q.right, q.group, a.l2, group_weight)
    report["weights"] = {f: round(float(v), 3) for f, v in zip(FEATURES, w)}
    if a.model:
        reranker = Reranker(list(map(float, w)), [], list(map(float, mean)), list(map(float, scale)))
        from nqa.api import update_config

        update_config(a.model, "reranker", reranker.to_config())
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
