"""Bad input never hangs, crashes with a traceback, or answers silently wrong.

Every hostile input goes through the public API (`TableQA.ask`) and, for files, through the CLI
(`nqa ask`: exit status 2 and a one-line message, no traceback). Each either raises a ValueError
subclass whose message says what to fix, or gives an answer that is consistent: the SQL reproduces
it and its cells lie inside the table. Readable-but-unusual input (other encodings, odd headers) must
also keep its content: a mis-decoded 'Zürich' would be a silently wrong answer.

The model is a tiny random-init one (tests/tiny_model.py): what it answers is arbitrary, so the
checks are about the plumbing around it, never about accuracy.
"""
from __future__ import annotations

import json
import math
import pickle
import signal
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nqa.api import MAX_QUESTION_CHARS, Answer, CheckpointError, QuestionError, TableQA
from nqa.cli import main as cli_main
from nqa.table import TableError, load_table
from nqa.table_io import MAX_COLUMNS, MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parents[1]
OLYMPICS = ROOT / "data" / "olympics.csv"
QUESTION = "which nation won the most gold medals?"
SECONDS = 60  # per input; far above the real cost (< 1 s), low enough to catch a hang


@contextmanager
def deadline(seconds: int = SECONDS):
    """Fail instead of hanging (SIGALRM: Unix main thread; a no-op elsewhere)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"no answer and no error within {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_consistent(answer: Answer, table) -> None:
    """What a correct pipeline guarantees for any model: the SQL gives the answer, cells are real."""
    assert isinstance(answer, Answer)
    assert all(isinstance(v, str) for v in answer.values)
    assert 0.0 <= answer.confidence <= 1.0 and not math.isnan(answer.confidence)
    t = answer.table
    assert t is not None
    for r, c in answer.cells:
        assert 0 <= r < t.n_rows and -1 <= c < t.n_cols
    assert answer.run_sql("sqlite") == answer.values, (str(answer.program), answer.sql)


def ask_cli(capsys, table: str, question: str, model: Path) -> tuple[int, str, str]:
    with deadline():
        code = cli_main(["ask", table, question, "--model", str(model), "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_cli_rejects(capsys, table: str, question: str, model: Path, message: str) -> None:
    code, out, err = ask_cli(capsys, table, question, model)
    assert code == 2, (code, out, err)
    assert message in err, err
    assert "Traceback" not in err and out == ""
    assert err.startswith("nqa ask: error: ") and err.count("\n") == 1  # one line that says what to fix


# ---------------------------------------------------------------------------------------------
# files that are not usable tables: a clean rejection through the API and the CLI

UNREADABLE = {
    "empty": (b"", "the file is empty"),
    "whitespace only": (b" \n\r\n\t\n", "the file is empty"),
    "header only": (b"Nation,Gold\n", "no rows"),
    "png image": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not a text/CSV file"),
    "xlsx (zip)": (b"PK\x03\x04" + bytes(200), "not a text/CSV file"),
    "pdf": (b"%PDF-1.7\n" + bytes(range(256)), "not a text/CSV file"),
    "gzip": (b"\x1f\x8b\x08\x00" + bytes(range(256)), "not a text/CSV file"),
    "elf executable": (b"\x7fELF\x02\x01\x01" + bytes(300), "not a text/CSV file"),
    "random bytes": (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not a text/CSV file"),
    "NUL-ridden": (b"a,b\n1,\x00\x00\x00\x00\x00\x002\n" * 50, "not a text/CSV file"),
    "control characters": (b"a,b\n" + b"\x01\x02\x03\x04,\x05\x06\x07\x08\n" * 50, "not a text/CSV file"),
    "bad utf-16 after bom": (b"\xff\xfe" + b"a\x00,\x00\x00\xd8", "not valid utf-16"),
    "10k columns": ((",".join(f"c{j}" for j in range(10_000)) + "\n" + ",".join("1" for _ in range(10_000))
                     + "\n").encode(), "10000 columns is more than the limit of"),
    "one column over the limit": ((",".join(f"c{j}" for j in range(MAX_COLUMNS + 1)) + "\n").encode() * 2,
                                  "more than the limit of"),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_files_are_rejected_with_a_reason(name, tmp_path, tiny_qa, tiny_model_dir, capsys):
    data, message = UNREADABLE[name]
    path = tmp_path / "upload.csv"
    path.write_bytes(data)
    with deadline(), pytest.raises(TableError, match=message):
        tiny_qa.ask(path, QUESTION)
    with deadline(), pytest.raises(TableError, match=message):  # the same bytes uploaded, not saved
        tiny_qa.ask(_upload(data), QUESTION)
    assert_cli_rejects(capsys, str(path), QUESTION, tiny_model_dir, message)


def _upload(data: bytes):
    import io

    buf = io.BytesIO(data)
    buf.name = "upload.csv"
    return buf


def test_a_huge_binary_file_is_rejected_before_reading(tmp_path, tiny_qa, tiny_model_dir, capsys):
    """Files past the in-memory threshold go to DuckDB with no size limit (issue 16); their first bytes
    are checked as nqa's reader checks them, so a huge binary file fails at once, not after a read."""
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:  # sparse: MAX_FILE_BYTES + 1 bytes on paper, nothing on disk
        f.write(b"a,b\n1,2\n")
        f.truncate(MAX_FILE_BYTES + 1)
    with deadline(5), pytest.raises(TableError, match="not a text/CSV file"):
        tiny_qa.ask(path, QUESTION)
    assert_cli_rejects(capsys, str(path), QUESTION, tiny_model_dir, "not a text/CSV file")


