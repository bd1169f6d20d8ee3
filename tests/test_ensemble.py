"""Models voting together (nqa/ensemble.py): the vote, the checkpoint with members, and that every
path (ask, predict, an engine) gives the ensemble's answer."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from nqa.api import CheckpointError, TableQA
from nqa.ensemble import choose, decode
from nqa.executor import run_programs
from nqa.programmer import NeuralProgrammer, ProgrammerConfig
from nqa.question import parse_question
from nqa.reranker import pick_run
from nqa.table import load_table

ROOT = Path(__file__).resolve().parents[1]
ORDERS = ROOT / "data" / "orders.csv"
QUESTIONS = ["what were total sales in the east?", "how many orders were refunded?", "which city appears most often?",
             "how many orders have city london and shipping air", "what is the largest total?"]


def tiny(seed: int) -> NeuralProgrammer:
    torch.manual_seed(seed)
    return NeuralProgrammer(ProgrammerConfig(encoder="tiny")).eval()


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory) -> Path:
    return TableQA(tiny(0), members=[(tiny(1), None), (tiny(2), None)]).save_pretrained(
        tmp_path_factory.mktemp("ensemble"))


def test_one_member_chooses_as_the_single_model_does():
    table = load_table(ORDERS)
    model = tiny(0)
    for text in QUESTIONS:
        q = parse_question(text, table)
        (beam,) = decode([model], [table], [q], 4)[0]
        runs = run_programs(beam, table, q)
        i = pick_run(beam, runs, q, table, None)
        assert choose([beam], [runs], q, table, [None]) == (None if i is None else (0, i))


def test_the_vote_gives_the_answer_most_members_give():
    """Without rerankers each member puts its mass on its execution-guided answer: the majority
    wins, and the first member's answer wins a tie."""
    table = load_table(ORDERS)
    models = [tiny(s) for s in range(3)]
    for text in QUESTIONS:
        q = parse_question(text, table)
        beams = decode(models, [table], [q], 4)[0]
        runs = [run_programs(b, table, q) for b in beams]
        firsts = []
        for b, r in zip(beams, runs):
            i = pick_run(b, r, q, table, None)
            firsts.append(None if i is None else tuple(sorted(v.lower() for v in r[i].values)))
        member, index = choose(beams, runs, q, table, [None] * 3)
        got = tuple(sorted(v.lower() for v in runs[member][index].values))
        counts = {a: firsts.count(a) for a in firsts if a is not None}
        top = max(counts.values())
        assert counts.get(got) == top
        assert got == next(a for a in firsts if a is not None and counts[a] == top)


def test_a_checkpoint_with_members_loads_and_answers_as_saved(ensemble_dir):
    config = json.loads((ensemble_dir / "config.json").read_text())
    assert config["members"] == ["member-1", "member-2"]
    assert (ensemble_dir / "member-2" / "model.safetensors").is_file()
    qa = TableQA.from_pretrained(ensemble_dir)
    assert len(qa.members) == 2 and len(qa.models) == 3
    fresh = TableQA(tiny(0), members=[(tiny(1), None), (tiny(2), None)])
    for text in QUESTIONS:
        a, b = qa.ask(ORDERS, text), fresh.ask(ORDERS, text)
        assert (a.values, str(a.program), a.confidence) == (b.values, str(b.program), b.confidence)


def test_predict_gives_what_ask_gives(ensemble_dir, tmp_path):
    from nqa.predict import PredExample, predict

    qa = TableQA.from_pretrained(ensemble_dir)
    examples = [PredExample(f"q{i}", text, ORDERS.name) for i, text in enumerate(QUESTIONS)]
    results = predict(examples, ORDERS.parent, qa.model, progress=False, calibration=qa.calibration,
                      reranker=qa.reranker, members=qa.members)
    for (_id, values, *_rest), text in zip(results, QUESTIONS):
        assert values == qa.ask(ORDERS, text).values


