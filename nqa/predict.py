"""`nqa predict`: answer a WTQ-format examples file, in the official evaluator's prediction format.

    nqa predict --examples test.tsv --tables-root WTQ_ROOT --out pred.tsv [--sql-out sql.jsonl]

One line per example, in input order: `id<TAB>item1<TAB>item2...` (items TSV-escaped: newline
\\n, backslash \\\\, pipe \\p); an example whose table cannot be read, or whose program gives no
answer, gets its id alone (counted wrong, never dropped). Fast path: each table is read once, the
questions are decoded in batches, and the answer is the most probable decoded program among the
top-k whose exact execution gives a non-empty answer (the rule `TableQA` uses).
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nqa.evaluation import tsv_escape, tsv_unescape
from nqa.program import Program
from nqa.question import Question
from nqa.table import Table
from nqa.wtq import Example, load_wtq_table


class PredictError(ValueError):
    """Bad input to `nqa predict` (missing file, malformed examples TSV)."""


@dataclass
class PredExample:
    id: str
    question: str
    context: str


# WTQ's TSV escapes, one implementation for the reader, the evaluator and this writer. Tabs inside an
# answer item would split it, so tsv_escape turns them into spaces.
escape_item = tsv_escape


def read_examples(path: str | os.PathLike) -> list[PredExample]:
    """id, utterance, context from a WTQ examples TSV (targetValue, if present, is ignored)."""
    p = Path(path)
    if not p.is_file():
        raise PredictError(f"{p}: no such examples file")
    with open(p, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        need = ("id", "utterance", "context")
        if not all(h in header for h in need):
            raise PredictError(f"{p}: the header must have columns {need}, got {header}")
        col = {h: i for i, h in enumerate(header)}
        out = []
        for n, line in enumerate(f, start=2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < len(header) - (1 if "targetValue" in col else 0):
                raise PredictError(f"{p}:{n}: expected {len(header)} tab-separated fields, got {len(parts)}")
            out.append(PredExample(parts[col["id"]], tsv_unescape(parts[col["utterance"]]), parts[col["context"]]))
    return out


def _load_table(path: Path):
    return load_wtq_table(str(path))


def load_model(model_dir: str | None):
    """The model: `model_dir`, else the shipped one (nqa/checkpoints), through TableQA's loader."""
    return load_qa(model_dir).model


def load_qa(model_dir: str | None):
    from nqa.api import TableQA

    return TableQA.from_pretrained(model_dir)


def decode_batch(model, tables: list, questions: list, k: int) -> list[list[Program]]:
    """Top-k programs per example (most probable first); the encoder runs once per batch."""
    import torch

    with torch.inference_mode():
        return model.decode_batch(tables, questions, k=k)


def best_answers(model, tables: list, questions: list, top_k: int, reranker=None, members: Sequence = ()
                 ) -> list[tuple[Program, Any, float] | None]:
    """Per question: the program the shared rule picks from the top-k beam (nqa.ensemble.decide:
    with one model its reranker, else execution-guided decoding; with `members`, (model, reranker)
    pairs voting with it, their vote), its Execution and the answer's raw confidence
    (nqa.ensemble.raw_confidence); None when no program runs. `nqa predict` and calibration answer
    batches this way, as `TableQA.ask` answers one question."""
    from nqa.ensemble import decide, decode, raw_confidence
    from nqa.executor import run_programs

    models = [model] + [m for m, _ in members]
    rerankers = [reranker] + [r for _, r in members]
    out: list[tuple[Program, Any, float] | None] = []
    for t, q, beams in zip(tables, questions, decode(models, tables, questions, top_k)):
        runs = [run_programs(beam, t, q) for beam in beams]
        d = decide(beams, runs, q, t, rerankers)
        if d is None:
            out.append(None)
            continue
        ex = runs[d.member][d.index]
        assert ex is not None  # decide picks a program that ran
        out.append((beams[d.member][d.index], ex, raw_confidence(beams, runs, ex.values, d.agreement)))
    return out


