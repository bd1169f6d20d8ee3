"""The public Python API: `TableQA` answers questions about tables, `Answer` explains each answer.

One `TableQA` holds one loaded model and no per-question state, so a single instance can serve many
threads or app sessions. The pipeline for one question is

    load_table -> parse_question -> model decode (top-k programs) -> exact executor -> SQL

The model only *chooses* a program; the answer always comes from running that program exactly
(`nqa.executor`), so the answer, the cells, and the SQL agree by construction.

Example:

    >>> import pandas as pd
    >>> from nqa import TableQA
    >>> qa = TableQA.from_pretrained()  # the shipped model; loads once, in about a second
    >>> medals = pd.DataFrame({"Nation": ["Norway", "Germany", "Canada"], "Gold": [16, 12, 4]})
    >>> answer = qa.ask(medals, "which nation won the most gold medals?")
    >>> answer.run_sql() == answer.values  # the SQL reproduces the answer
    True
    >>> answer.n_steps == len(answer.program.steps) and 0.0 <= answer.confidence <= 1.0
    True
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# beam_probability: also nqa.api.beam_probability, as before it moved
from nqa.ensemble import beam_probability, decide, decode, raw_confidence  # noqa: F401
from nqa.program import Program, Step, answer_text
from nqa.question import Question, parse_question
from nqa.reranker import Reranker
from nqa.table import Table, TableError, load_table
from nqa.unsure import Calibration, unsure_reason

__all__ = [
    "TableQA", "Answer", "Alternative", "QuestionError", "CheckpointError", "single_threaded",
    "DEFAULT_CHECKPOINT", "MAX_QUESTION_CHARS", "SQL_DIALECTS",
]

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_FORMAT = "nqa-neural-programmer"
# Questions longer than this are rejected, not truncated: a cut question silently changes meaning,
# and WikiTableQuestions' longest question is under 300 characters.
MAX_QUESTION_CHARS = 1000
# Dialects the SQL is tested in (sqlglot renders many more; these are the ones the app offers).
SQL_DIALECTS = ("sqlite", "duckdb", "postgres", "mysql", "bigquery")


class QuestionError(ValueError):
    """The question cannot be asked: empty, too long, or not text."""


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete, corrupt, or was modified after saving."""


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Alternative:
    """Another program the model considered, with the answer it gives."""

    values: list[str]
    probability: float
    program: Program
    table: Table = field(repr=False, compare=False)
    parsed: Question | None = field(default=None, repr=False, compare=False)
    source: Any = field(default=None, repr=False, compare=False)  # the EngineSource it ran in (nqa.sources)

    @property
    def sql(self) -> str:
        """The program as SQLite SQL, or as the engine ran it (computed on demand: most callers never look)."""
        if self.source is not None:
            return _engine_sql(self.source, self.table, self.program, self.parsed, self.source.dialect)
        from nqa.sql import program_to_sql

        return program_to_sql(self.program, self.table, "sqlite", question=self.parsed)

    def to_dict(self) -> dict[str, Any]:
        return {"values": self.values, "probability": self.probability, "program": str(self.program),
                "sql": self.sql}


