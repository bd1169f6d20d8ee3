"""nqa's web app: pick or upload a table, ask a question, see the answer and how it was found.

A thin layer of widgets over nqa's public API (`nqa.api`, `nqa.explain`); no model logic lives here.
Run it with `nqa app` (or `streamlit run app/streamlit_app.py`). NQA_MODEL picks another checkpoint.
"""
from __future__ import annotations

import os

import streamlit as st

from nqa import TableError, load_table
from nqa.api import (
    MAX_QUESTION_CHARS,
    SQL_DIALECTS,
    CheckpointError,
    QuestionError,
    TableQA,
    check_question,
    single_threaded,
)
from nqa.explain import (
    ANSWER_COLOR,
    EVIDENCE_COLOR,
    MAX_ROWS,
    MAX_UPLOAD_MB,
    ROW_COLOR,
    answer_headline,
    describe_step,
    evidence_cells,
    halting_frame,
    highlighted,
    samples,
    step_charts,
    step_label,
    table_frame,
)
from nqa.program import answer_text
from nqa.sources import EngineSource, profile
from nqa.sources.preview import rows_frame
from nqa.sources.upload import UPLOAD_TYPES, open_upload
from nqa.table import footer_note

st.set_page_config(page_title="nqa · ask a table", page_icon=":material/table_chart:", layout="wide")
# Less empty space above the title than Streamlit's default.
st.markdown("<style>[data-testid='stMainBlockContainer'], .block-container {padding-top: 2.5rem;}</style>",
            unsafe_allow_html=True)


# ---------------------------------------------------------------------------------------------
# shared resources (one per server) and per-user state


@st.cache_resource(show_spinner="Loading the model…")
def get_model(path: str | None) -> TableQA:
    """The model, loaded once per server and shared by every session (it holds no user state)."""
    single_threaded()  # one small question runs fastest on one thread (see nqa.api.single_threaded)
    return TableQA.from_pretrained(path)


@st.cache_resource
def get_sample_table(path: str):
    return load_table(path)


def init_state() -> None:
    for key, value in (("history", []), ("result", None), ("pending", False), ("question", "")):
        if key not in st.session_state:
            st.session_state[key] = value


def ask_now() -> None:
    st.session_state.pending = True


def use_example(question: str) -> None:
    st.session_state.question = question
    st.session_state.pending = True


def legend() -> str:
    """The highlight colours of the answer table, as small swatches (the exact CSS the table uses)."""
    items = [(ANSWER_COLOR, "answer"), (EVIDENCE_COLOR, "values the program compared"),
             (ROW_COLOR, "rows it kept")]
    return " &nbsp; ".join(f"<span style='{css}; padding: 2px 8px; border-radius: 4px'>{text}</span>"
                           for css, text in items)


def prob_chart(frame, height: int | None = None):
    """A small horizontal bar chart of probabilities, most probable on top, the chosen one dark."""
    import altair as alt

    return (
        alt.Chart(frame)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]),
                    axis=alt.Axis(format="%", title=None, tickCount=5)),
            y=alt.Y("choice:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160)),
            color=alt.condition("datum.chosen", alt.value("#1e88e5"), alt.value("#bbdefb")),
            tooltip=["choice", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=height or 22 * len(frame) + 40)  # the height includes the x axis
    )


init_state()

# ---------------------------------------------------------------------------------------------
# sidebar: the table, the SQL dialect, the history

