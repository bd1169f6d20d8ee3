"""`nqa app`: start the Streamlit app (extra arguments go to `streamlit run`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def app_path() -> Path:
    """The app script, nqa/app/streamlit_app.py (in the wheel and in a source checkout alike)."""
    path = Path(__file__).resolve().parent / "app" / "streamlit_app.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the app is missing from the nqa package")
    return path


def launch(argv: list[str] | None = None) -> int:
    """Run `streamlit run nqa/app/streamlit_app.py [argv...]` from nqa/app/; return its exit status.

    On POSIX the process becomes Streamlit (exec), so Ctrl-C and SIGTERM reach the server directly
    and no orphan is left behind; elsewhere Streamlit runs as a child process.
    """
    try:
        script = app_path()
    except FileNotFoundError as e:
        print(f"nqa app: error: {e}", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), *(argv or [])]
    # The app imports nqa: make this very copy importable even when it is not pip-installed.
    root = str(script.parents[2])  # the folder holding the nqa package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    env.setdefault("HF_HUB_OFFLINE", "1")
    # cwd = nqa/app/, so that Streamlit reads nqa/app/.streamlit/config.toml (upload limit, theme).
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.chdir(script.parent)
        os.execve(sys.executable, cmd, env)  # does not return
    try:
        return subprocess.call(cmd, cwd=script.parent, env=env)
    except KeyboardInterrupt:
        return 0