@dataclass
class Answer:
    """An answer and everything needed to check it.

    Attributes:
        question: the question as asked.
        values: the answer items as strings (several for list answers, none when nothing matched):
            cell texts, or one number written exactly (`float(values[0])` is the double the SQL
            returns, e.g. "18.714347826086954").
        text: the answer for display: the items joined by ", " with numbers rounded to 4 decimals
            ("18.7143"), or "(no answer)".
        cells: (row, column) of the table cells the answer came from; column -1 for `count`, whose
            answer comes from whole rows.
        confidence: the probability that this answer is right, in [0, 1]: the summed probability
            of the decoded programs that give these same values, calibrated on dev (nqa/unsure.py).
        unsure: None, or why the answer should not be trusted ("no cell mentions 'chainsaw'", low
            confidence). `values` then holds the best guess, which callers show only on request.
        program: the program that produced the answer (steps with their probabilities, and the
            ACT halting weights in `program.halting`).
        sql: a SQLite query that returns `values` on the table created by `setup_sql()` (a property,
            rendered when first read).
        alternatives: the other top-k programs, most probable first, each with its own answer.
        selections: the row indices selected after each selection step (for showing the program's
            work; the same rows the SQL's CTEs hold).
        table: the table the question was asked about (for a table kept in an engine, its profile:
            nqa.sources.ProfileTable).
        parsed: the question as the model saw it (tokens, and the constants a program can use).
        source: None, or the `nqa.sources.EngineSource` that computed the answer: then `sql` is the
            query the engine ran (in its dialect, over the user's table), `cells` are the printed
            cells' row positions only, and `selections` is empty.
    """

    question: str
    values: list[str]
    text: str
    cells: list[tuple[int, int]]
    confidence: float
    program: Program
    alternatives: list[Alternative] = field(default_factory=list)
    selections: list[list[int]] = field(default_factory=list)
    table: Table | None = field(default=None, repr=False, compare=False)
    parsed: Question | None = field(default=None, repr=False, compare=False)  # tokens and constants
    unsure: str | None = None  # why this answer should not be trusted (nqa/unsure.py), None when it can
    source: Any = field(default=None, repr=False, compare=False)  # nqa.sources.EngineSource, or None
    _sql: str | None = field(default=None, repr=False, compare=False)

    @property
    def sql(self) -> str:
        """The program as a SQLite query (on the engine path: the engine's query, in its dialect);
        rendered on first use (sqlglot takes a few ms), then kept."""
        if self._sql is None:
            self._sql = self.to_sql(self.source.dialect if self.source is not None else "sqlite")
        return self._sql

    @property
    def n_steps(self) -> int:
        """How many ops the program runs: its selection steps plus the final (terminal) op."""
        return len(self.program.steps)

    def to_sql(self, dialect: str = "sqlite") -> str:
        """The program as SQL in another dialect (any sqlglot dialect name).

        Example:
            >>> import pandas as pd
            >>> planets = pd.DataFrame({"Planet": ["Earth", "Mars", "Jupiter"], "Moons": [1, 2, 95]})
            >>> answer = TableQA.from_pretrained().ask(planets, "which planet has the most moons?")
            >>> "SELECT" in answer.to_sql("postgres") and "SELECT" in answer.to_sql("bigquery")
            True
        """
        if self.source is not None:
            return _engine_sql(self.source, self._table(), self.program, self.parsed, dialect)
        from nqa.sql import program_to_sql

        return program_to_sql(self.program, self._table(), dialect, question=self.parsed)

    def setup_sql(self, dialect: str = "sqlite") -> str:
        """SQL that creates and fills the table, so that running it and then `sql` gives `values`."""
        from nqa.sql import table_to_setup_sql

        if self.source is not None:
            raise ValueError(f"the table stays in {self.source.name}; its SQL runs there as it is (Answer.sql)")
        return table_to_setup_sql(self._table(), dialect=dialect)

    def run_sql(self, engine: str = "sqlite") -> list[str]:
        """Run `setup_sql` and `sql` in a fresh in-memory SQLite or DuckDB; the answer it gives.

        It equals `values`: the SQL is an exact translation of the program. On the engine path the
        query runs in the engine again (`engine` is ignored).
        """
        from nqa.sql_run import run_script

        if self.source is not None:
            from nqa.sources.answer import run_program

            ran = run_program(self.source, self._table(), self.program, self.parsed)  # type: ignore[arg-type]
            return ran.values if ran is not None else []
        return run_script(self.setup_sql(engine), self.sql if engine == "sqlite" else self.to_sql(engine),
                          self.program.terminal.op, engine=engine)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (what `nqa ask --json` prints)."""
        return {
            "question": self.question,
            "answer": self.values,
            "text": self.text,
            "confidence": self.confidence,
            "unsure": self.unsure,
            "cells": [list(c) for c in self.cells],
            "n_steps": self.n_steps,
            "program": str(self.program),
            "steps": [_step_dict(s, self.selections[i] if i < len(self.selections) else None)
                      for i, s in enumerate(self.program.steps)],
            "halting": list(self.program.halting),
            "sql": self.sql,
            "alternatives": [a.to_dict() for a in self.alternatives],
        }

    def _table(self) -> Table:
        if self.table is None:
            raise ValueError("this Answer carries no table (it was built by hand)")
        return self.table


def _step_dict(step: Step, rows: list[int] | None) -> dict[str, Any]:
    c = step.constant_value
    return {
        "op": step.op,
        "column": step.column_name if step.column is not None else None,
        "constant": None if c is None else (c.surface if c.kind == "text" else c.number),
        "probability": step.probability,
        "op_probs": step.op_probs,
        "column_probs": step.column_probs,
        "constant_probs": step.constant_probs,
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# the model


class TableQA:
    """A loaded Neural Programmer that answers questions about tables.

    Load it once (`from_pretrained`), then call `ask` as often as needed: per-question work is a
    question parse, one model decode, and an exact program run.
    """

    def __init__(self, model, device: str = "cpu", top_k: int = 4, calibration: Calibration | None = None,
                 reranker: Reranker | None = None, members: Sequence[tuple[Any, Reranker | None]] = ()) -> None:
        self.model = model.eval()
        # more trained programmers (and their rerankers) that vote with this one (nqa/ensemble.py)
        self.members = [(m.eval(), r) for m, r in members]
        self.device = device
        # confidence calibration and the unsure threshold, fitted on dev (nqa/unsure.py)
        self.calibration = calibration or Calibration()
        # which of the beam's answers is given (nqa/reranker.py); None: execution-guided decoding
        self.reranker = reranker
        self.top_k = top_k  # programs decoded per question: the answer's alternatives and confidence
        # One decode at a time: the fast tokenizer underneath is not safe to call from several threads
        # at once (Streamlit serves each session from its own thread, sharing this object).
        self._lock = threading.Lock()

    # -- loading and saving -----------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str | None = None) -> TableQA:
        """Load a checkpoint directory (config.json + model.safetensors); None loads the shipped model.

        Args:
            path: a directory written by `save_pretrained` (or training). None: `nqa/checkpoints`.
            device: "cpu" (the default: small tables answer faster on CPU), "cuda", "cuda:1", or
                "auto" (CUDA when available).

        Raises:
            CheckpointError: the directory is missing files, a file is truncated or corrupt, the
                weights do not match the recorded checksum, or the config does not fit the weights.

        No pickle is ever read: weights are safetensors, the config is JSON.
        """
        directory = Path(path) if path is not None else DEFAULT_CHECKPOINT
        config = _read_config(directory)
        state = _read_weights(directory, config)
        device = _resolve_device(device)
        model = _build_model(config, directory)  # the encoder silences transformers' loading report itself
        _load_state(model, state, directory)
        try:
            calibration = Calibration.from_config(config)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{directory / CONFIG_FILE}: bad calibration: {e}") from None
        reranker = _read_reranker(config, directory)
        members = [_read_member(directory, name, config, model) for name in _member_names(config, directory)]
        return cls(model.to(device), device=device, calibration=calibration, reranker=reranker,
                   members=[(m.to(device), r) for m, r in members])

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write config.json and model.safetensors (with its SHA-256 in the config) to `path`, and
        each member's in `path/member-k` (the shipped model has two).

        Example:
            >>> import tempfile
            >>> qa = TableQA.from_pretrained()
            >>> with tempfile.TemporaryDirectory() as d:
            ...     sorted(p.name for p in qa.save_pretrained(d).iterdir())
            ...     copy = TableQA.from_pretrained(d)
            ['config.json', 'member-1', 'member-2', 'model.safetensors']
        """
        from safetensors.torch import save_file

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in _saved_state(self.model).items()}
        weights = directory / WEIGHTS_FILE
        save_file(state, str(weights), metadata={"format": CHECKPOINT_FORMAT})
        config = {
            "format": CHECKPOINT_FORMAT,
            "format_version": 1,
            "model": _model_config(self.model),
            "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(weights)},
            "calibration": self.calibration.to_config(),
            **({"reranker": self.reranker.to_config()} if self.reranker is not None else {}),
            **({"members": [f"member-{i + 1}" for i in range(len(self.members))]} if self.members else {}),
        }
        for i, (model, reranker) in enumerate(self.members):
            TableQA(model, reranker=reranker).save_pretrained(directory / f"member-{i + 1}")
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        return directory

    # -- asking -------------------------------------------------------------------------------

    def ask(self, table, question: str) -> Answer:
        """Answer one question about one table.

        Args:
            table: a `Table`, a pandas DataFrame, the path of a CSV/TSV, Parquet, .xlsx or JSON-lines
                file (past `nqa.sources.ENGINE_THRESHOLD` bytes it is read in place by DuckDB), a DuckDB
                database file holding one table, or an `nqa.sources` source
                (`open_source("shop.duckdb", table="sales")`, PostgreSQL, Spark).
            question: the question in English (at most `MAX_QUESTION_CHARS` characters).

        Returns:
            The `Answer`, with its program, cells, confidence and SQL.

        Raises:
            TableError: the table cannot be read or has no rows.
            QuestionError: the question is empty, too long, or not a string.

        Example:
            >>> import pandas as pd
            >>> planets = pd.DataFrame({"Planet": ["Mercury", "Venus", "Earth", "Mars", "Jupiter"],
            ...                         "Moons": [0, 0, 1, 2, 95], "Rings": ["No", "No", "No", "No", "Yes"]})
            >>> qa = TableQA.from_pretrained()
            >>> answer = qa.ask(planets, "how many planets have no rings?")
            >>> answer.to_dict()["answer"] == answer.values
            True
            >>> qa.ask(planets, "   ")
            Traceback (most recent call last):
            nqa.api.QuestionError: the question is empty: type a question about the table
        """
        return self.ask_batch(table, [question])[0]

    def ask_batch(self, tables, questions: Sequence[str]) -> list[Answer]:
        """Answer many questions: about one table (pass it once) or one table per question.

        Gives exactly what `ask` gives for each question; faster because the model decodes the
        batch together and each distinct table is read once.

        Example:
            >>> import pandas as pd
            >>> planets = pd.DataFrame({"Planet": ["Mercury", "Venus", "Earth", "Mars", "Jupiter"],
            ...                         "Moons": [0, 0, 1, 2, 95]})
            >>> qa = TableQA.from_pretrained()
            >>> questions = ["which planet has the most moons?", "how many planets have no moons?"]
            >>> answers = qa.ask_batch(planets, questions)
            >>> [a.values for a in answers] == [qa.ask(planets, q).values for q in questions]
            True
        """
        if isinstance(questions, str):
            raise QuestionError("ask_batch takes a list of questions; use ask() for one question")
        questions = [check_question(q) for q in questions]
        if isinstance(tables, (list, tuple)):
            if len(tables) != len(questions):
                raise ValueError(f"{len(tables)} tables for {len(questions)} questions: pass one table, "
                                 "or one per question")
            cache: dict[int, Any] = {}
            found = [cache.setdefault(id(t), as_source(t)) for t in tables]
        else:
            found = [as_source(tables)] * len(questions)
        # A table kept in an engine is read as its profile, plus the cells matching each question.
        sources = [s if not isinstance(s, Table) else None for s in found]
        tabs = [s if isinstance(s, Table) else _question_table(s, q) for s, q in zip(found, questions)]
        parsed = [parse_question(q, t) for q, t in zip(questions, tabs)]
        with self._lock:
            beams = decode(self.models, tabs, parsed, self.top_k)
        return [_answer(t, q, member_beams, self.calibration, source=s, rerankers=self.rerankers)
                for t, q, member_beams, s in zip(tabs, parsed, beams, sources)]

    @property
    def models(self) -> list:
        """The programmers that answer: this one, then the members voting with it."""
        return [self.model] + [m for m, _ in self.members]

    @property
    def rerankers(self) -> list[Reranker | None]:
        return [self.reranker] + [r for _, r in self.members]

    def __repr__(self) -> str:
        return f"TableQA({type(self.model).__name__}, device={self.device!r})"


