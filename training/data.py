"""Moved to nqa/training/data.py (the wheel ships nqa only); this name keeps `training.data` working."""
from nqa.training.data import *  # noqa: F403