with st.sidebar:
    st.header("1 · Choose a table")
    sample_list = samples()
    source = st.radio("Table source", ["Sample table", "Upload a file"], key="source", horizontal=True,
                      label_visibility="collapsed")
    table, table_id, sample, upload_error = None, None, None, None
    engine: EngineSource | None = None  # a big upload, kept in DuckDB (nqa.sources); `table` is its profile
    if source == "Sample table" and sample_list:
        titles = [s.title for s in sample_list]
        title = st.selectbox("Sample table", titles, key="sample")
        sample = sample_list[titles.index(title or titles[0])]
        table, table_id = get_sample_table(str(sample.path)), f"sample:{sample.name}"
    else:
        upload = st.file_uploader("Table file", type=UPLOAD_TYPES, key="upload",
                                  help="CSV/TSV (comma, tab, semicolon or pipe separated), Parquet, Excel (.xlsx) "
                                       f"or JSON lines; the first row is the header. Up to {MAX_UPLOAD_MB} MB.")
        st.caption(f"Up to {MAX_UPLOAD_MB} MB per file. Tables over {MAX_ROWS:,} rows or a few MB are read "
                   "and indexed by DuckDB, out of memory. The first row must hold the column names.")
        if upload is not None:
            table_id = f"upload:{upload.file_id}"
            cached = st.session_state.get("upload_cache")
            if cached and cached[0] == table_id:
                table, engine = cached[1], cached[2]
            else:
                try:
                    opened = open_upload(upload.getvalue(), upload.name, max_rows=MAX_ROWS)
                    if isinstance(opened, EngineSource):
                        bar = st.progress(0.0, text=f"Reading and indexing {upload.name}…")
                        engine = opened
                        table = profile(opened, progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0),
                                                                                    text=msg))
                        bar.empty()
                    else:
                        table = opened
                    st.session_state.upload_cache = (table_id, table, engine)
                except TableError as e:
                    upload_error = str(e)
                    table, engine = None, None

    st.header("2 · SQL dialect")
    dialect = st.selectbox("SQL dialect", SQL_DIALECTS, key="dialect", label_visibility="collapsed",
                           help="The SQL below each answer is written in this dialect.")


# Answer a new question (the callbacks only flag it; errors are kept to show under the question box).
notice = None
if st.session_state.pending and table is not None:
    st.session_state.pending = False
    try:
        question = check_question(st.session_state.question)
        qa = get_model(os.environ.get("NQA_MODEL") or None)
        with st.spinner("Thinking…" if engine is None else "Thinking, and running the SQL in DuckDB…"):
            answer = qa.ask(engine if engine is not None else table, question)
        st.session_state.result = (table_id, answer)
        st.session_state.history.append({"table": table.source.split("/")[-1], "question": question,
                                         "answer": answer.text, "confidence": answer.confidence})
    except QuestionError as e:
        notice = ("warning", str(e).capitalize())
    except CheckpointError as e:
        notice = ("error", f"The model could not be loaded: {e}. Set NQA_MODEL to a checkpoint directory.")
    except (TableError, ValueError) as e:
        notice = ("error", f"This question cannot be answered on this table: {e}")
    except Exception as e:  # a bug must not show a traceback to the user, but must be reported
        notice = ("error", f"Something went wrong while answering ({type(e).__name__}: {e}). Please report it.")

with st.sidebar:
    st.header("History")
    if st.session_state.history:
        import pandas as pd

        hist = pd.DataFrame(st.session_state.history[::-1])
        st.dataframe(hist, hide_index=True, key="history_table",
                     column_config={"confidence": st.column_config.ProgressColumn(
                         "confidence", min_value=0.0, max_value=1.0, format="percent")})
        st.button("Clear history", key="clear_history", on_click=lambda: st.session_state.history.clear())
    else:
        st.caption("Your questions and answers will appear here.")


# ---------------------------------------------------------------------------------------------
# main page

st.title("Ask a question about a table")
st.markdown(
    "Type a question in plain English. A **Neural Programmer** writes a short program over the table "
    "(filter rows, pick the largest, count, add up…), runs it, and shows you **the answer**, **the cells "
    "it came from**, **each step of the program**, and **SQL** that gives the same answer in a database."
)

if upload_error is not None:
    st.error(f"This file cannot be used as a table: {upload_error}", icon=":material/error:")
    st.info("Upload a table file (CSV, Parquet, Excel .xlsx or JSON lines) whose first row holds the column "
            "names, or pick a sample table.", icon=":material/arrow_back:")
    st.stop()