# ---------------------------------------------------------------------------------------------
# input checks


def check_question(question) -> str:
    """The question stripped, or QuestionError saying what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    q = " ".join(question.split())
    if not q:
        raise QuestionError("the question is empty: type a question about the table")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
                            "Ask one short question at a time.")
    return q


def as_table(table) -> Table:
    """A Table from a Table, a DataFrame or a CSV path; TableError when it cannot be used."""
    t = table if isinstance(table, Table) else load_table(table)
    if t.n_rows == 0:
        raise TableError(f"{t.source}: the table has a header but no rows")
    return t


def as_source(table) -> Any:
    """A Table (small tables: today's in-memory path) or an nqa.sources.EngineSource (big files,
    databases, Spark); TableError (SourceError) when it cannot be used."""
    if isinstance(table, Table):
        engine = getattr(table, "engine", None)  # a profile (nqa.sources.ProfileTable) stands for its table
        return engine if engine is not None else as_table(table)
    from nqa.sources import open_source

    found = open_source(table)
    return as_table(found) if isinstance(found, Table) else found


def _question_table(source, question: str) -> Table:
    """The engine table's profile (indexed once, cached) with the cells matching this question."""
    from nqa.sources import profile, question_table

    table = question_table(source, profile(source), question)
    if table.source_rows == 0:
        raise TableError(f"{source.name}: the table has a header but no rows")
    return table


