"""What an ensemble of trained models would answer: accuracy of each model and of their answer-level vote.

    python -m training.ensemble_eval --examples EXAMPLES.tsv --tables-root ROOT --models DIR [DIR ...]

An offline measurement, not a product path (the API answers with one model). Each model decodes its
top-4 programs and scores the distinct answers they give with its own reranker (nqa.reranker); the
scores become a distribution over answers (softmax; a model without a reranker puts all its mass on
execution-guided decoding's answer), and the ensemble answers what the summed distributions favour.
Members share nothing here; in a product the frozen MiniLM pass (about 2 of the ~5 ms a question
takes) would be shared, each member adding its projections, decoding and runs (~2 ms).
Prints one JSON line: per model and ensemble, right answers of the examples (official WTQ rules).
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def answer_distribution(qa, table, question, beam) -> dict[tuple, tuple[float, list[str]]]:
    """{normalised answer: (probability, values)} for one model's beam on one question."""
    import numpy as np

    from nqa.executor import run_programs
    from nqa.reranker import candidate_features, candidates, question_kind
    from nqa.table import normalize_text

    runs = run_programs(beam, table, question)
    cands = candidates(beam, runs)
    if not cands:
        return {}
    if qa.reranker is not None and len(cands) > 1:
        kind = question_kind(question.text)
        x = np.stack([candidate_features(c, cands, beam, question, table, kind) for c in cands])
        s = qa.reranker.scores(x)
        p = np.exp(s - s.max())
        p /= p.sum()
    else:
        p = np.zeros(len(cands))
        p[0] = 1.0
    return {tuple(sorted(normalize_text(v) for v in c.values)): (float(pi), c.values) for c, pi in zip(cands, p)}


def vote(dists: list[dict[tuple, tuple[float, list[str]]]]) -> list[str]:
    """The answer with the largest summed probability (first seen wins a tie)."""
    total: dict[tuple, list] = {}
    for d in dists:
        for key, (p, values) in d.items():
            total.setdefault(key, [0.0, values])[0] += p
    return max(total.values(), key=lambda pv: pv[0])[1] if total else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", required=True)
    p.add_argument("--tables-root", required=True)
    p.add_argument("--models", nargs="+", required=True, help="checkpoint directories")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)

    import torch
    from tqdm import tqdm

    from nqa.evaluation import is_correct, tsv_unescape_list
    from nqa.predict import _load_table, decode_batch, load_qa, read_examples
    from nqa.question import parse_question

    torch.set_num_threads(a.threads)
    examples = read_examples(a.examples)
    with open(a.examples, encoding="utf-8") as f:
        gold = {r["id"]: tsv_unescape_list(r["targetValue"])
                for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}
    qas = [load_qa(m) for m in a.models]
    by_table: dict[str, list] = {}
    for ex in examples:
        by_table.setdefault(ex.context, []).append(ex)
    right = [0] * len(qas)
    right_vote = 0
    for context, group in tqdm(by_table.items(), desc="tables", unit="table"):
        table = _load_table(Path(a.tables_root) / context)
        questions = [parse_question(ex.question, table) for ex in group]
        per_model = []
        for qa in qas:
            beams = decode_batch(qa.model, [table] * len(questions), questions, 4)
            per_model.append([answer_distribution(qa, table, q, b) for q, b in zip(questions, beams)])
        for i, ex in enumerate(group):
            dists = [pm[i] for pm in per_model]
            for j, d in enumerate(dists):
                best = max(d.values(), key=lambda pv: pv[0])[1] if d else []
                right[j] += is_correct(gold[ex.id], best)
            right_vote += is_correct(gold[ex.id], vote(dists))
    print(json.dumps({"examples": len(examples), "models": dict(zip(a.models, right)), "ensemble": right_vote}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