def predict(examples: Sequence[PredExample | Example], tables_root: Path, model, batch_size: int = 64, top_k: int = 4,
            progress: bool = True, calibration=None, reranker=None, members: Sequence = ()) -> list[tuple]:
    """(id, answer items, table, question, program, raw confidence, calibrated confidence, unsure
    reason) per example, in input order (the same answer, confidence and reason `TableQA.ask` gives)."""
    from nqa.unsure import Calibration, unsure_reason

    calibration = calibration or Calibration()
    from tqdm import tqdm

    from nqa.question import parse_question

    by_table: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_table.setdefault(ex.context, []).append(i)
    results: list = [None] * len(examples)
    pending: list[tuple[int, Table, Question]] = []

    def flush() -> None:
        if not pending:
            return
        answers = best_answers(model, [t for _, t, _ in pending], [q for _, _, q in pending], top_k, reranker,
                               members)
        for (i, t, q), best in zip(pending, answers):
            if best is None:
                results[i] = (examples[i].id, [], t, q, None, 0.0, 0.0, "no program runs on this table")
                continue
            program, ex, raw = best
            conf = calibration.of_answer(raw, program, q, t, ex.values)
            results[i] = (examples[i].id, ex.values, t, q, program, raw, conf, unsure_reason(q, t, conf, calibration))
        pending.clear()

    bar = tqdm(total=len(examples), desc="predict", disable=not progress, mininterval=5)
    for ctx, idxs in by_table.items():
        try:
            table = _load_table(tables_root / ctx)
            if table.n_rows == 0:
                raise ValueError("no rows")
        except (ValueError, OSError):
            for i in idxs:
                results[i] = (examples[i].id, [], None, None, None, 0.0, 0.0, "the table cannot be read")
            bar.update(len(idxs))
            continue
        for i in idxs:
            pending.append((i, table, parse_question(examples[i].question, table)))
            if len(pending) >= batch_size:
                n = len(pending)
                flush()
                bar.update(n)
        # keep batching across tables: one table rarely fills a batch
    n = len(pending)
    flush()
    bar.update(n)
    bar.close()
    return results


def cli_predict(args) -> int:
    t0 = time.time()
    examples = read_examples(args.examples)
    root = Path(args.tables_root)
    if not root.is_dir():
        raise PredictError(f"{root}: the tables root is not a directory")
    qa = load_qa(getattr(args, "model", None))
    results = predict(examples, root, qa.model, batch_size=getattr(args, "batch_size", 64) or 64,
                      progress=sys.stderr.isatty(), calibration=qa.calibration, reranker=qa.reranker,
                      members=qa.members)
    abstain = getattr(args, "abstain", False)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for ex_id, values, *rest in results:
            if abstain and rest[-1]:  # unsure: no answer rather than a doubtful one
                values = []
            f.write("\t".join([ex_id] + [escape_item(v) for v in values]) + "\n")
    os.replace(tmp, out)
    if getattr(args, "confidence_out", None):
        with open(args.confidence_out, "w", encoding="utf-8") as f:
            f.write("id\traw_confidence\tconfidence\tunsure\n")
            for ex_id, _values, _t, _q, _p, raw, conf, reason in results:
                f.write(f"{ex_id}\t{raw:.6f}\t{conf:.6f}\t{(reason or '').replace(chr(9), ' ')}\n")
    if getattr(args, "sql_out", None):
        from nqa.sql import sql_record

        sql_path = Path(args.sql_out)
        sql_path.parent.mkdir(parents=True, exist_ok=True)
        with open(sql_path, "w", encoding="utf-8") as f:
            for ex_id, values, table, question, program, *_ in results:
                if program is None:
                    rec = {"id": ex_id, "answer": values, "sql": None, "setup_sql": None}
                else:
                    rec = sql_record(ex_id, table, program, values, question=question)
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    answered = sum(1 for r in results if r[1])
    print(f"predicted {len(results)} examples ({answered} with an answer) in {time.time() - t0:.1f}s -> {out}",
          file=sys.stderr)
    return 0