def test_an_engine_gives_the_ensembles_answer(ensemble_dir, tmp_path):
    from nqa.sources import DuckDBSource

    qa = TableQA.from_pretrained(ensemble_dir)
    frame = pd.read_csv(ORDERS, dtype=str, keep_default_na=False)
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path)
    with DuckDBSource.file(path) as source:
        for text in QUESTIONS:
            a, b = qa.ask(source, text), qa.ask(ORDERS, text)
            assert (a.values, str(a.program)) == (b.values, str(b.program)), text


def test_frozen_encoders_are_shared_and_give_the_same_programs(tmp_path):
    """Members with the frozen MiniLM share the main model's encoder (one pass per batch); the
    shared pass decodes what separate passes decode."""
    main = TableQA.from_pretrained()
    directory = TableQA(main.model, reranker=main.reranker, calibration=main.calibration,
                        members=[(main.model, main.reranker)]).save_pretrained(tmp_path / "twice")
    qa = TableQA.from_pretrained(directory)
    assert qa.members[0][0].encoder is qa.model.encoder
    table = load_table(ORDERS)
    qs = [parse_question(t, table) for t in QUESTIONS]
    shared = decode(qa.models, [table] * len(qs), qs, 4)
    apart = [m.decode_batch([table] * len(qs), qs, k=4) for m in (qa.model, qa.members[0][0])]
    for i, per_member in enumerate(shared):
        assert [str(p) for p in per_member[0]] == [str(p) for p in apart[0][i]]
        assert [str(p) for p in per_member[1]] == [str(p) for p in apart[1][i]]
    for text in QUESTIONS:  # two copies of one model answer as the model does
        a, b = qa.ask(ORDERS, text), main.ask(ORDERS, text)
        assert (a.values, str(a.program)) == (b.values, str(b.program))


def test_an_ensembles_raw_confidence_blends_probability_and_agreement():
    """Half the members' mean beam probability, half the share of members whose own answer it is;
    one model's is its beam probability alone."""
    from nqa.ensemble import answer_key, beam_probability, decide, raw_confidence

    table = load_table(ORDERS)
    models = [tiny(0), tiny(1)]
    for text in QUESTIONS:
        q = parse_question(text, table)
        beams = decode(models, [table], [q], 4)[0]
        runs = [run_programs(b, table, q) for b in beams]
        own = [pick_run(b, r, q, table, None) for b, r in zip(beams, runs)]
        d = decide(beams, runs, q, table, [None, None])
        assert d is not None
        values = runs[d.member][d.index].values
        agree = sum(i is not None and answer_key(r[i].values) == answer_key(values) for i, r in zip(own, runs))
        assert d.agreement == agree / 2
        p = [beam_probability(list(zip(b, r)), values) for b, r in zip(beams, runs)]
        assert raw_confidence(beams, runs, values, d.agreement) == pytest.approx((sum(p) / 2 + agree / 2) / 2)
        assert raw_confidence(beams[:1], runs[:1], values) == p[0]
        with pytest.raises(ValueError):
            raw_confidence(beams, runs, values)


@pytest.mark.parametrize("members", [["../elsewhere"], ["/etc"], "member-1", [""], ["missing"]])
def test_bad_members_are_refused(ensemble_dir, tmp_path, members):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ensemble_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["members"] = members
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError):
        TableQA.from_pretrained(copy)


def test_the_tally_sums_each_members_answer_distribution():
    from nqa.ensemble import MemberVote, tally

    a = MemberVote({("3",): (0.6, 0), ("4",): (0.4, 2)}, own=("3",))
    b = MemberVote({("4",): (0.7, 1), ("5",): (0.3, 0)}, own=("4",))
    assert tally([a, b]) == (1, 1)        # 0.4 + 0.7 beats 0.6; member 1 is surest of "4"
    assert tally([a]) == (0, 0)
    assert tally([MemberVote({}, None), MemberVote({}, None)]) is None
    tie = MemberVote({("x",): (0.5, 3), ("y",): (0.5, 1)}, own=("x",))
    assert tally([tie]) == (0, 3)         # the first seen wins a tie
