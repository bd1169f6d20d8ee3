"""Moved to nqa/bench_tapas.py (the wheel ships nqa only); this name keeps `training.bench_tapas` working."""
from nqa.bench_tapas import *  # noqa: F403
