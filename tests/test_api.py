"""The Python API on a tiny random-init model: the plumbing, not the model's accuracy."""
import json
from pathlib import Path

import pandas as pd
import pytest

from nqa import TableError, load_table
from nqa.api import MAX_QUESTION_CHARS, Answer, CheckpointError, QuestionError, TableQA

ROOT = Path(__file__).resolve().parents[1]
OLYMPICS = ROOT / "data" / "olympics.csv"
QUESTIONS = [
    "which country won the most gold medals?",
    "how many nations won more than 10 gold medals?",
    "what is the total number of bronze medals?",
    "which nation is listed after japan?",
]


def test_ask_accepts_a_path_a_dataframe_and_a_table(tiny_qa):
    q = QUESTIONS[0]
    by_path = tiny_qa.ask(str(OLYMPICS), q)
    by_frame = tiny_qa.ask(pd.read_csv(OLYMPICS), q)
    by_table = tiny_qa.ask(load_table(OLYMPICS), q)
    assert isinstance(by_path, Answer)
    assert by_path.values == by_frame.values == by_table.values
    assert str(by_path.program) == str(by_frame.program) == str(by_table.program)


def test_answer_fields_are_consistent(tiny_qa):
    table = load_table(OLYMPICS)
    for q in QUESTIONS:
        a = tiny_qa.ask(table, q)
        assert a.question == q
        assert all(isinstance(v, str) for v in a.values)
        assert a.text == (", ".join(a.values) if a.values else "(no answer)")
        assert 0.0 <= a.confidence <= 1.0
        assert a.n_steps == len(a.program.steps) >= 1
        assert len(a.selections) == len(a.program.steps) - 1
        for r, c in a.cells:
            assert 0 <= r < table.n_rows and -1 <= c < table.n_cols
        assert all(0.0 <= p <= 1.0 for p in a.program.halting)
        assert all(0.0 <= alt.probability <= 1.0 for alt in a.alternatives)


def test_sql_reproduces_the_answer_in_sqlite_and_duckdb(tiny_qa):
    table = load_table(OLYMPICS)
    for q in QUESTIONS:
        a = tiny_qa.ask(table, q)
        assert a.run_sql("sqlite") == a.values, (q, str(a.program), a.sql)
        assert a.run_sql("duckdb") == a.values, (q, str(a.program), a.to_sql("duckdb"))
        for alt in a.alternatives:
            assert alt.sql.count("SELECT") >= 1


def test_to_dict_is_json(tiny_qa):
    a = tiny_qa.ask(OLYMPICS, QUESTIONS[1])
    d = json.loads(json.dumps(a.to_dict()))
    assert d["answer"] == a.values and d["sql"] == a.sql and d["program"] == str(a.program)
    assert len(d["steps"]) == a.n_steps and d["steps"][-1]["rows"] is None
    assert d["halting"] == pytest.approx(a.program.halting)


def test_ask_batch_equals_ask(tiny_qa):
    table = load_table(OLYMPICS)
    batch = tiny_qa.ask_batch(table, QUESTIONS)
    single = [tiny_qa.ask(table, q) for q in QUESTIONS]
    assert [a.values for a in batch] == [a.values for a in single]
    assert [str(a.program) for a in batch] == [str(a.program) for a in single]
    assert [a.confidence for a in batch] == pytest.approx([a.confidence for a in single], abs=1e-5)
    planets = load_table(ROOT / "data" / "planets.csv")
    mixed = tiny_qa.ask_batch([table, planets], [QUESTIONS[0], "which planet has the most moons?"])
    assert mixed[1].values == tiny_qa.ask(planets, "which planet has the most moons?").values
    with pytest.raises(ValueError, match="one per question"):
        tiny_qa.ask_batch([table], QUESTIONS)


def test_save_and_load_round_trip(tiny_qa, tmp_path):
    import torch

    tiny_qa.save_pretrained(tmp_path / "copy")
    again = TableQA.from_pretrained(tmp_path / "copy")
    for (k, v), (k2, v2) in zip(tiny_qa.model.state_dict().items(), again.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    for q in QUESTIONS:
        a, b = tiny_qa.ask(OLYMPICS, q), again.ask(OLYMPICS, q)
        assert (a.values, str(a.program)) == (b.values, str(b.program))


@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("  \n\t ", "empty"), ("why " * 3000, f"limit is {MAX_QUESTION_CHARS:,}"), (42, "must be text"),
])
def test_bad_questions(tiny_qa, question, message):
    with pytest.raises(QuestionError, match=message):
        tiny_qa.ask(OLYMPICS, question)


def test_question_whitespace_is_normalised(tiny_qa):
    a = tiny_qa.ask(OLYMPICS, "  which country won\n the most gold medals?  ")
    assert a.question == "which country won the most gold medals?"
    with pytest.raises(QuestionError, match="list of questions"):
        tiny_qa.ask_batch(OLYMPICS, "one question")


