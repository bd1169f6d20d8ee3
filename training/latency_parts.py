"""Where one question's time goes: median milliseconds per stage of `TableQA.ask` on WTQ dev questions.

    python -m training.latency_parts [--questions 200] [--threads 1] [--model DIR] [--repeats 3]

Stages, in the order `ask` runs them: parse the question, build features and word pieces, the
MiniLM pass (question + headers the cache lacks), the projections into the programmer, decoding
(the greedy program and the top-k beam, k as `ask` uses it, in one pass); then `ask` end to end
(which adds running the programs and building the Answer and its SQL). With an ensemble checkpoint
(nqa/ensemble.py) the projections and decoding stages are those of all its models together. The same seeded sample of
questions as `nqa bench`, so the figures add up to its latency. Each stage's figure is the lowest of
`--repeats` passes' medians (the header cache emptied before each pass, as a fresh server would have
it): on a shared VM one pass's median moves by ~20%, and the lowest is the least disturbed. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped model)")
    p.add_argument("--repeats", type=int, default=3, help="passes over the questions; the lowest median is kept")
    a = p.parse_args(argv)

    import torch

    from nqa.api import TableQA
    from nqa.bench import BenchConfig, load_wtq_sample
    from nqa.decode import _beam
    from nqa.features import build_features, collate
    from nqa.question import parse_question

    torch.set_num_threads(a.threads)
    sample = load_wtq_sample(BenchConfig(questions=a.questions))
    pairs = list(zip(sample.tables, sample.questions))
    qa = TableQA.from_pretrained(a.model)
    model, k = qa.model, qa.top_k
    stages = ("parse", "features", "encoder", "projections", "decode", "ask_end_to_end")
    best = {s: float("inf") for s in stages}
    for table, text in pairs:  # warm-up: first calls allocate
        qa.ask(table, text)
    for _ in range(max(1, a.repeats)):
        parts: dict[str, list[float]] = {s: [] for s in stages}
        model.encoder.__dict__.pop("_name_cache", None)
        for table, text in pairs:
            t = [time.perf_counter()]
            question = parse_question(text, table)
            t.append(time.perf_counter())
            with torch.inference_mode():
                batch = collate([build_features(table, question, with_rows=False)])
                t.append(time.perf_counter())
                encoded = model.encode(batch)
                t.append(time.perf_counter())
                ctxs = [m.context(batch, encoded) for m in qa.models]  # an ensemble's members share `encoded`
                t.append(time.perf_counter())
                for m, ctx in zip(qa.models, ctxs):
                    _beam(m, ctx, table, question, k, max(k, 4), 3, with_greedy=True)  # as decode_programs for ask's k
                t.append(time.perf_counter())
            for s, t0, t1 in zip(stages, t, t[1:]):
                parts[s].append(t1 - t0)
        model.encoder.__dict__.pop("_name_cache", None)
        for table, text in pairs:
            t0 = time.perf_counter()
            qa.ask(table, text)
            parts["ask_end_to_end"].append(time.perf_counter() - t0)
        for s, v in parts.items():
            best[s] = min(best[s], statistics.median(v))
    out = {s: round(1000 * v, 2) for s, v in best.items()}
    print(json.dumps({"median_ms": out, "questions": len(pairs), "models": len(qa.models),
                      "threads": torch.get_num_threads(),
                      "repeats": a.repeats,
                      "encoder_dtype": str(model.encoder.fast.dtype) if model.encoder.fast else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