if table is None:
    st.info("Choose a sample table or upload a CSV file in the sidebar to begin.", icon=":material/arrow_back:")
    st.stop()

n_rows = table.source_rows if engine is not None else table.n_rows
with st.expander(f"The table · {n_rows:,} rows × {table.n_cols} columns", icon=":material/table:",
                 expanded=st.session_state.result is None):
    if engine is not None:
        st.caption(f"Kept in DuckDB and read from disk as needed; the first rows (of {n_rows:,}):")
        st.dataframe(rows_frame(engine, table), key="table_preview", width="stretch")
    else:
        st.dataframe(table_frame(table), key="table_preview", width="stretch")
    kinds = ", ".join(f"{c.name} ({c.kind})" for c in table.columns)
    st.caption(f"Columns and how they were read: {kinds}")

st.header("3 · Ask")
q_col, b_col = st.columns([6, 1], vertical_alignment="bottom")
with q_col:
    st.text_input("Question", key="question", on_change=ask_now, max_chars=MAX_QUESTION_CHARS,
                  placeholder="e.g. " + (sample.questions[0] if sample else "which row has the largest value?"))
with b_col:
    st.button("Ask", key="ask", type="primary", on_click=ask_now, width="stretch")
if sample is not None:
    st.caption("Or try one of these:")
    ex_cols = st.columns(len(sample.questions))
    for i, (col, q) in enumerate(zip(ex_cols, sample.questions)):
        col.button(q, key=f"example_{i}", on_click=use_example, args=(q,), width="stretch")

if notice is not None:
    getattr(st, notice[0])(notice[1])

result = st.session_state.result
if result is None or result[0] != table_id:
    st.stop()
answer = result[1]

# ---------------------------------------------------------------------------------------------
# the answer

with st.container(border=True, key="answer_box"):
    a_col, c_col = st.columns([4, 1])
    with a_col:
        st.caption(f"Q: {answer.question}")
        if answer.unsure:  # no bold answer: a confident-looking wrong answer is worse than none
            st.markdown("## I don't know")
            st.warning(f"{answer.unsure[:1].upper()}{answer.unsure[1:]}.", icon=":material/help:")
            with st.expander("Show the best guess anyway"):
                st.markdown(answer_headline(answer))
        else:
            st.markdown(f"## {answer_headline(answer)}")
        steps = "step" if answer.n_steps == 1 else "steps"
        st.markdown(f"Program ({answer.n_steps} {steps}): `{answer.program}`")
    with c_col:
        st.metric("Confidence", f"{answer.confidence:.0%}",
                  help="How likely this answer is right: the summed probability of the programs the "
                       "model considered that give it (with several models voting, also how many of "
                       "them give it), calibrated on dev questions.")
        st.progress(float(answer.confidence))
    if note := footer_note(getattr(answer.table, "footer", [])):
        st.caption(f":material/info: {note[:1].upper()}{note[1:]}.")
    if answer.confidence < 0.3 and not answer.unsure:
        st.caption(":material/warning: Low confidence: the model was unsure. Check the program and the cells "
                   "below.")

tab_table, tab_program, tab_sql, tab_alt = st.tabs(["Answer in the table", "Program, step by step", "SQL",
                                                     "Other programs"])

final_rows = answer.selections[-1] if answer.selections else []
with tab_table:
    if answer.source is not None:  # a big table: the rows the answer's cells are in, fetched from DuckDB
        positions = [r for r, _ in answer.cells]
        if positions:
            st.caption(f"The rows holding the answer ({len(positions):,}; the first 1,000 shown):")
            st.dataframe(rows_frame(answer.source, table, positions), key="answer_table",
                         width="stretch")
        else:
            st.caption("This answer is computed over the rows (a count, a sum…): the SQL tab shows how.")
    else:
        st.markdown(legend(), unsafe_allow_html=True)
        st.dataframe(highlighted(table, answer.cells, final_rows, evidence_cells(answer)), key="answer_table",
                     width="stretch")

