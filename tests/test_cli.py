"""`nqa ask`: readable and JSON output, clean errors with a non-zero exit status."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nqa.cli import main

ROOT = Path(__file__).resolve().parents[1]
OLYMPICS = str(ROOT / "data" / "olympics.csv")


def run(capsys, *argv):
    code = main(["ask", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_readable_output_has_answer_confidence_program_and_sql(capsys, tiny_model_dir):
    q = "which country won the most gold medals?"
    code, out, err = run(capsys, OLYMPICS, q, "--model", str(tiny_model_dir))
    assert code == 0, err
    for label in ("Answer:", "Confidence:", "Program:", "SQL (sqlite):"):
        assert label in out
    assert "steps)" in out or "step)" in out


def test_json_output_parses_and_matches_the_api(capsys, tiny_model_dir, tiny_qa):
    q = "how many nations won more than 10 gold medals?"
    code, out, err = run(capsys, OLYMPICS, q, "--json", "--model", str(tiny_model_dir))
    assert code == 0, err
    got = json.loads(out)
    want = tiny_qa.ask(OLYMPICS, q)
    assert got["answer"] == want.values
    assert got["sql"] == want.sql and got["dialect"] == "sqlite"
    assert got["program"] == str(want.program)
    assert got["n_steps"] == want.n_steps == len(got["steps"])
    assert 0.0 <= got["confidence"] <= 1.0


def test_other_dialect(capsys, tiny_model_dir, tiny_qa):
    q = "which country won the most gold medals?"
    code, out, _ = run(capsys, OLYMPICS, q, "--json", "--dialect", "duckdb", "--model", str(tiny_model_dir))
    assert code == 0
    assert json.loads(out)["sql"] == tiny_qa.ask(OLYMPICS, q).to_sql("duckdb")


@pytest.mark.parametrize("make_table, question, message", [
    (lambda d: str(d / "missing.csv"), "how many?", "no such file"),
    (lambda d: _write(d / "empty.csv", b""), "how many?", "empty"),
    (lambda d: _write(d / "image.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256))), "how many?", "not a text/CSV"),
    (lambda d: OLYMPICS, "   ", "question is empty"),
    (lambda d: OLYMPICS, "why " * 3000, "limit is 1,000"),
])
def test_bad_input_gives_a_message_and_exit_2(capsys, tmp_path, make_table, question, message):
    code, out, err = run(capsys, make_table(tmp_path), question)
    assert code == 2
    assert message in err and "Traceback" not in err and out == ""


def test_bad_dialect_and_bad_model_dir(capsys, tmp_path):
    code, _, err = run(capsys, OLYMPICS, "how many?", "--dialect", "klingon")
    assert code == 2 and "unknown SQL dialect" in err
    code, _, err = run(capsys, OLYMPICS, "how many?", "--model", str(tmp_path))
    assert code == 2 and "config.json" in err


def test_the_installed_command_fails_cleanly(tmp_path):
    """A real process: the exit status and stderr a shell user sees (no model needed to fail)."""
    proc = subprocess.run([sys.executable, "-m", "nqa.cli", "ask", str(tmp_path / "nope.csv"), "q"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr
    # Bad input fails before the model stack (torch, transformers) is even imported.
    code = ("import sys; from nqa.cli import main; rc = main(['ask', 'nope.csv', ' ']); "
            "sys.exit(rc + 10 * ('torch' in sys.modules or 'transformers' in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_version_is_written_once_and_printed(capsys):
    """`nqa --version` prints nqa.__version__, which pyproject.toml reads instead of repeating it."""
    import nqa

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"nqa {nqa.__version__}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "nqa.__version__"}
    proc = subprocess.run([sys.executable, "-m", "nqa.cli", "--version"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"nqa {nqa.__version__}", proc.stderr
