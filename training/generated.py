"""Moved to nqa/training/generated.py (the wheel ships nqa only); this name keeps `training.generated` working."""
from nqa.training.generated import *  # noqa: F403