with tab_program:
    program = answer.program
    n_sel = len(program.selection_steps)
    st.caption("Each step shows what the model chose and how sure it was: the operation, the column it "
               "applies to, and the value from the question it compares with. Selection steps narrow "
               "down the rows; the final step turns them into the answer.")
    for i, step in enumerate(program.steps):
        with st.container(border=True, key=f"step_{i}"):
            st.markdown(f"**{step_label(i, n_sel)}:** {describe_step(step)}")
            st.caption(f"`{step}` · probability {step.probability:.0%}")
            charts = step_charts(step)
            for col, (name, frame) in zip(st.columns(3), charts):
                with col:
                    st.caption(name)
                    st.altair_chart(prob_chart(frame), key=f"chart_{i}_{name}", width="stretch")
            if i < n_sel and i < len(answer.selections):
                rows = answer.selections[i]
                with st.expander(f"Rows selected after this step: {len(rows):,}"):
                    st.dataframe(highlighted(table, (), rows), key=f"step_rows_{i}", width="stretch")
    if program.halting:
        st.markdown("**How many steps? (Adaptive Computation Time)**")
        st.caption("After each step the model can stop and answer, or select rows again. These are the "
                   "weights it gave to answering after 0, 1, 2… selection steps; the dark bar is this program.")
        st.altair_chart(prob_chart(halting_frame(program)), key="chart_halting", width="stretch")

with tab_sql:
    try:
        # a table kept in DuckDB: its query in DuckDB's dialect unless another engine's is picked
        sql = answer.sql if dialect == "sqlite" else answer.to_sql(dialect)
        setup = answer.setup_sql(dialect) if answer.source is None else ""
    except Exception as e:  # a dialect the SQL generator cannot express
        st.error(f"No {dialect} SQL for this program: {e}")
    else:
        if answer.source is not None:
            shown = answer.source.dialect if dialect == "sqlite" else dialect
            st.caption(f"DuckDB ran this query over the file itself to compute the answer (shown in {shown}). "
                       "The first WITH computes each column's helper forms from the raw cells: “(number)”, "
                       "“(norm)” and `row_id` (the row order).")
            st.code(sql, language="sql")
            st.download_button("Download the query (.sql)", sql, file_name=f"nqa_query_{dialect}.sql",
                               mime="application/sql", key="download_sql")
        else:
            st.caption(f"This {dialect} query returns the answer. Copy it with the button in the corner, or "
                       "download it together with the statements that create and fill the table. Besides each "
                       "column as written, the table has helper columns: “(number)” holds the number read from "
                       "the cell, “(norm)” its lower-cased text; `row_id` keeps the row order.")
            st.code(sql, language="sql")
            d1, d2 = st.columns(2)
            d1.download_button("Download the query (.sql)", sql, file_name=f"nqa_query_{dialect}.sql",
                               mime="application/sql", key="download_sql", width="stretch")
            d2.download_button("Download table + query (.sql)", setup.rstrip() + "\n\n" + sql + "\n",
                               file_name=f"nqa_table_and_query_{dialect}.sql", mime="application/sql",
                               key="download_script", width="stretch")

with tab_alt:
    if answer.alternatives:
        import pandas as pd

        st.caption("Other programs the model considered, and what they would answer.")
        alt = pd.DataFrame([{"program": str(a.program), "answer": answer_text(a.values, a.program.terminal.op),
                             "probability": a.probability} for a in answer.alternatives])
        st.dataframe(alt, hide_index=True, key="alternatives", width="stretch",
                     column_config={"probability": st.column_config.ProgressColumn(
                         "probability", min_value=0.0, max_value=1.0, format="percent")})
    else:
        st.caption("The model considered no other program.")
