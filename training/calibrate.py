"""Shim: the calibration step moved to nqa.training.calibrate (it ships in the wheel)."""
from nqa.training.calibrate import *  # noqa: F401,F403
from nqa.training.calibrate import main

if __name__ == "__main__":
    raise SystemExit(main())
