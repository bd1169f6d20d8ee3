"""`nqa bench` part "engine": big Parquet files answered through DuckDB, in place.

    nqa bench --skip wtq,tapas,scale,load,train --engine-rows 1000000,10000000,100000000

For each size, a fresh process generates (outside the measured block) a Parquet file of orders in a
temporary directory (8 columns: a unique order id, 200,000 customers, 5 regions, 1,000 products,
10 years of dates, quantities, 100,000 unit prices, a yes/no returned flag), then measures:

* index: opening the file and profiling every column (`nqa.sources.profile`, once per table);
* ask: each of ENGINE_QUESTIONS (model decode + the beam's programs run as SQL in DuckDB), seconds;
* memory: the process's peak RSS (model, DuckDB and Python together; ru_maxrss) and its growth during
  index + questions (sampled every 2 ms).

Budgets (DESIGN.md): 10 million rows <= 2 s per question and <= 1 GB; 100 million rows on disk <= 20 s.
"""
from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

from nqa.bench_stats import PeakRSS

ENGINE_QUESTIONS = [
    "what is the total quantity in the east?",
    "how many orders were returned?",
    "which product has the highest unit price?",
    "what is the average unit price of product 42?",
    "how many orders did customer 4242 place?",
]
BUDGETS = {10_000_000: 2.0, 100_000_000: 20.0}
MEMORY_BUDGET_MB = 1024


def generate_parquet(path: str, rows: int) -> float:
    """Write the orders table (see the module docstring) with DuckDB, out of core; seconds taken."""
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/nqa-duckdb'")
    con.execute(f"""COPY (
        SELECT range AS "Order ID",
               'Customer ' || CAST(hash(range) % 200000 AS VARCHAR) AS "Customer",
               ['North', 'South', 'East', 'West', 'Central'][1 + CAST(range % 5 AS INTEGER)] AS "Region",
               'Product ' || CAST((range * 7919) % 1000 AS VARCHAR) AS "Product",
               DATE '2015-01-01' + CAST(range % 3650 AS INTEGER) AS "Order date",
               CAST(1 + hash(range * 3) % 20 AS INTEGER) AS "Quantity",
               CAST(hash(range * 5) % 100000 AS DOUBLE) / 100 AS "Unit price",
               CASE WHEN hash(range * 11) % 10 = 0 THEN 'yes' ELSE 'no' END AS "Returned"
        FROM range({int(rows)})
    ) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    con.close()
    return time.perf_counter() - t0


def child_engine(model: str | None, rows: int, workdir: str | None = None) -> dict:
    """In a fresh process: generate the file, load the model, index the file, ask the questions."""
    from nqa.api import TableQA

    with tempfile.TemporaryDirectory(prefix="nqa-bench-engine-", dir=workdir) as tmp:
        path = os.path.join(tmp, f"orders_{rows}.parquet")
        gen_s = generate_parquet(path, rows)
        size_mb = os.path.getsize(path) / 2**20
        qa = TableQA.from_pretrained(model)
        import pandas as pd

        qa.ask(pd.DataFrame({"Region": ["East"], "Quantity": [1]}), ENGINE_QUESTIONS[0])  # warm-up
        from nqa.sources import EngineSource, open_source, profile

        with PeakRSS() as mem:
            t0 = time.perf_counter()
            source = open_source(path, threshold=0)
            assert isinstance(source, EngineSource)
            table = profile(source)
            index_s = time.perf_counter() - t0
            asks: list[dict] = []
            seconds: list[float] = []
            for q in ENGINE_QUESTIONS:
                c0, t0 = time.process_time(), time.perf_counter()
                answer = qa.ask(source, q)
                seconds.append(round(time.perf_counter() - t0, 3))
                # CPU seconds of all the process's threads (DuckDB's included): on a loaded machine the
                # wall time stretches, CPU / cores is about what 2 quiet cores take
                asks.append({"question": q, "seconds": seconds[-1], "cpu_s": round(time.process_time() - c0, 3),
                             "program": str(answer.program), "answer": answer.text[:80],
                             "programs_run": 1 + sum(1 for a in answer.alternatives)})
        source.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    incomplete = [p.source.name for p in table.profiles if not p.complete]
    worst = max(seconds)
    limit = next((v for k, v in sorted(BUDGETS.items()) if rows <= k), None)
    return {"loadavg": [round(x, 2) for x in os.getloadavg()],
            "rows": rows, "file_mb": round(size_mb, 1), "generate_s": round(gen_s, 1), "index_s": round(index_s, 2),
            "ask_max_s": worst, "ask_median_s": sorted(seconds)[len(seconds) // 2], "asks": asks,
            "peak_rss_mb": round(peak_mb, 1), "rss_growth_mb": round(mem.peak_delta / 2**20, 1),
            "columns_past_cap": incomplete,
            "budget_s": limit, "met": None if limit is None else worst <= limit,
            "memory_met": None if rows > 10_000_000 else peak_mb <= MEMORY_BUDGET_MB}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def growth_figure(runs: list[dict], path: str) -> None:
    """Seconds per question (max and median) and index seconds against rows, log-log, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r["rows"] for r in runs]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(rows, [r["ask_max_s"] for r in runs], "o-", label="slowest of 5 questions")
    ax.plot(rows, [r["ask_median_s"] for r in runs], "o-", label="median question")
    ax.plot(rows, [r["index_s"] for r in runs], "s--", label="index (once per table)")
    for n, limit in sorted(BUDGETS.items()):
        ax.plot([n], [limit], "rx")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows (Parquet on disk, DuckDB)")
    ax.set_ylabel("seconds")
    ax.set_title("nqa on big tables: seconds per question (x: budget)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":  # python -m nqa.bench_engine BENCH_LOG OUT.png: the figure of a bench run
    import json

    with open(sys.argv[1]) as f:
        result = json.loads([ln for ln in f if ln.startswith("{")][-1])
    growth_figure(result["engine"]["runs"], sys.argv[2])
