"""`nqa bench`: speed and memory of nqa against the usual pick (TAPAS-base), in one run on one machine.

    nqa bench [--model DIR] [--questions 200] [--tapas-questions N] [--scales 1000,10000,100000]
              [--threads 2] [--nqa-passes 5] [--quick] [--skip tapas,scale,train,load,engine]
              [--engine-rows 1000000,10000000]

What it measures (each figure in the final JSON line, which is the one to keep):

* WTQ latency: `TableQA.ask(table, question)` per question on real WikiTableQuestions dev tables
  (random-split-1-dev, a seeded sample), model loaded, tables already read (reading each CSV is
  timed apart). Median and p90 in ms, pooled over `--nqa-passes` passes (5), each on a freshly
  loaded model: one before TAPAS' run, one after it, the others evenly spaced through it. One pass
  takes ~1.5 s against TAPAS' ~90 s, and on a shared machine a few seconds of noise would otherwise
  move nqa's median alone. The median of each pass is reported too.
* TAPAS-base on the same questions: `TapasConfig()` (base size) and `TapasForQuestionAnswering`
  with RANDOM weights (no download: speed does not depend on the weights), a `TapasTokenizer` over
  MiniLM's vocab.txt (both are BERT-uncased WordPiece vocabularies). Latency = tokenise + forward.
  TAPAS silently drops table rows past 512 tokens: the share of tables truncated and of rows lost
  are reported. nqa reads every row.
* Throughput: questions/s with `ask_batch` (one table per question) against `ask` one by one.
* Scale: synthetic tables of 1k/10k/100k rows (5 columns: text, category, year, number, date), each in
  a fresh process: `load_table(DataFrame)` time, `ask` latency, and memory as the peak RSS delta
  sampled every 2 ms from /proc/self/statm (what the OS charges, torch's allocations included;
  tracemalloc misses those). Memory should grow linearly in rows.
* Engine: big Parquet files read in place by DuckDB (nqa/bench_engine.py): for each of
  `--engine-rows` (1M and 10M rows by default; add 100000000 for the 100M-row figure, ~2 GB of disk
  and several minutes), a fresh process generates the file, indexes it once and answers 5 questions:
  seconds to index, seconds per question, peak RSS.
* Model load: `TableQA.from_pretrained` in a fresh process (cold-ish: new process, warm file cache),
  with the import time apart.
* Training throughput: examples/s of `nqa train` on a small WTQ slice (its own metrics.csv,
  the first logging window dropped as warm-up), on CPU, and on CUDA when available.

Budgets (DESIGN.md): WTQ median <= 20 ms and >= 50x faster than TAPAS-base; <= 1 s per question at
100k rows with linear memory; 10M rows through DuckDB <= 2 s per question and <= 1 GB, 100M rows
<= 20 s; load <= 5 s. The JSON says which are met.

The machine's load average is recorded at the start and end: on a shared machine timings scale with it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from nqa.bench_stats import PeakRSS, percentile, rss_bytes, summary_ms  # noqa: F401 (re-exported)
from nqa.bench_tapas import bench_tapas

ROOT = Path(__file__).resolve().parent.parent  # the folder holding nqa: a checkout or site-packages

BUDGETS = {  # DESIGN.md
    "wtq_median_ms": 20.0,
    "speedup_vs_tapas": 50.0,
    "ask_100k_rows_s": 1.0,
    "load_s": 5.0,
}

SCALE_QUESTIONS = [
    "which player has the most goals?",
    "how many players are from norway?",
    "what is the total number of goals in 1990?",
]


@dataclass
class BenchConfig:
    model: str | None = None  # checkpoint dir; None: the shipped model, else a random-init one
    encoder: str = "minilm"  # encoder of the random-init model when no checkpoint is given
    wtq_root: str | None = None
    split: str = "random-split-1-dev"
    questions: int = 200
    tapas_questions: int = -1  # -1: all of `questions`
    # nqa answers the questions this many times, each pass on a freshly loaded model (cold caches, as
    # in the first), spread over TAPAS' run: one pass takes ~1.5 s against TAPAS' ~90 s, so a few
    # seconds of noise from a shared machine would move nqa's median alone
    nqa_passes: int = 5
    tapas_size: str = "base"  # "base" (TapasConfig()) | "tiny" (smoke tests only)
    batch_size: int = 32
    scales: list[int] = field(default_factory=lambda: [1_000, 10_000, 100_000])
    engine_rows: list[int] = field(default_factory=lambda: [1_000_000, 10_000_000])
    train_examples: int = 64
    train_steps: int = 12
    train_batch: int = 16
    threads: int = 2
    seed: int = 0
    skip: set[str] = field(default_factory=set)
    quick: bool = False


# ---------------------------------------------------------------------------------------------
# small helpers


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))


def _child_env(threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _run_child(args: list[str], threads: int, timeout: float = 1800) -> dict:
    """Run `python -m nqa.bench --child ...` and return the JSON of its last stdout line."""
    proc = subprocess.run([sys.executable, "-m", "nqa.bench", *args, "--threads", str(threads)],
                          capture_output=True, text=True, env=_child_env(threads), timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench child {args} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# the model under test


def resolve_model(cfg: BenchConfig, tmp: Path) -> tuple[Path, str]:
    """The checkpoint to bench and how it was obtained. Speed does not depend on the weights, so a
    random-init model stands in until a trained one ships."""
    if cfg.model:
        return Path(cfg.model), f"checkpoint {cfg.model}"
    from nqa.api import CONFIG_FILE, DEFAULT_CHECKPOINT

    if (DEFAULT_CHECKPOINT / CONFIG_FILE).is_file():
        return DEFAULT_CHECKPOINT, "shipped checkpoint nqa/checkpoints"
    import torch

    from nqa.api import TableQA
    from nqa.programmer import NeuralProgrammer, ProgrammerConfig

    torch.manual_seed(cfg.seed)
    path = TableQA(NeuralProgrammer(ProgrammerConfig(encoder=cfg.encoder))).save_pretrained(tmp / "model")
    return path, f"random-init NeuralProgrammer (encoder={cfg.encoder}), no shipped checkpoint yet"


# ---------------------------------------------------------------------------------------------
# WTQ: nqa latency and throughput


@dataclass
class WTQSample:
    ids: list[str]
    questions: list[str]
    tables: list  # nqa Table per question (shared objects when questions share a table)
    contexts: list[str]
    table_load_s: list[float]  # one per distinct table


def load_wtq_sample(cfg: BenchConfig) -> WTQSample:
    import random

    from nqa.wtq import load_context_table, read_examples, resolve_root

    root = resolve_root(cfg.wtq_root)
    examples = read_examples(root / "data" / f"{cfg.split}.tsv")
    chosen = random.Random(cfg.seed).sample(examples, min(cfg.questions, len(examples)))
    tables, load_s, seen = [], [], {}
    for ex in chosen:
        if ex.context not in seen:
            t0 = time.perf_counter()
            seen[ex.context] = load_context_table(ex.context, root)
            load_s.append(time.perf_counter() - t0)
        tables.append(seen[ex.context])
    return WTQSample([e.id for e in chosen], [e.question for e in chosen], tables,
                     [e.context for e in chosen], load_s)


class AskPasses:
    """`ask` one question at a time, pass after pass over the questions, each pass on a freshly
    loaded model (the encoder caches header vectors: every pass starts as cold as the first).
    The passes are run where the caller says: `nqa bench` spreads them over TAPAS' run."""

    def __init__(self, load_qa, sample: WTQSample, passes: int) -> None:
        self.load_qa, self.sample, self.total = load_qa, sample, max(1, passes)
        self.lat: list[list[float]] = []  # one list per pass
        self.cpu: list[list[float]] = []

    def run(self) -> None:
        from tqdm import tqdm

        pairs = list(zip(self.sample.tables, self.sample.questions))
        qa = self.load_qa()
        for t, q in pairs[:3]:  # warm-up: lazy imports, allocator
            qa.ask(t, q)
        self.lat.append([])
        self.cpu.append([])
        for t, q in tqdm(pairs, desc=f"nqa ask (WTQ), pass {len(self.lat)}/{self.total}", file=sys.stderr):
            c0, t0 = time.process_time(), time.perf_counter()
            qa.ask(t, q)
            self.lat[-1].append(time.perf_counter() - t0)
            self.cpu[-1].append(time.process_time() - c0)

    def remaining(self) -> int:
        return self.total - len(self.lat)


