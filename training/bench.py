"""Moved to nqa/bench.py (the wheel ships nqa only); this name keeps `training.bench` working."""
from nqa.bench import *  # noqa: F403
from nqa.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
