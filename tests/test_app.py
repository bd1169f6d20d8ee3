"""The Streamlit app through streamlit's AppTest: real script runs, widgets found by key."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nqa.explain import answer_headline, describe_step

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "nqa" / "app" / "streamlit_app.py")
TIMEOUT = 120  # the first run loads the model (tiny here, but torch and transformers import)


@pytest.fixture
def app(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("NQA_MODEL", str(tiny_model_dir))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


@pytest.fixture
def olympics_app(app):
    app.selectbox(key="sample").select("Olympic medal table (Tokyo 2020)").run()
    assert not app.exception
    return app


def texts(at) -> str:
    return "\n".join(e.value for e in [*at.markdown, *at.caption, *at.error, *at.warning, *at.info])


def test_first_page_shows_a_sample_table_and_asks_for_a_question(app):
    assert app.selectbox(key="sample").value.startswith("Orders")
    assert app.text_input(key="question").value == ""
    assert "Ask a question about a table" in app.title[0].value
    assert not app.error


def test_ask_a_sample_question_shows_answer_confidence_program_and_sql(olympics_app, tiny_qa):
    app = olympics_app
    q = "which country won the most gold medals?"
    app.text_input(key="question").set_value(q)
    app.button(key="ask").click().run()
    assert not app.exception and not app.error
    want = tiny_qa.ask(ROOT / "data" / "olympics.csv", q)
    assert f"## {answer_headline(want)}" in texts(app)
    assert app.metric[0].label == "Confidence" and app.metric[0].value == f"{want.confidence:.0%}"
    assert app.code[0].value == want.sql
    assert str(want.program) in texts(app)
    for step in want.program.steps:  # the program tab: every step, in plain English
        assert describe_step(step) in texts(app)
    assert app.sidebar.dataframe  # the history
    # Another dialect: the SQL follows the sidebar's choice.
    app.selectbox(key="dialect").select("duckdb").run()
    assert app.code[0].value == want.to_sql("duckdb")


def test_example_buttons_ask_their_question(olympics_app, tiny_qa):
    app = olympics_app
    app.button(key="example_1").click().run()
    assert not app.exception
    q = app.text_input(key="question").value
    assert q == "how many nations won more than 10 gold medals?"
    assert f"## {answer_headline(tiny_qa.ask(ROOT / 'data' / 'olympics.csv', q))}" in texts(app)
    assert len(app.session_state.history) == 1


def test_empty_question_gets_a_message_not_an_exception(app):
    app.button(key="ask").click().run()
    assert not app.exception
    assert any("empty" in w.value for w in app.warning)


def test_other_sample_tables(app):
    app.selectbox(key="sample").select("The planets").run()
    app.button(key="example_0").click().run()
    assert not app.exception and not app.error
    assert app.code  # SQL shown for the new table


def _upload(app, name: str, data: bytes):
    app.radio(key="source").set_value("Upload a file").run()
    app.file_uploader(key="upload").upload(name, data, "text/csv").run()
    assert not app.exception


def test_uploaded_csv_can_be_asked(app, tiny_qa):
    _upload(app, "pets.csv", b"name,legs\ncat,4\nbird,2\nsnake,0\n")
    assert not app.error
    app.text_input(key="question").set_value("which animal has the most legs?")
    app.button(key="ask").click().run()
    assert not app.exception and not app.error and app.code


@pytest.mark.parametrize("name, data, message", [
    ("empty.csv", b"", "empty"),
    ("image.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "not a text/CSV file"),
    ("binary.csv", b"\x00\x01\x02binary\x00\xff" * 64, "not a text/CSV file"),
    ("header.csv", b"a,b,c\n", "no rows"),
])
def test_bad_uploads_show_an_error(app, name, data, message):
    _upload(app, name, data)
    assert any(message in e.value for e in app.error), [e.value for e in app.error]
    assert not app.code  # nothing asked about a table that is not there


def test_a_value_the_table_lacks_gets_i_dont_know_not_a_bold_answer(app, tiny_qa):
    q = "what is the unit price of the chainsaw?"
    app.text_input(key="question").set_value(q)
    app.button(key="ask").click().run()
    assert not app.exception
    assert "## I don't know" in texts(app)
    assert any("No cell mentions 'chainsaw'" in w.value for w in app.warning)
    assert f"## {answer_headline(tiny_qa.ask(ROOT / 'data' / 'orders.csv', q))}" not in texts(app)


def test_big_upload_is_read_by_duckdb_and_answered_there(app, tiny_qa):
    from nqa.explain import MAX_ROWS

    data = b"name,legs\n" + b"".join(f"animal {i},{i % 7}\n".encode() for i in range(MAX_ROWS + 5))
    _upload(app, "many.csv", data)
    assert not app.error, [e.value for e in app.error]
    assert any("Kept in DuckDB" in c.value for c in app.caption)
    app.text_input(key="question").set_value("which animal has the most legs?")
    app.button(key="ask").click().run()
    assert not app.exception and not app.error
    assert "WITH" in app.code[0].value and "read_parquet" in app.code[0].value.lower()


@pytest.mark.parametrize("suffix", ["parquet", "xlsx", "jsonl"])
def test_parquet_excel_and_json_lines_uploads(app, tiny_qa, tmp_path, suffix):
    import pandas as pd

    frame = pd.DataFrame({"name": ["cat", "bird", "snake"], "legs": [4, 2, 0]})
    path = tmp_path / f"pets.{suffix}"
    {"parquet": lambda: frame.to_parquet(path), "xlsx": lambda: frame.to_excel(path, index=False),
     "jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[suffix]()
    _upload(app, path.name, path.read_bytes())
    assert not app.error, [e.value for e in app.error]
    app.text_input(key="question").set_value("which animal has the most legs?")
    app.button(key="ask").click().run()
    assert not app.exception and not app.error and app.code