def bench_nqa_wtq(passes: AskPasses, batch_size: int) -> dict:
    """The `ask` passes (run here those not run yet), then `ask_batch` on a freshly loaded model.
    latency_s / cpu_s: one list per pass."""
    from tqdm import tqdm

    while passes.remaining() > 0:
        passes.run()
    lat, cpu, load_qa, sample = passes.lat, passes.cpu, passes.load_qa, passes.sample
    qa = load_qa()
    qa.ask_batch(sample.tables[:3], sample.questions[:3])  # the same warm-up
    c0, t0 = time.process_time(), time.perf_counter()
    n = len(sample.questions)
    for s in tqdm(range(0, n, batch_size), desc="nqa ask_batch (WTQ)", file=sys.stderr):
        qa.ask_batch(sample.tables[s:s + batch_size], sample.questions[s:s + batch_size])
    batch_s, batch_cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = [t.n_rows for t in sample.tables]
    all_lat, all_cpu = [x for p in lat for x in p], [x for p in cpu for x in p]
    return {
        "latency": summary_ms(all_lat),
        "cpu_time": summary_ms(all_cpu),
        "passes": len(lat),
        "latency_median_ms_per_pass": [summary_ms(p)["median_ms"] for p in lat],
        "latency_s": lat,
        "cpu_s": cpu,
        "questions_per_s_ask": round(len(all_lat) / sum(all_lat), 2),
        "questions_per_s_ask_batch": round(n / batch_s, 2),
        "cpu_ms_per_question_ask": round(1000 * sum(all_cpu) / len(all_cpu), 2),
        "cpu_ms_per_question_ask_batch": round(1000 * batch_cpu / n, 2),
        "batch_size": batch_size,
        "table_read": summary_ms(sample.table_load_s),
        "table_rows": {"median": statistics.median(rows), "max": max(rows)},
    }