def _engine_sql(source, table: Table, program: Program, question: Question | None, dialect: str) -> str:
    from nqa.sources.relation import engine_query

    return engine_query(source, table, program, question).select.sql(dialect=dialect, pretty=True)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# from programs to answers


def _answer(table: Table, question: Question, beams: list[list[Program]], calibration: Calibration | None = None,
            source=None, rerankers: Sequence[Reranker | None] = (None,)) -> Answer:
    """Run the decoded programs exactly (or, for a table kept in an engine, as SQL there: `source`)
    and pick the answer. `beams`: one beam per member (nqa/ensemble.py; a single model has one).

    The answer is the most probable program whose run succeeds and gives a non-empty answer
    (execution-guided decoding), or with a reranker the answer it scores highest (nqa.reranker),
    or with several members the answer their rerankers' summed distributions favour; when none
    gives an answer, the most probable program that ran. Its confidence is the summed probability
    of the programs in the beam that give the same values (a program's probability: the product of
    its steps' op, column and constant probabilities); with several members, nqa.ensemble.raw_confidence.
    """
    from nqa.executor import run_programs

    flat = [p for beam in beams for p in beam]
    if source is not None:
        from nqa.sources.answer import run_programs as run_in_engine

        ran = list(run_in_engine(source, table, flat, question))  # type: ignore[arg-type]
    else:
        ran = list(run_programs(flat, table, question))
    member_runs, start = [], 0
    for beam in beams:
        member_runs.append(ran[start:start + len(beam)])
        start += len(beam)
    decision = decide(beams, member_runs, question, table, list(rerankers))
    if decision is None:
        raise RuntimeError("the model decoded no program that runs on this table")
    program, ex = beams[decision.member][decision.index], member_runs[decision.member][decision.index]
    assert ex is not None  # decide picks a program that ran
    calibration = calibration or Calibration()
    raw = raw_confidence(beams, member_runs, ex.values, decision.agreement)
    confidence = calibration.of_answer(raw, program, question, table, ex.values)
    unsure = unsure_reason(question, table, confidence, calibration)
    if source is not None and unsure is None:
        from nqa.sources.answer import truncation_note

        unsure = truncation_note(ex)
    seen = {str(program)}
    runs = []
    for p, e in zip(flat, ran):
        if str(p) not in seen:
            seen.add(str(p))
            runs.append((p, e))
    alternatives = [Alternative(e.values, p.probability, p, table, question, source) for p, e in runs if e is not None]
    return Answer(
        question=question.text,
        values=ex.values,
        text=answer_text(ex.values, program.terminal.op),
        cells=ex.cells,
        confidence=confidence,
        program=program,
        alternatives=alternatives,
        selections=[np.flatnonzero(s).tolist() for s in ex.selections],
        table=table,
        parsed=question,
        unsure=unsure,
        source=source,
    )