def test_an_oversized_upload_stream_is_cut_at_the_limit():
    """A file-like upload is read at most limit + 1 bytes, then rejected (never read whole)."""

    class Endless:
        name = "endless.csv"
        asked = 0

        def read(self, n=-1):
            assert n > 0, "an unbounded read of an upload"
            Endless.asked = n
            return b"1," * (n // 2 + 1)

    with deadline(5), pytest.raises(TableError, match="larger than the limit"):
        load_table(Endless(), max_bytes=1 << 16)
    assert Endless.asked == (1 << 16) + 1


def test_too_wide_dataframes_are_rejected(tiny_qa):
    wide = pd.DataFrame(np.zeros((2, 10_000)), columns=[f"c{j}" for j in range(10_000)])
    with deadline(), pytest.raises(TableError, match="more than the limit"):
        tiny_qa.ask(wide, QUESTION)


def test_a_table_at_the_column_limit_is_answered_and_its_sql_runs(tiny_qa):
    """The widest accepted table, in the worst case for SQL (each cell's raw text, normalised text
    and number all differ: 3 SQL columns per table column), still answers with runnable SQL."""
    frame = pd.DataFrame([[f"{j},00{i}" for j in range(MAX_COLUMNS)] for i in range(3)],
                         columns=[f"c{j}" for j in range(MAX_COLUMNS)])
    for q in ("what is the total of c7?", "which c1 has the largest c599?"):
        with deadline():
            assert_consistent(tiny_qa.ask(frame, q), frame)


def test_empty_dataframes_are_rejected(tiny_qa):
    for frame, message in ((pd.DataFrame(), "no columns"), (pd.DataFrame({"a": []}), "no rows")):
        with deadline(), pytest.raises(TableError, match=message):
            tiny_qa.ask(frame, QUESTION)


# ---------------------------------------------------------------------------------------------
# other encodings: read right (no mojibake), then answered

CITIES = [["City", "Country", "Population"], ["Zürich", "Schweiz", "421878"], ["Málaga", "España", "578460"],
          ["Kraków", "Polska", "766683"], ["Ñuñoa", "Chile", "208237"]]
SMART = [["Name", "Quote", "Price"], ["Café “Noël”", "it’s – fine…", "€12"], ["Œuvre", "naïve", "€7"]]
JAPAN = [["都市", "地方", "人口"], ["東京", "関東", "13960000"], ["大阪", "近畿", "2750000"],
         ["札幌", "北海道", "1970000"]]

ENCODED = {
    "latin-1": (CITIES, "latin-1", b""),
    "cp1252": (SMART, "cp1252", b""),
    "utf-8 with bom": (CITIES, "utf-8", b"\xef\xbb\xbf"),
    "utf-16 with bom": (CITIES, "utf-16", b""),  # Python's utf-16 codec writes the BOM itself
    "utf-16-le no bom": (CITIES, "utf-16-le", b""),
    "shift-jis": (JAPAN, "shift_jis", b""),
    "utf-8 japanese": (JAPAN, "utf-8", b""),
}


@pytest.mark.parametrize("name", list(ENCODED))
def test_other_encodings_are_read_without_mojibake(name, tmp_path, tiny_qa, tiny_model_dir, capsys):
    rows, encoding, prefix = ENCODED[name]
    text = "\r\n".join(",".join(r) for r in rows) + "\r\n"
    path = tmp_path / "table.csv"
    path.write_bytes(prefix + text.encode(encoding))
    table = load_table(path)
    assert table.column_names == rows[0]
    assert [table.cell(i, j).raw for i in range(len(rows) - 1) for j in range(3)] == \
        [c for r in rows[1:] for c in r]
    with deadline():
        answer = tiny_qa.ask(path, f"which {rows[0][0].lower()} has the largest {rows[0][2].lower()}?")
    assert_consistent(answer, table)
    code, out, err = ask_cli(capsys, str(path), "how many rows are there?", tiny_model_dir)
    assert code == 0, err
    assert json.loads(out)["answer"] == tiny_qa.ask(path, "how many rows are there?").values


# ---------------------------------------------------------------------------------------------
# hostile headers and cells: kept as data, never as SQL or markup

HOSTILE_HEADERS = [
    'He said "hi"', "a;b;c", "x'); DROP TABLE t; --", '"; DELETE FROM t; --', "<script>alert(1)</script>",
    "line\nbreak", "🏅 medals", "", "Gold", "Gold", "gold", "SELECT", "row_id", "t", "  ", "a\tb", "NULL",
    "\\", "`backtick`", "[bracket]", "$1", "%s", "{0}",
]


def test_hostile_headers_survive_the_api_the_cli_and_the_sql(tmp_path, tiny_qa, tiny_model_dir, capsys):
    rows = [[f"v{i}{j}" if j % 2 else str(10 * i + j) for j in range(len(HOSTILE_HEADERS))] for i in range(4)]
    frame = pd.DataFrame(rows, columns=range(len(HOSTILE_HEADERS)))
    frame.columns = HOSTILE_HEADERS
    path = tmp_path / "hostile.csv"
    frame.to_csv(path, index=False)
    for source in (frame, path):
        table = load_table(source)
        names = table.column_names
        assert len(names) == len(HOSTILE_HEADERS) and len({n.lower() for n in names}) == len(names)
        assert all(n.strip() for n in names)  # blank headers get a name
        for q in (QUESTION, "what is the total of gold?", 'which "a;b;c" is x\'); DROP TABLE t; --?',
                  "how many <script>alert(1)</script> are there?"):
            with deadline():
                answer = tiny_qa.ask(table, q)
            assert_consistent(answer, table)
            assert answer.run_sql("duckdb") == answer.values
            for alt in answer.alternatives:  # every program the user may look at runs too
                from nqa.sql_run import run_script

                assert run_script(answer.setup_sql(), alt.sql, alt.program.terminal.op) == alt.values
    code, out, err = ask_cli(capsys, str(path), "what is the total of gold?", tiny_model_dir)
    assert code == 0 and "Traceback" not in err


def test_hostile_cells_are_data(tiny_qa):
    evil = ["'; DROP TABLE t; --", "<img src=x onerror=alert(1)>", "Robert'); DROP TABLE Students;--",
            '", "', "\\'", "NULL", "", "NaN", "1e309", "0x1F", "${jndi:ldap://x}", "🙂" * 50, "a" * 5000]
    frame = pd.DataFrame({"Name": evil, "Score": list(range(len(evil)))})
    for q in ("which name has the highest score?", "what is the name with score 3?", "how many names are null?"):
        with deadline():
            answer = tiny_qa.ask(frame, q)
        assert_consistent(answer, frame)
        assert answer.run_sql("duckdb") == answer.values
        if answer.program.terminal.op == "print":  # printed cells come back verbatim, as data
            assert set(answer.values) <= set(evil) | {str(i) for i in range(len(evil))}


# ---------------------------------------------------------------------------------------------
# unusual but valid tables, and numbers that are not numbers


def test_all_text_and_all_number_tables(tiny_qa):
    text = pd.DataFrame({"Name": ["ann", "bob", "cy"], "Team": ["red", "blue", "red"], "Note": ["x", "y", "z"]})
    numbers = pd.DataFrame({"A": [1, 2, 3], "B": [2.5, -1.0, 1e6], "C": [0, 0, 0]})
    for frame in (text, numbers):
        for q in ("what is the total of a?", "which name is in team red?", "how many rows?",
                  "what is the difference between the first and the last?", "which has the largest b?"):
            with deadline():
                assert_consistent(tiny_qa.ask(frame, q), frame)


def test_nan_and_inf_are_not_numbers(tiny_qa):
    """inf/NaN cells are kept as text, never summed: a total of 'inf' would be silently wrong."""
    from nqa.executor import execute
    from nqa.program import Program, Step
    from nqa.question import parse_question

    frame = pd.DataFrame({"Team": ["a", "b", "c", "d", "e"], "Points": [1.0, np.nan, np.inf, -np.inf, 2.0]})
    csv_text = "Team,Points\na,1\nb,NaN\nc,inf\nd,-inf\ne,2\nf,nan\ng,Infinity\n"
    for source in (frame, csv_text.encode()):
        table = load_table(source)
        col = table.columns[1]
        assert np.isfinite(col.numbers[~np.isnan(col.numbers)]).all()
        q = parse_question("what is the total of points?", table)
        for op, want in (("sum", "3"), ("max", "2"), ("min", "1"), ("avg", "1.5")):
            got = execute(Program([Step(op, column=1, column_name="Points")]), table, q)
            assert got.values == [want], (op, got.values)
        for question in ("what is the total of points?", "which team has the most points?",
                         "how many teams have more than 1 points?"):
            with deadline():
                answer = tiny_qa.ask(table, question)
            assert_consistent(answer, table)
            assert not any(v.lower() in ("nan", "inf", "-inf") and v not in col.raw for v in answer.values)


def test_a_table_of_only_empty_cells(tiny_qa):
    frame = pd.DataFrame({"A": [None, None], "B": [np.nan, np.nan]})
    with deadline():
        assert_consistent(tiny_qa.ask(frame, "what is the total of b?"), frame)


# ---------------------------------------------------------------------------------------------
# questions

REJECTED_QUESTIONS = {
    "empty": ("", "question is empty"),
    "spaces": ("   \t\n  ", "question is empty"),
    "10k characters": ("how many " * 1112, f"limit is {MAX_QUESTION_CHARS:,}"),
    "one char over": ("x" * (MAX_QUESTION_CHARS + 1), f"limit is {MAX_QUESTION_CHARS:,}"),
}
ODD_QUESTIONS = {
    "only numbers": "1990 2000 3.5 -7 1,000,000",
    "at the limit": ("gold " * (MAX_QUESTION_CHARS // 5))[:MAX_QUESTION_CHARS].strip(),
    "chinese": "哪个国家获得的金牌最多？",
    "arabic": "ما هي الدولة التي فازت بأكبر عدد من الميداليات الذهبية؟",
    "hebrew with rtl marks": "\u200fאיזו מדינה זכתה\u200f?",
    "emoji": "🏅🥇🇳🇴 ?",
    "zero-width joiners": "which\u200d nation\u200b won\ufeff most?",
    "combining accents": "whi\u0301ch na\u0308tion?",
    "punctuation only": "?!?!...,,;;",
    "sql": "'; DROP TABLE t; -- which nation?",
    "nul byte": "which\x00 nation won the most gold medals?",
    "huge number": "which nation won more than 1e308 gold medals? " + "9" * 400,
    "a cell verbatim": "norway",
}


@pytest.mark.parametrize("name", list(REJECTED_QUESTIONS))
def test_bad_questions_are_rejected_with_a_reason(name, tiny_qa, tiny_model_dir, capsys):
    question, message = REJECTED_QUESTIONS[name]
    with deadline(), pytest.raises(QuestionError, match=message):
        tiny_qa.ask(OLYMPICS, question)
    assert_cli_rejects(capsys, str(OLYMPICS), question, tiny_model_dir, message)


@pytest.mark.parametrize("name", list(ODD_QUESTIONS))
def test_odd_questions_get_a_consistent_answer(name, tiny_qa, tiny_model_dir, capsys):
    question = ODD_QUESTIONS[name]
    with deadline():
        answer = tiny_qa.ask(OLYMPICS, question)
    assert_consistent(answer, OLYMPICS)
    assert answer.to_dict()["question"] == answer.question
    code, out, err = ask_cli(capsys, str(OLYMPICS), question, tiny_model_dir)
    assert code == 0 and "Traceback" not in err
    assert json.loads(out)["answer"] == answer.values


@pytest.mark.parametrize("question", [None, 42, b"which nation?", ["which nation?"]])
def test_non_text_questions_are_rejected(question, tiny_qa):
    with pytest.raises(QuestionError, match="must be text"):
        tiny_qa.ask(OLYMPICS, question)


# ---------------------------------------------------------------------------------------------
# checkpoints: truncated, tampered, or not ours -> CheckpointError, and never unpickled


def _clone(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _reseal(d: Path) -> None:
    """Update the checksum in config.json, so that the loader itself (not the checksum) is tested."""
    from nqa.api import _sha256

    cfg = json.loads((d / "config.json").read_text())
    cfg["weights"]["sha256"] = _sha256(d / "model.safetensors")
    (d / "config.json").write_text(json.dumps(cfg))


class _Payload:
    """Unpickling this touches a marker file: proof that a loader ran pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _tamper_cases(tmp: Path) -> dict:
    marker = tmp / "UNPICKLED"

    def bad_json(d):
        (d / "config.json").write_text('{"format": "nqa-neural-programmer", "model": {')

    def not_an_object(d):
        (d / "config.json").write_text("[1, 2, 3]")

    def config_binary(d):
        (d / "config.json").write_bytes(b"\xff\xfe\x00garbage\x80")

    def other_format(d):
        cfg = json.loads((d / "config.json").read_text())
        cfg["format"] = "pytorch-pickle"
        (d / "config.json").write_text(json.dumps(cfg))

    def unknown_model_key(d):
        cfg = json.loads((d / "config.json").read_text())
        cfg["model"]["n_heads_typo"] = 8
        (d / "config.json").write_text(json.dumps(cfg))

    def bad_model_value(d):
        cfg = json.loads((d / "config.json").read_text())
        cfg["model"]["encoder"] = "gpt-17"
        (d / "config.json").write_text(json.dumps(cfg))

    def truncated(d):
        w = d / "model.safetensors"
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])

    def truncated_resealed(d):
        truncated(d)
        _reseal(d)

    def header_only(d):
        w = d / "model.safetensors"
        w.write_bytes(w.read_bytes()[:64])
        _reseal(d)

    def empty_weights(d):
        (d / "model.safetensors").write_bytes(b"")
        _reseal(d)

    def flipped_byte(d):
        w = d / "model.safetensors"
        data = bytearray(w.read_bytes())
        data[-10] ^= 0xFF
        w.write_bytes(bytes(data))

    def wrong_shapes(d):
        make_tiny_checkpoint_with(d.parent / (d.name + "-wide"), tiny_hidden=96)
        (d / "model.safetensors").write_bytes((d.parent / (d.name + "-wide") / "model.safetensors").read_bytes())
        _reseal(d)

    def pickle_as_safetensors(d):
        (d / "model.safetensors").write_bytes(pickle.dumps({"weights": _Payload(marker)}))
        _reseal(d)

    def torch_zip_as_safetensors(d):
        w = d / "model.safetensors"
        with zipfile.ZipFile(w, "w") as z:  # torch.save's format: a zip holding data.pkl
            z.writestr("archive/data.pkl", pickle.dumps(_Payload(marker)))
        _reseal(d)

    def missing_weights(d):
        (d / "model.safetensors").unlink()

    def missing_config(d):
        (d / "config.json").unlink()

    def weights_is_a_directory(d):
        (d / "model.safetensors").unlink()
        (d / "model.safetensors").mkdir()

    return {name: (fn, message) for name, fn, message in [
        ("bad json", bad_json, "not valid JSON"),
        ("config not an object", not_an_object, "expected a JSON object"),
        ("config binary", config_binary, "not valid JSON"),
        ("other format", other_format, "format"),
        ("unknown model key", unknown_model_key, "model config is not valid"),
        ("bad model value", bad_model_value, "model config is not valid|encoder"),
        ("truncated weights", truncated, "do not match the checksum"),
        ("truncated weights, checksum updated", truncated_resealed, "not a readable safetensors file"),
        ("header only", header_only, "not a readable safetensors file"),
        ("empty weights", empty_weights, "not a readable safetensors file"),
        ("one byte flipped", flipped_byte, "do not match the checksum"),
        ("wrong shapes", wrong_shapes, "do not fit the model config"),
        ("pickle named model.safetensors", pickle_as_safetensors, "not a readable safetensors file"),
        ("torch.save zip named model.safetensors", torch_zip_as_safetensors, "not a readable safetensors file"),
        ("missing weights", missing_weights, "no weights file"),
        ("missing config", missing_config, "no config.json"),
        ("weights is a directory", weights_is_a_directory, "no weights file|not a readable"),
    ]}


def make_tiny_checkpoint_with(path: Path, **overrides) -> Path:
    import torch

    from nqa.programmer import NeuralProgrammer, ProgrammerConfig

    torch.manual_seed(0)
    return TableQA(NeuralProgrammer(ProgrammerConfig(encoder="tiny", **overrides))).save_pretrained(path)


TAMPER_NAMES = list(_tamper_cases(Path("/nonexistent")))


@pytest.mark.parametrize("name", TAMPER_NAMES)
def test_tampered_checkpoints_fail_cleanly_and_never_unpickle(name, tmp_path, tiny_model_dir, capsys):
    fn, message = _tamper_cases(tmp_path)[name]
    d = _clone(tiny_model_dir, tmp_path / "ckpt")
    fn(d)
    with deadline(), pytest.raises(CheckpointError, match=message):
        TableQA.from_pretrained(d)
    assert_cli_rejects(capsys, str(OLYMPICS), QUESTION, d, message.split("|")[0])
    assert not (tmp_path / "UNPICKLED").exists(), "a loader unpickled the file"


def test_the_payload_really_would_fire(tmp_path):
    """The pickle tests prove something only if unpickling the payload touches the marker."""
    marker = tmp_path / "UNPICKLED"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


def test_a_checkpoint_with_nan_weights_still_answers_consistently(tmp_path, tiny_model_dir):
    """NaN weights (a diverged run) give low-information answers, never NaN confidence or a crash."""
    import torch
    from safetensors.torch import load_file, save_file

    d = _clone(tiny_model_dir, tmp_path / "nan")
    state = load_file(str(d / "model.safetensors"))
    state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(d / "model.safetensors"), metadata={"format": "nqa-neural-programmer"})
    _reseal(d)
    qa = TableQA.from_pretrained(d)
    with deadline():
        answer = qa.ask(OLYMPICS, QUESTION)
    assert_consistent(answer, OLYMPICS)

