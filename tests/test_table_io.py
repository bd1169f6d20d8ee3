"""Reading what users upload: encodings, delimiters, escapes, odd shapes, limits, DataFrames."""
import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqa.table import TableError, load_table
from nqa.table_io import MAX_COLUMNS, MAX_FILE_BYTES, sniff_delimiter


def rows(t):
    return [[c.raw[i] for c in t.columns] for i in range(t.n_rows)]


def test_plain_path(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("Name,Score\nAnn,1\nBob,2\n", encoding="utf-8")
    t = load_table(p)
    assert t.column_names == ["Name", "Score"] and rows(t) == [["Ann", "1"], ["Bob", "2"]]
    assert t.columns[1].kind == "number" and t.source == str(p)
    assert load_table(str(p)).n_rows == 2


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252"])
def test_encodings(encoding):
    text = "Città,Prix\nSão Paulo,5 €\nZürich,3 €\nCréteil,2 €\nNîmes,8 €\n"
    if encoding == "latin-1":
        text = text.replace("€", "EUR")
    t = load_table(io.BytesIO(text.encode(encoding)))
    assert t.column_names == ["Città", "Prix"]
    assert t.columns[0].raw == ["São Paulo", "Zürich", "Créteil", "Nîmes"]


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiters(delim):
    text = delim.join(["a", "b", "c"]) + "\n" + delim.join(["1", '"x, y"', "3"]) + "\n"
    t = load_table(io.StringIO(text))
    assert t.column_names == ["a", "b", "c"] and rows(t) == [["1", "x, y", "3"]]


def test_semicolon_csv_with_decimal_commas():
    # European exports: ';' separates, ',' is inside numbers.
    assert sniff_delimiter("Land;Wert\nDeutschland;1,5\nFrankreich;2,5\n") == ";"


def test_single_column_with_separators_inside():
    t = load_table(io.StringIO("Name\nSmith; John\nDoe; Jane\n"))
    assert t.column_names == ["Name"] and t.columns[0].raw == ["Smith; John", "Doe; Jane"]


def test_wtq_escapes_and_quoted_newlines():
    data = b'"Year","Title"\n"2009","Yonimo \\\\\\"Kim\\\\\\" yo na"\n"2001","The Moon\n\nReleased: 2001"\n'
    t = load_table(io.BytesIO(data))
    assert rows(t) == [["2009", 'Yonimo \\"Kim\\" yo na'], ["2001", "The Moon\n\nReleased: 2001"]]


def test_standard_quotes_and_literal_backslashes():
    t = load_table(io.StringIO('path,quote\nC:\\data\\x,"say ""hi"""\n'))
    assert rows(t) == [["C:\\data\\x", 'say "hi"']]


def test_blank_duplicate_headers_and_ragged_rows():
    t = load_table(io.StringIO("a,,a\n1,2\n3,4,5,6\n\n7,8,9\n,,\n"))
    assert t.column_names == ["a", "column 2", "a (2)", "column 4"]
    assert rows(t) == [["1", "2", "", ""], ["3", "4", "5", "6"], ["7", "8", "9", ""]]


def test_header_only_is_an_empty_table():
    t = load_table(io.StringIO("a,b\n"))
    assert t.column_names == ["a", "b"] and t.n_rows == 0
    assert t.columns[0].numbers.shape == (0,) and t.columns[0].values.shape == (0,)


@pytest.mark.parametrize("content", [b"", b"   \n\n", "\ufeff".encode("utf-8")])
def test_empty_file(content):
    with pytest.raises(TableError, match="empty"):
        load_table(io.BytesIO(content))


@pytest.mark.parametrize("content, what", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
    (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
    (b"%PDF-1.4\n%\xe2\xe3", "PDF"),
    (bytes(range(256)) * 8, "binary"),
])
def test_binary_files(content, what):
    with pytest.raises(TableError, match="not a text/CSV file") as e:
        load_table(io.BytesIO(content), name="upload.bin")
    assert what in str(e.value) and "upload.bin" in str(e.value)


def test_size_limit(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("a\n" + "1\n" * 1000)
    with pytest.raises(TableError, match=r"larger than the limit of 0 MiB \(1,000 bytes\)"):
        load_table(p, max_bytes=1000)
    with pytest.raises(TableError, match="larger than the limit"):
        load_table(io.BytesIO(p.read_bytes()), max_bytes=1000)
    assert MAX_FILE_BYTES >= 100 * 1024 * 1024


def test_column_limit():
    wide = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)) + "\n"
    with pytest.raises(TableError, match=f"{MAX_COLUMNS + 1} columns is more than the limit of {MAX_COLUMNS}"):
        load_table(io.StringIO(wide))
    with pytest.raises(TableError, match="limit"):
        load_table(pd.DataFrame(np.zeros((1, MAX_COLUMNS + 1))))


