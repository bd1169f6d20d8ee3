"""Moved to nqa/training/train.py (the wheel ships nqa only); this name keeps `training.train` working."""
from nqa.training.train import *  # noqa: F403
from nqa.training.train import main

if __name__ == "__main__":
    raise SystemExit(main())
