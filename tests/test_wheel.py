"""The wheel as a new user gets it (issue 17): it holds the `nqa` package only, and every command
works from a fresh virtual environment, run from a folder outside the checkout.

Slow (about 30 s on 2 cores): run it with `python -m pytest -m slow tests/test_wheel.py`
(.ci/run does). The venv reuses this interpreter's installed dependencies (torch, transformers, ...)
through a .pth file that lists their site-packages: unlike `--system-site-packages`, that runs none of
the .pth files there, so an editable install of this checkout stays invisible to the venv.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
QUESTION = "how many nations won more than 10 gold medals?"


def _copy_sources(dest: Path) -> Path:
    """What the build reads (pyproject.toml, README.md, nqa/) in a clean folder: no stale build/."""
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    shutil.copy2(REPO / "README.md", dest / "README.md")
    shutil.copytree(REPO / "nqa", dest / "nqa", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _copy_sources(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    # with setuptools at hand the build needs no network (else pip fetches it for an isolated build)
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", *offline, "-q", "-w", str(out)],
                   check=True, cwd=out, timeout=600)
    (whl,) = out.glob("nqa-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; the dependencies come from this interpreter's site."""
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=300)
    py = env_dir / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    # the outer site-packages as plain path entries (appended after the venv's own)
    (purelib / "_outer_site.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, timeout=600)
    return env_dir


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """The working folder for every command: outside the checkout."""
    d = tmp_path_factory.mktemp("user")
    assert REPO not in d.parents
    return d


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1"}


def _run(venv: Path, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [str(venv / "bin" / args[0]), *args[1:]]
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, \
        f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_the_wheel_holds_nqa_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"nqa"}
    for data in ("nqa/data/question_words.txt", "nqa/checkpoints/config.json", "nqa/checkpoints/model.safetensors",
                 "nqa/app/streamlit_app.py", "nqa/app/.streamlit/config.toml", "nqa/samples/olympics.csv",
                 "nqa/training/train.py", "nqa/bench.py"):
        assert data in names, data


def test_the_venv_sees_the_wheel_not_the_checkout(venv, outside):
    code = ("import importlib.util as u, nqa; print(nqa.__file__); "
            "print(u.find_spec('training'), u.find_spec('app'))")
    out = _run(venv, outside, "python", "-c", code).stdout.splitlines()
    assert Path(out[0]).resolve().is_relative_to(venv.resolve()), out
    assert out[1] == "None None", out


def test_version_and_ask(venv, outside):
    import nqa

    assert _run(venv, outside, "nqa", "--version").stdout.strip() == f"nqa {nqa.__version__}"
    proc = _run(venv, outside, "python", "-c", "from nqa.explain import SAMPLES_DIR; print(SAMPLES_DIR)")
    table = Path(proc.stdout.strip()) / "olympics.csv"
    assert table.is_file() and table.resolve().is_relative_to(venv.resolve())
    got = json.loads(_run(venv, outside, "nqa", "ask", str(table), QUESTION, "--json").stdout)
    assert got["table"] == str(table) and "count(*)" in got["sql"].lower()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_answers_its_health_check(venv, outside):
    port = _free_port()
    log = outside / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(venv / "bin" / "nqa"), "app", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true"],
                                cwd=outside, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, body = time.time() + 120, ""
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert body.strip() == "ok", log.read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def tiny_wtq(venv, outside) -> Path:
    """A tiny WTQ-format dataset, written by the installed package, under the default split names
    too, so that `nqa bench --quick` (200-question split, training throughput) finds what it reads."""
    root = outside / "wtq"
    code = f"from nqa.training.data import write_tiny_wtq; write_tiny_wtq({str(root)!r}, 6)"
    _run(venv, outside, "python", "-c", code)
    data = root / "data"
    shutil.copy(data / "tiny-train.tsv", data / "random-split-1-train.tsv")
    shutil.copy(data / "tiny-train.tsv", data / "training.tsv")
    shutil.copy(data / "tiny-dev.tsv", data / "random-split-1-dev.tsv")
    return root


def test_bench_quick(venv, outside, tiny_wtq):
    proc = _run(venv, outside, "nqa", "bench", "--quick", "--wtq-root", str(tiny_wtq), "--threads", "1")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["model"] == "shipped checkpoint nqa/checkpoints"
    assert result["nqa_wtq"]["latency"]["n"] > 0 and result["tapas"]["size"] == "tiny"
    assert result["load"]["load_s"] > 0 and [r["rows"] for r in result["scale"]["runs"]] == [1000, 2000]
    assert result["train"][0]["examples_per_s"] > 0, result["train"]
    # caches land in ./runs, never in site-packages
    assert not list((venv / "lib").glob("python*/site-packages/runs"))


def test_train_on_a_tiny_config(venv, outside, tiny_wtq):
    config = outside / "tiny.json"
    config.write_text(json.dumps({
        "wtq_root": str(tiny_wtq), "train_split": "tiny-train", "dev_split": "tiny-dev", "search_split": "",
        "batch_size": 4, "max_steps": 6, "eval_every": 3, "log_every": 2, "warmup_steps": 2, "progress": False,
        "threads": 1, "out_dir": "runs/tiny",
        "model": {"encoder": "tiny", "tiny_hidden": 32, "d_model": 32}}))
    _run(venv, outside, "nqa", "train", str(config))
    best = outside / "runs" / "tiny" / "best"
    assert (best / "model.safetensors").is_file() and (best / "config.json").is_file()
    code = ("from nqa import TableQA; from nqa.explain import SAMPLES_DIR; "
            f"print(TableQA.from_pretrained({str(best)!r}).ask(SAMPLES_DIR / 'olympics.csv', {QUESTION!r}).sql)")
    assert "select" in _run(venv, outside, "python", "-c", code).stdout.lower()
