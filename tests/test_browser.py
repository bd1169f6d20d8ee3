"""End to end in a real browser: the Streamlit server in a subprocess, driven by Playwright.

Uses Debian's /usr/bin/chromium (never a browser download); CI installs it. The page is read the way a
user reads it: upload a CSV through the file input, type a question, press Enter, read the answer
and the SQL. A screenshot goes to the test's tmp dir (and, with the shipped model, to
docs/figures/app.png when that file is missing or NQA_UPDATE_FIGURES=1).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nqa import api
from nqa.explain import answer_headline

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTION = "which nation is ranked after china?"

if not CHROMIUM.exists():
    pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> Path:
    """The shipped model when installed (a meaningful screenshot), else the tiny test model."""
    shipped = api.DEFAULT_CHECKPOINT
    return shipped if (shipped / api.CONFIG_FILE).is_file() else tiny_model_dir


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "NQA_MODEL": str(model_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT / "nqa" / "app", env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.set_default_timeout(60_000)
        page.goto(server)
        yield page
        browser.close()


def test_nqa_app_starts_the_server(tmp_path):
    """`nqa app` (the launcher) serves the app; SIGTERM stops it (the launcher execs Streamlit)."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(tmp_path / "app.log", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "nqa.cli", "app", "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(0.5)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) is not None


def test_upload_ask_and_read_the_answer_and_sql(page, model_dir, tmp_path):
    from playwright.sync_api import expect

    from nqa.api import TableQA

    want = TableQA.from_pretrained(model_dir).ask(ROOT / "data" / "olympics.csv", QUESTION)

    page.get_by_text("Upload a file").click()
    page.locator("input[type='file']").set_input_files(str(ROOT / "data" / "olympics.csv"))
    page.get_by_text("20 rows × 6 columns").wait_for()

    box = page.locator(".st-key-question input")
    box.fill(QUESTION)
    box.press("Enter")  # Enter submits, as a user would; the Ask button is the fallback if the
    answer_box = page.locator(".st-key-answer_box")  # keypress raced the upload's rerun
    try:
        answer_box.wait_for(timeout=20_000)
    except Exception:
        page.locator(".st-key-ask button").click()
        answer_box.wait_for()
    # expect() retries until the page settles: Streamlit paints a run's elements one by one.
    expect(answer_box.locator("h2")).to_have_text(answer_headline(want))
    expect(answer_box).to_contain_text(f"Confidence\n\n{want.confidence:.0%}", use_inner_text=True)
    expect(answer_box).to_contain_text(str(want.program))
    page.wait_for_timeout(1500)  # let the highlighted table and charts paint
    shot = tmp_path / "app.png"
    page.screenshot(path=str(shot), full_page=True)

    page.get_by_role("tab", name="SQL").click()
    code = page.locator("[data-testid='stCode'] code").first
    expect(code).to_contain_text("SELECT")
    assert " ".join(code.inner_text().split()) == " ".join(want.sql.split())
    page.screenshot(path=str(tmp_path / "app_sql.png"), full_page=True)

    if model_dir == api.DEFAULT_CHECKPOINT:
        figure = ROOT / "docs" / "figures" / "app.png"
        if not figure.exists() or os.environ.get("NQA_UPDATE_FIGURES") == "1":
            figure.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, figure)
    print(f"screenshot: {shot}")
