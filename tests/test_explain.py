"""The app's view helpers (nqa.explain): samples, upload limits, highlighting, chart data."""
import pytest

from nqa import TableError, load_table
from nqa.explain import (
    ANSWER_COLOR,
    EVIDENCE_COLOR,
    MAX_ROWS,
    ROW_COLOR,
    cell_styles,
    describe_step,
    evidence_cells,
    halting_frame,
    highlighted,
    read_upload,
    samples,
    step_charts,
    step_label,
    top_probs,
)


def test_every_sample_table_loads_and_its_questions_mention_real_columns():
    found = samples()
    assert {s.name for s in found} >= {"orders", "olympics", "planets", "films", "cities", "football"}
    for s in found:
        t = load_table(s.path)
        assert t.n_rows >= 8 and t.n_cols >= 5
        assert 3 <= len(s.questions) <= 4


def test_sample_cells_are_typed():
    kinds = {s.name: {c.name: c.kind for c in load_table(s.path).columns} for s in samples()}
    assert kinds["olympics"]["Gold"] == "number"
    assert kinds["films"]["Worldwide gross"] == "number"  # "$2,923,706,026"
    assert kinds["football"]["Date"] == "date"  # "August 12, 2023"
    assert kinds["planets"]["Diameter (km)"] == "number"  # "142,984"


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not a text/CSV file"),
    (b"\x00\x01\x02\x03binary\x00\x00" * 50, "not a text/CSV file"),
    (b"a,b\n", "no rows"),
])
def test_bad_uploads_raise_table_errors_with_a_reason(data, message):
    with pytest.raises(TableError, match=message):
        read_upload(data, "upload.csv")


def test_upload_limits():
    big = b"x\n" + b"1\n" * (MAX_ROWS + 1)
    with pytest.raises(TableError, match="limit"):
        read_upload(big, "big.csv")
    with pytest.raises(TableError, match="larger than the limit"):
        read_upload(b"x\n" + b"1234567\n" * 200_000, "huge.csv", max_mb=1)
    t = read_upload("name,age\nAnn,30\nBo,41\n".encode("utf-16"), "utf16.csv")
    assert t.column_names == ["name", "age"] and t.n_rows == 2


def test_highlighting_marks_answer_cells_and_selected_rows():
    styles = cell_styles(3, 2, cells=[(1, 0)], rows=[1, 2])
    assert styles[0] == ["", ""]
    assert styles[1] == [ANSWER_COLOR, ROW_COLOR]
    assert styles[2] == [ROW_COLOR, ROW_COLOR]
    assert cell_styles(2, 2, cells=[(0, -1)])[0] == [ANSWER_COLOR, ANSWER_COLOR]  # count: whole rows
    styles = cell_styles(2, 2, cells=[(1, 0)], rows=[1], evidence=[(1, 1), (1, 0)])
    assert styles[1] == [ANSWER_COLOR, EVIDENCE_COLOR]  # the answer wins over the evidence
    t = read_upload(b"name,age\nAnn,30\nBo,41\nCy,25\n", "t.csv")
    html = highlighted(t, cells=[(1, 0)], rows=[1, 2]).to_html()
    assert "T_" in html and ANSWER_COLOR.split(";")[0] in html and ">Bo<" in html


def test_chart_data_and_labels():
    df = top_probs({"count": 0.1, "argmax": 0.7, "print": 0.15, "sum": 0.05}, k=3)
    assert list(df.choice) == ["argmax", "print", "count"] and not df.chosen.any()
    df = top_probs({"count": 0.1, "argmax": 0.7, "print": 0.15, "sum": 0.05}, k=2, chosen="sum")
    assert list(df.choice) == ["argmax", "print", "sum"] and list(df.chosen) == [False, False, True]
    assert step_label(0, 1).startswith("Step 1 · selects") and "answer" in step_label(1, 1)


def test_step_charts_and_halting_frame():
    from nqa.program import Program, Step
    from nqa.question import Constant

    c = Constant("number", "10", "10", 10.0, (3, 4))
    steps = [Step("filter_gt", 2, "Gold", 0, c, op_probs={"filter_gt": 0.6, "argmax": 0.4},
                  column_probs={"Gold": 0.9, "Total": 0.1}, constant_probs={"10": 1.0}),
             Step("count", op_probs={"count": 0.8, "print": 0.2})]
    program = Program(steps, halting=[0.1, 0.9])
    titles = [t for t, _ in step_charts(steps[0])]
    assert titles == ["Operation", "Column", "Value from the question"]
    assert [t for t, _ in step_charts(steps[1])] == ["Operation"]
    for _, frame in step_charts(steps[0]):
        assert frame.chosen.sum() == 1 and frame.probability.iloc[0] == frame.probability.max()
    h = halting_frame(program)
    assert list(h.choice) == ["after 0 steps", "after 1 step"] and list(h.chosen) == [False, True]


def test_every_op_has_a_plain_english_description():
    from nqa.program import OPS, Step
    from nqa.question import Constant

    ten = Constant("number", "10", "10", 10.0, (3, 4))
    japan = Constant("text", "Japan", "japan", None, (5, 6))
    for op in OPS:
        text = describe_step(Step(op, 0, "Gold medals", 0, ten))
        assert text and "{" not in text and "_" not in text
    assert describe_step(Step("filter_gt", 0, "Gold", 0, ten)) == "keep the rows whose Gold is greater than 10"
    assert describe_step(Step("filter_eq", 1, "Nation", 0, japan)) == 'keep the rows whose Nation matches "Japan"'
    assert describe_step(Step("sum", 0, "Gold medals")) == "add up the “Gold medals” of the selected rows"


def test_evidence_cells_are_the_compared_values_of_the_kept_rows():
    from types import SimpleNamespace

    from nqa.program import Program, Step

    program = Program([Step("filter_gt", 2, "Gold"), Step("argmax", 5, "Total"), Step("print", 1, "Nation")])
    answer = SimpleNamespace(program=program, selections=[[0, 1, 3], [0]])
    assert evidence_cells(answer) == [(0, 2), (1, 2), (3, 2), (0, 5)]
