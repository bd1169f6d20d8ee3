"""Moved to nqa/bench_stats.py (the wheel ships nqa only); this name keeps `training.bench_stats` working."""
from nqa.bench_stats import *  # noqa: F403
