"""The usual pick for table QA, as `nqa bench`'s baseline: TAPAS-base with random weights.

`TapasConfig()` (base size, 110M parameters) and `TapasForQuestionAnswering` with random weights
(speed does not depend on the weights, and nothing is downloaded), a `TapasTokenizer` over MiniLM's
vocab.txt (both are BERT-uncased WordPiece vocabularies). Latency = tokenise + forward, on exactly the
questions nqa answered. TAPAS reads at most 512 tokens: rows past that are dropped silently (and the
rows kept may be cut to their first tokens); both are counted.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from nqa.bench_stats import summary_ms

TAPAS_MAX_TOKENS = 512



def minilm_vocab() -> Path:
    from nqa.encoder import pretrained_dir

    return Path(pretrained_dir()) / "vocab.txt"


def tapas_config(size: str, vocab_size: int):
    """TAPAS config; vocab_size is the tokenizer's: it adds TAPAS' [EMPTY] token (id 30522), which
    MiniLM's vocab lacks, so the embedding needs one more row than TapasConfig()'s 30522."""
    from transformers import TapasConfig

    if size == "base":
        return TapasConfig(vocab_size=vocab_size)  # BERT-base: 12 layers, 768 hidden, 110M parameters
    if size == "tiny":  # for the smoke test only: never reported as TAPAS-base
        return TapasConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64)
    raise ValueError(f"tapas size {size!r}: use base or tiny")


def tapas_frame(table):
    """The table as TAPAS takes it: a DataFrame of strings (the raw cell texts nqa read)."""
    import pandas as pd

    return pd.DataFrame({c.name: list(c.raw) for c in table.columns}).astype(str)


def bench_tapas(sample, n: int, size: str, between=None, times: int = 0) -> dict:
    """TAPAS on the first `n` (table, question) pairs of `sample` (a nqa.bench.WTQSample).
    between: called (untimed) `times` times, evenly spaced through the run: `nqa bench` runs its nqa
    passes there, so that both see the machine in the same state."""
    import torch
    from tqdm import tqdm
    from transformers import TapasForQuestionAnswering, TapasTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the tokenizer warns on every truncated table; we count them
    t0 = time.perf_counter()
    tokenizer = TapasTokenizer(vocab_file=str(minilm_vocab()))
    torch.manual_seed(0)
    model = TapasForQuestionAnswering(tapas_config(size, len(tokenizer))).eval()
    init_s = time.perf_counter() - t0
    # The tokenizer ranks numeric columns over ALL rows before dropping any, so a column with more than
    # 255 distinct numbers yields rank ids past TAPAS' 256-entry embedding (an IndexError); clamp them.
    limits = torch.tensor(model.config.type_vocab_sizes) - 1
    clamped = lossy = 0
    frames: dict[int, object] = {}
    lat, cpu, tok_lat, fwd_lat, truncated, rows_total, rows_kept, tables_seen = [], [], [], [], 0, 0, 0, set()
    pairs = list(zip(sample.tables, sample.questions))[:n]
    with torch.inference_mode():
        for t, q in pairs[:2]:  # warm-up
            enc = tokenizer(table=tapas_frame(t), queries=[q], truncation=True, return_tensors="pt")
            model(**{**enc, "token_type_ids": torch.minimum(enc["token_type_ids"], limits)})
        stops = [round(len(pairs) * (j + 1) / (times + 1)) for j in range(times)] if between else []
        for i, (t, q) in enumerate(tqdm(pairs, desc=f"TAPAS-{size} (WTQ)", file=sys.stderr)):
            for _ in range(stops.count(i)):
                between()
            frame = frames.setdefault(id(t), tapas_frame(t))
            c0, t0 = time.process_time(), time.perf_counter()
            enc = tokenizer(table=frame, queries=[q], truncation=True, max_length=TAPAS_MAX_TOKENS,
                            return_tensors="pt")
            tt = enc["token_type_ids"]
            enc["token_type_ids"] = torch.minimum(tt, limits)  # see `limits` above
            t1 = time.perf_counter()
            model(**enc)
            t2 = time.perf_counter()
            lat.append(t2 - t0)
            cpu.append(time.process_time() - c0)
            tok_lat.append(t1 - t0)
            fwd_lat.append(t2 - t1)
            clamped += bool((tt > limits).any())
            if id(t) not in tables_seen:  # truncation is per table (the question is short)
                tables_seen.add(id(t))
                kept = int(tt[0, :, 2].max())  # row ids run 1..rows kept
                rows_total += t.n_rows
                rows_kept += min(kept, t.n_rows)
                truncated += kept < t.n_rows
                full = tokenizer(table=frame, queries=q, truncation=False)["input_ids"]  # one flat list
                lossy += len(full) > TAPAS_MAX_TOKENS  # rows dropped or cells cut to their first tokens
    n_tables = len(tables_seen)
    return {
        "size": size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "init_s": round(init_s, 2),
        "latency": summary_ms(lat),
        "cpu_time": summary_ms(cpu),
        "latency_s": lat,
        "cpu_s": cpu,
        "tokenize": summary_ms(tok_lat),
        "forward": summary_ms(fwd_lat),
        "tables": n_tables,
        "tables_truncated": truncated,
        "share_tables_truncated": round(truncated / max(1, n_tables), 4),
        "share_rows_dropped": round(1 - rows_kept / max(1, rows_total), 4),
        "tables_over_512_tokens": lossy,
        "share_tables_over_512_tokens": round(lossy / max(1, n_tables), 4),
        "questions_with_clamped_rank_ids": clamped,
    }
