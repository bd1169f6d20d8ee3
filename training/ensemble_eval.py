"""Accuracy of each trained model alone and of their vote, on the product's own path (nqa/ensemble.py).

    python -m training.ensemble_eval --examples EXAMPLES.tsv --tables-root ROOT --models DIR [DIR ...]

Each DIR is a checkpoint; one with members (the shipped nqa/checkpoints) brings them all, in order.
Every model decodes its top-4 programs once; "alone" is what that model would answer by itself
(`decide` with one member: its reranker's choice), "vote" what they answer together (`decide` with
all of them), exactly as `nqa predict` and `TableQA.ask` would. It is how the members of the shipped
vote were chosen (training/README.md): prints one JSON line, right answers per model and for the vote
(official WTQ rules).
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", required=True)
    p.add_argument("--tables-root", required=True)
    p.add_argument("--models", nargs="+", required=True, help="checkpoint directories")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)

    import torch
    from tqdm import tqdm

    from nqa.ensemble import decide, decode
    from nqa.evaluation import is_correct, tsv_unescape_list
    from nqa.executor import run_programs
    from nqa.predict import _load_table, load_qa, read_examples
    from nqa.question import parse_question

    torch.set_num_threads(a.threads)
    examples = read_examples(a.examples)
    with open(a.examples, encoding="utf-8") as f:
        gold = {r["id"]: tsv_unescape_list(r["targetValue"])
                for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}
    names, models, rerankers = [], [], []
    for directory in a.models:
        qa = load_qa(directory)
        names += [directory] + [str(Path(directory) / f"member-{k}") for k in range(1, len(qa.members) + 1)]
        models += qa.models
        rerankers += qa.rerankers
    by_table: dict[str, list] = {}
    for ex in examples:
        by_table.setdefault(ex.context, []).append(ex)

    def answer(beams, runs, question, table, chosen_rerankers) -> list[str]:
        d = decide(beams, runs, question, table, chosen_rerankers)
        if d is None:
            return []
        ran = runs[d.member][d.index]
        return ran.values if ran is not None else []

    right = [0] * len(models)
    right_vote = 0
    for context, group in tqdm(by_table.items(), desc="tables", unit="table"):
        table = _load_table(Path(a.tables_root) / context)
        questions = [parse_question(ex.question, table) for ex in group]
        for ex, q, beams in zip(group, questions, decode(models, [table] * len(questions), questions, 4)):
            runs = [run_programs(beam, table, q) for beam in beams]
            for j in range(len(models)):
                right[j] += is_correct(gold[ex.id], answer([beams[j]], [runs[j]], q, table, [rerankers[j]]))
            right_vote += is_correct(gold[ex.id], answer(beams, runs, q, table, rerankers))
    print(json.dumps({"examples": len(examples), "models": dict(zip(names, right)), "vote": right_vote}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
