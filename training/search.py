"""Moved to nqa/training/search.py (the wheel ships nqa only); this name keeps `training.search` working."""
from nqa.training.search import *  # noqa: F403
from nqa.training.search import main

if __name__ == "__main__":
    raise SystemExit(main())