# ---------------------------------------------------------------------------------------------
# checkpoint reading


def _read_config(directory: Path) -> dict:
    if not directory.is_dir():
        hint = " (the shipped model is not installed)" if directory == DEFAULT_CHECKPOINT else ""
        raise CheckpointError(f"{directory}: no such checkpoint directory{hint}")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_FILE}; is this a checkpoint written by save_pretrained?")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model", {}), dict):
        raise CheckpointError(f"{path}: expected a JSON object with a 'model' object")
    if config.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: format {config.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    return config


def _read_weights(directory: Path, config: dict) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = config.get("weights") or {}
    path = directory / info.get("file", WEIGHTS_FILE)
    if not path.is_file():
        raise CheckpointError(f"{directory}: no weights file {path.name}")
    expected = info.get("sha256")
    if expected and _sha256(path) != expected:
        raise CheckpointError(f"{path}: the weights do not match the checksum in {CONFIG_FILE} "
                              "(the file is truncated, corrupt, or was changed after saving)")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def update_config(directory: str | os.PathLike, key: str, value: Any) -> None:
    """Set one entry of a checkpoint's config.json (training writes its reranker, members and
    calibration this way), replacing the file whole so that a kill leaves the old or the new one."""
    path = Path(directory) / CONFIG_FILE
    config = json.loads(path.read_text())
    config[key] = value
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(tmp, path)


def _read_reranker(config: dict, directory: Path) -> Reranker | None:
    try:
        return Reranker.from_config(config.get("reranker"))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{directory / CONFIG_FILE}: bad reranker: {e}") from None


def _member_names(config: dict, directory: Path) -> list[str]:
    """The sub-directories of the models voting with this one; plain names only (no path leaves
    the checkpoint directory)."""
    names = config.get("members", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n and "/" not in n and "\\" not in n
                                              and n not in (".", "..") for n in names):
        raise CheckpointError(f"{directory / CONFIG_FILE}: 'members' must be a list of sub-directory names")
    return names


def _read_member(directory: Path, name: str, config: dict, main) -> tuple[Any, Reranker | None]:
    """A member checkpoint (config.json + model.safetensors in `directory/name`). A member whose
    encoder is the frozen pretrained one (no encoder weights in its file) and configured as the main
    model's shares the main model's: one encoder pass and one header cache for all."""
    sub = directory / name
    member_config = _read_config(sub)
    if member_config.get("members"):
        raise CheckpointError(f"{sub / CONFIG_FILE}: a member cannot have members of its own")
    model = _build_model(member_config, sub)
    _load_state(model, _read_weights(sub, member_config), sub)
    keys = ("encoder", "encoder_layers", "encoder_train_top_layers")
    frozen = not any(k.startswith("encoder.") for k in _saved_state(model))
    if frozen and all(member_config.get("model", {}).get(k) == config.get("model", {}).get(k) for k in keys):
        model.encoder = main.encoder
    return model, _read_reranker(member_config, sub)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def single_threaded() -> None:
    """Run torch on one thread unless OMP_NUM_THREADS says otherwise: best for answering questions.

    One question is a handful of small matrix products; splitting them over threads gains nothing,
    and on a busy machine the idle threads' spin-waiting made a question ~6x slower (measured: 459 ms
    vs 73 ms median on a 2-core machine at load 9). `nqa ask` and the app call this; a library
    cannot decide it for its caller's process, so `TableQA` itself does not.
    """
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def _resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "cpu"
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available")
    return str(device)


# ---------------------------------------------------------------------------------------------
# the model adapter: the only place that knows nqa.programmer's API


def _build_model(config: dict, directory: Path):
    from nqa.programmer import NeuralProgrammer, ProgrammerConfig

    try:
        return NeuralProgrammer(ProgrammerConfig(**config.get("model", {})))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{directory / CONFIG_FILE}: the model config is not valid ({e})") from None


def _load_state(model, state: dict, directory: Path) -> None:
    expected = _saved_state(model)
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{directory}: the weights do not fit the model config "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        got, want = tuple(state[wrong[0]].shape), tuple(expected[wrong[0]].shape)
        raise CheckpointError(f"{directory}: the weights do not fit the model config (shapes differ for "
                              f"{wrong[:5]}, e.g. {got} in the file vs {want} in the config)")
    model.load_state_dict(state, strict=False)


def _saved_state(model) -> dict:
    """The parameters a checkpoint holds (the frozen base encoder comes from its pip package)."""
    if hasattr(model, "checkpoint_state"):
        return model.checkpoint_state()
    return model.state_dict()


def _model_config(model) -> dict:
    from dataclasses import asdict

    return asdict(model.config)