# ---------------------------------------------------------------------------------------------
# scale: synthetic tables, one fresh process per size


def synthetic_frame(rows: int, seed: int = 0):
    """A realistic mix: unique names, a category, years, counts and mostly-unique dates."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    countries = ["Norway", "Germany", "Canada", "Brazil", "Japan", "Kenya", "Chile", "India", "Italy", "Spain",
                 "France", "Peru", "Ghana", "Egypt", "Nepal", "Cuba", "Fiji", "Iran", "Laos", "Mali"]
    days = rng.integers(0, 365 * 60, rows)
    dates = (np.datetime64("1960-01-01") + days.astype("timedelta64[D]")).astype(str)
    return pd.DataFrame({
        "Player": [f"Player {i}" for i in range(rows)],
        "Country": rng.choice(countries, rows),
        "Year": rng.integers(1950, 2020, rows),
        "Goals": rng.integers(0, 500, rows),
        "Debut": dates,
    })


def child_scale(model: str, rows: int) -> dict:
    """In a fresh process: load the model, then read and query a `rows`-row table, sampling RSS."""
    from nqa.api import TableQA
    from nqa.table import load_table

    qa = TableQA.from_pretrained(model)
    qa.ask(synthetic_frame(20, seed=1), SCALE_QUESTIONS[0])  # warm-up outside the measured block
    frame = synthetic_frame(rows)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        table = load_table(frame)
        load_s = time.perf_counter() - t0
        table_delta = rss_bytes() - mem.before
        lat, cpu = [], []
        for q in SCALE_QUESTIONS:
            c0, t0 = time.process_time(), time.perf_counter()
            qa.ask(table, q)
            lat.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {"rows": rows, "load_table_s": round(load_s, 3), "ask": summary_ms(lat),
            "ask_max_s": round(max(lat), 3), "ask_cpu": summary_ms(cpu), "table_rss_mb": round(table_delta / 2**20, 1),
            "peak_rss_delta_mb": round(mem.peak_delta / 2**20, 1),
            "peak_bytes_per_row": round(mem.peak_delta / rows, 1)}


def bench_scale(model: Path, scales: list[int], threads: int) -> dict:
    from tqdm import tqdm

    runs = [_run_child(["--child", "scale", "--model", str(model), "--rows", str(n)], threads)
            for n in tqdm(scales, desc="scale (1 process each)", file=sys.stderr)]
    out: dict = {"memory_method": "peak RSS delta, /proc/self/statm sampled every 2 ms, fresh process per size",
                 "runs": runs}
    if len(runs) >= 2:
        a, b = runs[-2], runs[-1]
        growth = b["peak_rss_delta_mb"] / max(a["peak_rss_delta_mb"], 1e-9)
        out["memory_growth_last_two"] = round(growth, 2)
        out["rows_growth_last_two"] = round(b["rows"] / a["rows"], 2)
        # Linear (with a constant part) means memory grows at most as fast as rows; 1.5x slack for noise.
        out["memory_linear"] = growth <= 1.5 * b["rows"] / a["rows"]
    return out


def bench_engine(model: Path, rows: list[int], threads: int) -> dict:
    """Big Parquet files through DuckDB, one fresh process per size (nqa/bench_engine.py)."""
    runs = []
    for n in rows:
        r = _run_child(["--child", "engine", "--model", str(model), "--rows", str(n)], threads, timeout=3600)
        _log(f"engine {n:>11,} rows: index {r['index_s']} s, ask max {r['ask_max_s']} s "
             f"(median {r['ask_median_s']} s), peak RSS {r['peak_rss_mb']} MB, file {r['file_mb']} MB")
        runs.append(r)
    return {"method": "Parquet generated by DuckDB in a temp dir; fresh process per size; peak RSS = ru_maxrss",
            "runs": runs}


# ---------------------------------------------------------------------------------------------
# model load time and training throughput


def child_load(model: str) -> dict:
    """Wall and CPU seconds of `import nqa.api` and of `from_pretrained` (which imports torch:
    nqa.api keeps it lazy). Called before anything else in the child imports torch."""
    c0, t0 = time.process_time(), time.perf_counter()
    from nqa.api import TableQA

    c1, t1 = time.process_time(), time.perf_counter()
    TableQA.from_pretrained(model)
    c2, t2 = time.process_time(), time.perf_counter()
    return {"import_s": round(t1 - t0, 3), "load_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3),
            "load_cpu_s": round(c2 - c1, 3), "total_cpu_s": round(c2 - c0, 3)}


def bench_load(model: Path, threads: int, repeats: int = 3) -> dict:
    """The fastest of `repeats` fresh-process loads (the least disturbed by other jobs on the
    machine; the first run also warms the file cache), with every run listed."""
    runs = [_run_child(["--child", "load", "--model", str(model)], threads) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["total_s"])
    return {"method": f"fresh process each; fastest of {repeats} (file cache warm after the first)",
            "runs": runs, **best}


def bench_train(cfg: BenchConfig, device: str, tmp: Path) -> dict:
    """examples/s of the real training loop (nqa.training.train) from its metrics.csv."""
    import csv

    out = tmp / f"train-{device}"
    args = [sys.executable, "-m", "nqa.training.train", f"--limit_train={cfg.train_examples}", "--limit_dev=4",
            f"--max_steps={cfg.train_steps}", f"--batch_size={cfg.train_batch}",
            f"--log_every={max(1, cfg.train_steps // 3)}", "--eval_every=1000000000", f"--out_dir={out}",
            "--progress=false", f"--threads={cfg.threads}", f"--device={device}", "--warmup_steps=1"]
    if cfg.encoder != "minilm":
        args.append(f"--model.encoder={cfg.encoder}")
    if cfg.wtq_root:
        args.append(f"--wtq_root={cfg.wtq_root}")
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=_child_env(cfg.threads), timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"device": device, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    with open(out / "metrics.csv") as f:
        rates = [float(r["ex_per_s"]) for r in csv.DictReader(f) if r.get("ex_per_s")]
    steady = rates[1:] or rates  # the first window holds the warm-up
    return {"device": device, "examples_per_s": round(statistics.median(steady), 1) if steady else None,
            "windows": rates, "encoder": cfg.encoder, "examples": cfg.train_examples, "steps": cfg.train_steps,
            "batch_size": cfg.train_batch, "wall_s_incl_data_and_eval": round(wall, 1)}


# ---------------------------------------------------------------------------------------------
# the run


def parse_args(argv: list[str]) -> tuple[BenchConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="nqa bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="checkpoint dir (default: shipped, else random-init)")
    p.add_argument("--encoder", default="minilm", choices=["minilm", "tiny"],
                   help="encoder of the random-init stand-in model")
    p.add_argument("--wtq-root", default=None)
    p.add_argument("--split", default="random-split-1-dev")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--tapas-questions", type=int, default=-1, help="-1: the same questions as nqa")
    p.add_argument("--nqa-passes", type=int, default=5, help="passes of nqa over the questions, pooled")
    p.add_argument("--tapas-size", default="base", choices=["base", "tiny"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--scales", default="1000,10000,100000", help="comma-separated row counts")
    p.add_argument("--train-examples", type=int, default=64)
    p.add_argument("--train-steps", type=int, default=12)
    p.add_argument("--train-batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="torch threads (the budgets assume 2 cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", default="", help="comma-separated: wtq,tapas,scale,load,train,engine")
    p.add_argument("--engine-rows", default="1000000,10000000",
                   help="comma-separated row counts of the Parquet files answered through DuckDB")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long smoke run: 6 questions, tiny encoder and TAPAS, 1k-2k rows, 2 train steps")
    p.add_argument("--child", choices=["scale", "load", "engine"], help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    cfg = BenchConfig(model=a.model, encoder=a.encoder, wtq_root=a.wtq_root, split=a.split, questions=a.questions,
                      tapas_questions=a.tapas_questions, nqa_passes=a.nqa_passes, tapas_size=a.tapas_size,
                      batch_size=a.batch_size,
                      scales=[int(s) for s in a.scales.split(",") if s.strip()],
                      engine_rows=[int(s) for s in a.engine_rows.split(",") if s.strip()],
                      train_examples=a.train_examples, train_steps=a.train_steps, train_batch=a.train_batch,
                      threads=a.threads, seed=a.seed, skip={s.strip() for s in a.skip.split(",") if s.strip()},
                      quick=a.quick)
    if cfg.quick:
        cfg.questions, cfg.tapas_size, cfg.encoder, cfg.batch_size, cfg.nqa_passes = 6, "tiny", "tiny", 4, 1
        cfg.scales, cfg.train_examples, cfg.train_steps, cfg.train_batch = [1_000, 2_000], 8, 2, 4
        cfg.engine_rows = [20_000]
    unknown = cfg.skip - {"wtq", "tapas", "scale", "load", "train", "engine"}
    if unknown:
        p.error(f"--skip: unknown parts {sorted(unknown)}")
    return cfg, a


def main(argv: list[str] | None = None) -> int:
    cfg, a = parse_args(list(sys.argv[1:] if argv is None else argv))
    if a.child == "load":  # before anything imports torch: its import is part of loading (threads: OMP_NUM_THREADS)
        print(json.dumps(child_load(a.model)))
        return 0
    _set_threads(cfg.threads)
    if a.child == "scale":
        print(json.dumps(child_scale(a.model, a.rows)))
        return 0
    if a.child == "engine":
        from nqa.bench_engine import child_engine

        print(json.dumps(child_engine(a.model, a.rows)))
        return 0

    import torch

    from nqa.minilm import matmul_dtype

    result: dict = {"config": {**asdict(cfg), "skip": sorted(cfg.skip)}, "threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                    "encoder_dtype": str(matmul_dtype()).removeprefix("torch.")}  # NQA_ENCODER_DTYPE, auto: per CPU
    with tempfile.TemporaryDirectory(prefix="nqa-bench-") as d:
        tmp = Path(d)
        model_dir, model_desc = resolve_model(cfg, tmp)
        result["model"] = model_desc
        _log(f"model: {model_desc}; encoder products in {result['encoder_dtype']}")
        if "load" not in cfg.skip:
            result["load"] = bench_load(model_dir, cfg.threads)
            _log(f"load: {result['load']['load_s']} s (+ import {result['load']['import_s']} s)")
        if "wtq" not in cfg.skip:
            from nqa.api import TableQA

            sample = load_wtq_sample(cfg)
            load_qa = lambda: TableQA.from_pretrained(model_dir)  # noqa: E731
            passes = AskPasses(load_qa, sample, cfg.nqa_passes)
            tapas = None
            if "tapas" not in cfg.skip:
                # nqa's passes before, evenly through and after TAPAS' run: the two see the same machine
                passes.run()
                n = len(sample.questions)
                if cfg.tapas_questions >= 0:
                    n = min(cfg.tapas_questions, n)
                tapas = bench_tapas(sample, n, cfg.tapas_size, between=passes.run, times=max(0, passes.remaining() - 1))
            wtq = bench_nqa_wtq(passes, cfg.batch_size)
            result["nqa_wtq"] = {k: v for k, v in wtq.items() if k not in ("latency_s", "cpu_s")}
            _log(f"nqa WTQ: {wtq['latency']} (pass medians {wtq['latency_median_ms_per_pass']})")
            if tapas is not None:
                # nqa on exactly the questions TAPAS ran, every pass
                same = summary_ms([x for p in wtq["latency_s"] for x in p[:n]])
                same_cpu = summary_ms([x for p in wtq["cpu_s"] for x in p[:n]])
                result["tapas"] = {k: v for k, v in tapas.items() if k not in ("latency_s", "cpu_s")}
                result["tapas"]["nqa_on_same_questions"] = same
                result["tapas"]["nqa_cpu_on_same_questions"] = same_cpu
                result["speedup_median_cpu"] = round(tapas["cpu_time"]["median_ms"] / same_cpu["median_ms"], 1)
                result["speedup_median"] = round(tapas["latency"]["median_ms"] / same["median_ms"], 1)
                result["speedup_p90"] = round(tapas["latency"]["p90_ms"] / same["p90_ms"], 1)
                _log(f"TAPAS-{cfg.tapas_size}: {tapas['latency']}, truncated tables "
                     f"{tapas['share_tables_truncated']:.1%}; nqa is {result['speedup_median']}x faster (median)")
        if "scale" not in cfg.skip:
            result["scale"] = bench_scale(model_dir, cfg.scales, cfg.threads)
            for r in result["scale"]["runs"]:
                _log(f"scale {r['rows']:>7} rows: ask {r['ask']['median_ms']} ms, load_table {r['load_table_s']} s, "
                     f"peak RSS +{r['peak_rss_delta_mb']} MB")
        if "engine" not in cfg.skip:
            result["engine"] = bench_engine(model_dir, cfg.engine_rows, cfg.threads)
        if "train" not in cfg.skip:
            devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
            result["train"] = [bench_train(cfg, dev, tmp) for dev in devices]
            if not torch.cuda.is_available():
                result["train_gpu"] = "no CUDA device on this machine"
            _log(f"train: {result['train']}")
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["budgets"] = check_budgets(result)
    print(json.dumps(result))
    return 0


def check_budgets(result: dict) -> dict:
    """Each DESIGN.md budget: the measured figure, the limit, and whether it is met (None: not measured)."""
    out = {}
    wtq = result.get("nqa_wtq", {}).get("latency", {}).get("median_ms")
    out["wtq_median_ms"] = _budget(wtq, BUDGETS["wtq_median_ms"], wtq is not None and wtq <= BUDGETS["wtq_median_ms"])
    sp = result.get("speedup_median") if result.get("tapas", {}).get("size") == "base" else None  # tiny: smoke only
    out["speedup_vs_tapas"] = _budget(sp, BUDGETS["speedup_vs_tapas"],
                                      sp is not None and sp >= BUDGETS["speedup_vs_tapas"])
    runs = result.get("scale", {}).get("runs", [])
    big = next((r for r in runs if r["rows"] >= 100_000), None)
    s100k = big["ask_max_s"] if big else None
    out["ask_100k_rows_s"] = _budget(s100k, BUDGETS["ask_100k_rows_s"],
                                     s100k is not None and s100k <= BUDGETS["ask_100k_rows_s"])
    out["memory_linear"] = {"value": result.get("scale", {}).get("memory_growth_last_two"),
                            "met": result.get("scale", {}).get("memory_linear")}
    for r in result.get("engine", {}).get("runs", []):
        if r.get("budget_s") is not None:
            out[f"engine_{r['rows']}_rows_s"] = _budget(r["ask_max_s"], r["budget_s"], bool(r["met"]))
        if r.get("memory_met") is not None and r["rows"] >= 10_000_000:
            out[f"engine_{r['rows']}_rows_peak_mb"] = _budget(r["peak_rss_mb"], 1024, bool(r["memory_met"]))
    load = result.get("load", {}).get("load_s")
    out["load_s"] = _budget(load, BUDGETS["load_s"], load is not None and load <= BUDGETS["load_s"])
    full = result.get("load", {}).get("total_s")  # what a user waits for: import nqa + from_pretrained
    out["import_and_load_s"] = _budget(full, BUDGETS["load_s"], full is not None and full <= BUDGETS["load_s"])
    return out


def _budget(value, limit, met: bool) -> dict:
    return {"value": value, "limit": limit, "met": met if value is not None else None}


if __name__ == "__main__":
    raise SystemExit(main())
