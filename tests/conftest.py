"""Shared fixtures. Add yours below; keep each one small and documented."""
from __future__ import annotations

import os
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


def _engine_missing(reason: str) -> None:
    """An engine that cannot start: a skip here, a failure in CI (CI=true), where it must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"engine unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server from Debian's binaries (training/engines.py), started once for
    the session and stopped after it; `postgres.url` connects to its empty database."""
    from training.engines import EngineUnavailable, postgres_server

    try:
        import psycopg  # noqa: F401
    except ImportError:
        _engine_missing('psycopg is not installed (pip install -e ".[engines]")')
    try:
        with postgres_server() as server:
            yield server
    except EngineUnavailable as e:
        _engine_missing(str(e))


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole session (a start costs seconds), stopped after it."""
    from training.engines import EngineUnavailable, spark_session

    try:
        with spark_session() as session:
            yield session
    except EngineUnavailable as e:
        _engine_missing(str(e))
