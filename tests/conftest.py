"""Shared fixtures. Add yours below; keep each one small and documented."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `import nqa` works without installing the package
    sys.path.insert(0, str(ROOT))

# tiny_model_dir and tiny_qa (a tiny random-init checkpoint and its TableQA) for every test module
pytest_plugins = ["tiny_model"]


@pytest.fixture(scope="session")
def wtq_root() -> Path:
    """The WikiTableQuestions folder ($NQA_WTQ_ROOT or ../shared/datasets/wikitablequestions);
    the test is skipped when the dataset is absent (e.g. CI without it)."""
    from nqa.wtq import default_root

    root = default_root()
    if root is None or not (root / "data" / "training.tsv").is_file():
        pytest.skip("WikiTableQuestions not found (set NQA_WTQ_ROOT or run data/download_wtq.py)")
    return root
