"""`nqa bench` in miniature: it runs end to end and its figures mean what they say.

The real run (200 WTQ questions, TAPAS-base, 100k rows) is a script, never a test; here a tiny
model, a tiny TAPAS and small tables check the plumbing: the JSON line, the truncation count,
the memory sampler and the budget verdicts.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from nqa import bench
from nqa.table import load_table


def test_quick_run_prints_one_json_line_with_the_figures(tiny_model_dir, wtq_root, capsys):
    code = bench.main(["--quick", "--model", str(tiny_model_dir), "--wtq-root", str(wtq_root),
                       "--skip", "load,train,scale", "--threads", "1"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    wtq = result["nqa_wtq"]
    assert wtq["latency"]["n"] == 6 and 0 < wtq["latency"]["median_ms"] <= wtq["latency"]["p90_ms"]
    assert wtq["questions_per_s_ask"] > 0 and wtq["questions_per_s_ask_batch"] > 0
    tapas = result["tapas"]
    assert tapas["size"] == "tiny" and tapas["latency"]["n"] == 6
    assert 0.0 <= tapas["share_tables_truncated"] <= 1.0
    assert result["speedup_median"] > 0
    # a tiny TAPAS is not TAPAS-base: the speed budget is not judged on it
    assert result["budgets"]["speedup_vs_tapas"]["met"] is None
    assert result["budgets"]["wtq_median_ms"]["met"] in (True, False)


def test_tapas_truncation_is_counted(tiny_qa):
    """A 300-row table cannot fit in 512 tokens: TAPAS drops rows, and the bench counts them."""
    big = load_table(pd.DataFrame({"Player": [f"Player number {i}" for i in range(300)],
                                   "Goals": [str(i) for i in range(300)]}))
    small = load_table(pd.DataFrame({"Player": ["Ann", "Bob"], "Goals": ["1", "2"]}))
    sample = bench.WTQSample(["a", "b", "c"], ["who scored most?", "who scored least?", "who scored most?"],
                             [big, big, small], ["big", "big", "small"], [0.0, 0.0])
    got = bench.bench_tapas(sample, 3, "tiny")
    assert got["tables"] == 2 and got["tables_truncated"] == 1
    assert got["share_tables_truncated"] == 0.5
    assert 0.0 < got["share_rows_dropped"] < 1.0  # some of the 300 rows are lost, none of the 2
    assert got["tables_over_512_tokens"] == 1  # and the rows it keeps are cut to their first token


def test_scale_child_reports_latency_and_memory(tiny_model_dir):
    got = bench.child_scale(str(tiny_model_dir), 500)
    assert got["rows"] == 500 and got["ask"]["n"] == len(bench.SCALE_QUESTIONS)
    assert got["peak_rss_delta_mb"] >= 0 and got["load_table_s"] > 0


def test_peak_rss_sees_an_allocation():
    import numpy as np

    with bench.PeakRSS() as mem:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        del block
    assert mem.peak_delta >= 48 * 2**20


def test_percentile_and_budgets():
    assert bench.percentile([1, 2, 3, 4, 5], 50) == 3
    assert bench.percentile([1, 2, 3, 4, 5], 90) == pytest.approx(4.6)
    verdict = bench.check_budgets({
        "nqa_wtq": {"latency": {"median_ms": 12.0}}, "tapas": {"size": "base"}, "speedup_median": 60.0,
        "scale": {"runs": [{"rows": 100_000, "ask_max_s": 1.5}], "memory_growth_last_two": 9.0,
                  "memory_linear": True},
        "load": {"load_s": 2.0, "total_s": 6.0}})
    assert verdict["wtq_median_ms"]["met"] and verdict["speedup_vs_tapas"]["met"]
    assert verdict["ask_100k_rows_s"]["met"] is False and verdict["memory_linear"]["met"]
    assert verdict["load_s"]["met"] and verdict["import_and_load_s"]["met"] is False