@pytest.mark.parametrize("source, message", [
    ("/no/such/file.csv", "no such file"),
    (".", "directory"),
    (12, "cannot read a table from a int"),
    ("a,b\n1,2", "must be a file path"),
])
def test_bad_sources(source, message):
    with pytest.raises(TableError, match=message):
        load_table(source)


def test_table_error_is_value_error():
    assert issubclass(TableError, ValueError)


def test_bytes_and_text_file_objects():
    assert rows(load_table(b"x,y\n1,2\n")) == [["1", "2"]]
    assert rows(load_table(io.StringIO("x,y\n1,2\n"))) == [["1", "2"]]


def test_dataframe_dtypes():
    df = pd.DataFrame({
        "f": [1.0, np.nan, np.inf, 2.5],
        "i": pd.array([1, None, 3, 4], dtype="Int64"),
        "b": [True, False, None, True],
        "s": ["a", None, "c", float("nan")],
        "d": pd.to_datetime(["2020-01-02", None, "2021-03-04 10:00", "2022-12-31"], format="ISO8601"),
        "c": pd.Categorical(["x", "y", None, "x"]),
        "big": [10**20, 1, 2, 3],
    })
    t = load_table(df)
    raw = {c.name: c.raw for c in t.columns}
    assert raw["f"] == ["1", "", "inf", "2.5"]
    f = t.columns[0].numbers
    assert f[0] == 1.0 and math.isnan(f[1]) and math.isnan(f[2]) and f[3] == 2.5  # inf is text, not a number
    assert raw["i"] == ["1", "", "3", "4"] and t.columns[1].kind == "number"
    assert raw["b"] == ["True", "False", "", "True"]
    assert raw["s"] == ["a", "", "c", ""]
    assert raw["d"] == ["2020-01-02", "", "2021-03-04T10:00:00", "2022-12-31"] and t.columns[4].kind == "date"
    assert raw["c"] == ["x", "y", "", "x"]
    assert t.columns[6].numbers[0] == 1e20
    assert t.source == "<dataframe>"


def test_dataframe_index_and_names():
    df = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["a", "b"], name="key"))
    t = load_table(df)
    assert t.column_names == ["key", "v"] and t.columns[0].raw == ["a", "b"]
    t = load_table(pd.DataFrame([[1, 2]], columns=[0, 0]))
    assert t.column_names == ["0", "0 (2)"]
    assert load_table(pd.DataFrame({"a": []})).n_rows == 0
    assert load_table(pd.Series([1, 2], name="s")).column_names == ["s"]


@pytest.mark.slow
def test_100k_rows_load_quickly(tmp_path):
    """100k rows x 5 columns, most values distinct (the worst case for per-value caching)."""
    import time

    rng = np.random.default_rng(0)
    n = 100_000
    df = pd.DataFrame({"id": np.arange(n), "name": [f"item {i}" for i in range(n)],
                       "price": rng.uniform(0, 1e6, n).round(2),
                       "date": [f"{1900 + i % 120}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)],
                       "city": rng.choice(["Paris", "Rome", "Oslo"], n)})
    p = tmp_path / "big.csv"
    df.to_csv(p, index=False)
    start = time.perf_counter()
    t = load_table(p)
    seconds = time.perf_counter() - start
    print(f"loaded 100k x 5 CSV in {seconds:.2f} s")
    assert t.n_rows == n and [c.kind for c in t.columns] == ["number", "text", "number", "date", "text"]
    assert seconds < 10


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.text(alphabet=st.sampled_from(list('ab1,;|\t"\\\n\r é€-')), max_size=200).map(str.encode)))
def test_any_bytes_give_a_table_or_a_table_error(data):
    try:
        t = load_table(io.BytesIO(data))
    except TableError as e:
        assert str(e)
    else:
        assert t.n_cols >= 1 and all(len(c.raw) == t.n_rows for c in t.columns)