def test_bad_tables(tiny_qa, tmp_path):
    with pytest.raises(TableError, match="no such file"):
        tiny_qa.ask(tmp_path / "missing.csv", "how many?")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(TableError, match="no rows"):
        tiny_qa.ask(tmp_path / "header.csv", "how many?")
    (tmp_path / "bin.csv").write_bytes(b"\x00\xff\x00\x01" * 100)
    with pytest.raises(TableError):
        tiny_qa.ask(tmp_path / "bin.csv", "how many?")


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_corrupt_checkpoints_raise_checkpoint_error(tiny_model_dir, tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        TableQA.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="config.json"):
        TableQA.from_pretrained(tmp_path)

    truncated = _copy(tiny_model_dir, tmp_path / "truncated")
    w = truncated / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="checksum"):
        TableQA.from_pretrained(truncated)
    # Without the recorded checksum, the safetensors reader itself must refuse the file.
    cfg = json.loads((truncated / "config.json").read_text())
    del cfg["weights"]["sha256"]
    (truncated / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="safetensors"):
        TableQA.from_pretrained(truncated)

    tampered = _copy(tiny_model_dir, tmp_path / "tampered")
    w = tampered / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-3] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        TableQA.from_pretrained(tampered)

    bad_json = _copy(tiny_model_dir, tmp_path / "bad_json")
    (bad_json / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        TableQA.from_pretrained(bad_json)

    no_weights = _copy(tiny_model_dir, tmp_path / "no_weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights file"):
        TableQA.from_pretrained(no_weights)

    pickle = _copy(tiny_model_dir, tmp_path / "pickle")
    import pickle as pk

    (pickle / "model.safetensors").write_bytes(pk.dumps({"weights": [1, 2, 3]}))
    cfg = json.loads((pickle / "config.json").read_text())
    del cfg["weights"]["sha256"]
    (pickle / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="safetensors"):
        TableQA.from_pretrained(pickle)


def test_config_that_does_not_fit_the_weights(tiny_model_dir, tmp_path):
    wrong = _copy(tiny_model_dir, tmp_path / "wrong")
    cfg = json.loads((wrong / "config.json").read_text())
    _grow_first_int(cfg["model"])
    (wrong / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not fit|not valid"):
        TableQA.from_pretrained(wrong)


def _grow_first_int(d: dict) -> None:
    """Double the first size-like integer in a (nested) config, so the weights no longer fit."""
    for k, v in d.items():
        if isinstance(v, dict):
            _grow_first_int(v)
            return
        if isinstance(v, int) and not isinstance(v, bool) and v >= 8 and ("hidden" in k or "dim" in k):
            d[k] = v * 2
            return
    raise AssertionError(f"no size in {d}")


def test_cuda_asked_for_without_cuda(tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        assert TableQA.from_pretrained(tiny_model_dir, device="cuda").device == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            TableQA.from_pretrained(tiny_model_dir, device="cuda")
        assert TableQA.from_pretrained(tiny_model_dir, device="auto").device == "cpu"


def test_one_model_serves_many_threads(tiny_qa):
    """The app shares one TableQA between sessions (threads): answers must not mix or fail."""
    from concurrent.futures import ThreadPoolExecutor

    want = {q: tiny_qa.ask(OLYMPICS, q).values for q in QUESTIONS}
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda q: (q, tiny_qa.ask(OLYMPICS, q).values), QUESTIONS * 4))
    assert all(values == want[q] for q, values in got)


def test_random_tables_and_questions_answer_and_their_sql_agree(tiny_qa):
    """Fuzz the whole pipeline: any table and question either answers (with SQL that reproduces the
    answer in SQLite) or raises a clear ValueError; never anything else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    cell = st.one_of(st.sampled_from(["", "red", "Blue Sky", "1,234", "-3.5", "45%", "$12", "1999", "1st",
                                      "March 3, 2001", "n/a", "é", "O'Brien", "a;b", "3-1"]),
                     st.integers(-1000, 3000).map(str), st.text(min_size=0, max_size=6))
    header = st.text(min_size=0, max_size=8)

    @st.composite
    def table_and_question(draw):
        n_cols = draw(st.integers(1, 4))
        rows = draw(st.lists(st.lists(cell, min_size=n_cols, max_size=n_cols), min_size=1, max_size=8))
        cols = draw(st.lists(header, min_size=n_cols, max_size=n_cols))
        words = [c for r in rows for c in r] + cols + ["how many", "which", "most", "more than", "after", "total"]
        q = " ".join(draw(st.lists(st.sampled_from(words), min_size=1, max_size=6))) + "?"
        return pd.DataFrame(rows, columns=[f"{c}{j}" for j, c in enumerate(cols)]), q

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(table_and_question())
    def check(tq):
        frame, question = tq
        try:
            a = tiny_qa.ask(frame, question)
        except ValueError:
            return
        assert a.run_sql("sqlite") == a.values, (str(a.program), a.sql)

    check()
