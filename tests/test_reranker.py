"""The answer reranker: candidates are the beam's distinct answers, the score picks among them, it
loads with a checkpoint (and a bad one is refused), and the fit learns what separates right answers."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from nqa.executor import Execution
from nqa.program import Program, Step
from nqa.question import parse_question
from nqa.reranker import FEATURES, Reranker, candidate_features, candidates, pick_run, question_kind
from nqa.table import table_from_rows
from nqa.training.fit_reranker import fit

TABLE = table_from_rows(["City", "Sales"], [["Paris", "3"], ["Rome", "5"], ["Oslo", "5"]])


def _program(op: str, column: int | None, p: float) -> Program:
    return Program([Step(op, column, TABLE.column_names[column] if column is not None else None, op_prob=p)])


def _run(values: list[str]) -> Execution:
    return Execution(values=values, number=None, selection=np.ones(TABLE.n_rows, dtype=bool))


def test_candidates_group_equal_answers_and_skip_blank_ones():
    programs = [_program("print", 0, 0.4), _program("max", 1, 0.3), _program("print", 0, 0.2),
                _program("count", None, 0.1)]
    runs = [_run(["Paris"]), _run(["5"]), _run([" paris"]), _run(["-"])]
    cands = candidates(programs, runs)
    assert [c.runs for c in cands] == [[0, 2], [1]]
    assert cands[0].probability == pytest.approx(0.6)
    assert candidates(programs, [None, None, _run([""]), None]) == []


def test_question_kinds():
    assert [question_kind(q) for q in ("How many cities?", "when did it open", "who won", "is rome first?",
                                       "which city sold most", "name the city")] == \
        ["how_many", "when", "who", "yes_no", "which", "other"]


def test_choose_takes_the_highest_score_and_pick_run_falls_back():
    q = parse_question("which city sold 5?", TABLE)
    programs = [_program("print", 0, 0.5), _program("max", 1, 0.4)]
    runs = [_run(["Rome", "Oslo"]), _run(["5"])]
    n = len(FEATURES)
    echo = FEATURES.index("echo")
    weights = [0.0] * n
    weights[echo] = -1.0  # an answer that repeats the question's own value loses
    r = Reranker(weights, [], [0.0] * n, [1.0] * n)
    x = np.stack([candidate_features(c, candidates(programs, runs), programs, q, TABLE)
                  for c in candidates(programs, runs)])
    assert x[:, echo].tolist() == [0.0, 1.0]
    assert r.choose(programs, runs, q, TABLE) == 0
    assert pick_run(programs, runs, q, TABLE, None) == 0  # no reranker: the first that answers
    weights[echo] = 1.0
    assert pick_run(programs, runs, q, TABLE, Reranker(weights, [], [0.0] * n, [1.0] * n)) == 1
    assert pick_run(programs, [None, _run([""])], q, TABLE, r) == 1  # nothing answers: choose_run's pick


def test_config_round_trip_and_refusals():
    n = len(FEATURES)
    r = Reranker([0.5] * n, [], [0.0] * n, [2.0] * n)
    assert Reranker.from_config(json.loads(json.dumps(r.to_config()))).to_config() == r.to_config()
    assert Reranker.from_config(None) is None
    with pytest.raises(ValueError, match="other features"):
        Reranker([0.5] * n, [], [0.0] * n, [1.0] * n, features=["x"] * n)
    with pytest.raises(ValueError, match="weights"):
        Reranker([0.5], [], [0.0] * n, [1.0] * n)


def test_a_checkpoint_with_a_reranker_loads_it_and_a_bad_one_is_refused(tiny_model_dir, tmp_path):
    from nqa.api import CheckpointError, TableQA

    n = len(FEATURES)
    good = tmp_path / "good"
    shutil.copytree(tiny_model_dir, good)
    config = json.loads((good / "config.json").read_text())
    config["reranker"] = Reranker([0.1] * n, [], [0.0] * n, [1.0] * n).to_config()
    (good / "config.json").write_text(json.dumps(config))
    qa = TableQA.from_pretrained(good)
    assert qa.reranker is not None
    answer = qa.ask(TABLE, "which city sold the most?")
    assert answer.values and TableQA.from_pretrained(qa.save_pretrained(tmp_path / "again")).reranker is not None
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    config["reranker"]["weights"] = [1.0]
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="bad reranker"):
        TableQA.from_pretrained(bad)


def test_fit_learns_which_feature_marks_the_right_answer():
    rng = np.random.default_rng(0)
    x, right, group = [], [], []
    for g in range(200):
        k = int(rng.integers(2, 5))
        good = int(rng.integers(k))
        for i in range(k):
            x.append([float(i == good) + 0.3 * rng.standard_normal(), rng.standard_normal()])
            right.append(i == good)
            group.append(g)
    w, mean, scale = fit(np.array(x), np.array(right), np.array(group))
    assert w[0] > 1.0 and abs(w[1]) < 0.5 * w[0]

