"""The synthetic task: reproducible by seed, every family generates, gold answers are the executor's."""
from __future__ import annotations

import random

from nqa.executor import execute
from training.synthetic import FAMILIES, TrainConfig, generate, make_example, train


def test_reproducible_by_seed():
    a, b = generate(24, seed=5), generate(24, seed=5)
    assert [(e.question.text, e.answer, str(e.program)) for e in a] == \
        [(e.question.text, e.answer, str(e.program)) for e in b]
    assert [e.question.text for e in generate(24, seed=6)] != [e.question.text for e in a]


def test_every_family_generates_with_executor_answers():
    rng = random.Random(0)
    for family in FAMILIES:
        ex = None
        for _ in range(50):
            ex = make_example(rng, family)
            if ex is not None:
                break
        assert ex is not None, family
        assert ex.family == family and ex.answer
        assert execute(ex.program, ex.table, ex.question).values == ex.answer
        assert 1 <= len(ex.program.steps) <= 4


def test_trainer_runs_and_reports_metrics(tmp_path):
    metrics = train(TrainConfig(minutes=0.05, n_test=12, batch_size=8, d_model=16, threads=1,
                                out=str(tmp_path / "m")))
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["updates"] >= 1
    assert set(metrics["per_family"]) == set(FAMILIES)
    assert (tmp_path / "m" / "model.safetensors").exists()
