"""Measuring for `nqa bench`: percentiles, millisecond summaries, and peak resident memory.

Memory is the resident set size the OS charges the process (torch's allocations included, which
tracemalloc cannot see), sampled in a thread so that short peaks inside a call are caught.
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import threading
import time


def percentile(xs: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy's default."""
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2) if ms else None,
            "p90_ms": round(percentile(ms, 90), 2) if ms else None,
            "mean_ms": round(statistics.fmean(ms), 2) if ms else None}


def rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the lifetime peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class PeakRSS:
    """Samples RSS every `interval` s in a thread; `peak_delta` = peak during the block - RSS before."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.before = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.before = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def peak_delta(self) -> int:
        return self.peak - self.before
