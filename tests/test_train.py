"""The training loop on a tiny WTQ-format dataset with the tiny random-init encoder: it runs, it
resumes after a kill to exactly the weights of an uninterrupted run, and it runs under torchrun."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nqa.training.data import write_tiny_wtq
from nqa.training.train import ConfigError, main, parse_config

REPO = Path(__file__).resolve().parent.parent


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return [f"--wtq_root={root}", "--train_split=tiny-train", "--dev_split=tiny-dev", "--search_split=",
            "--model.encoder=tiny", "--model.tiny_hidden=32", "--model.d_model=32", "--batch_size=4",
            "--max_steps=8", "--eval_every=4", "--log_every=2", "--warmup_steps=2", "--progress=false",
            "--threads=1", f"--out_dir={out}", f"--search_cache={out.parent / 'search'}", *extra]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_wtq(tmp_path_factory.mktemp("wtq"), n_tables=4)


def test_config_overrides_are_type_checked(tmp_path):
    cfg = parse_config(["--lr=0.01", "--epochs=3", "--resume=false", "--model.d_model=64"])
    assert cfg.lr == 0.01 and cfg.epochs == 3 and cfg.resume is False and cfg.model == {"d_model": 64}
    with pytest.raises(ConfigError):
        parse_config(["--no_such_key=1"])
    with pytest.raises(ConfigError):
        parse_config(["--epochs=three"])
    with pytest.raises(ConfigError):
        parse_config(["--model.no_such=1"])
    preset = tmp_path / "p.json"
    preset.write_text('{"lr": 0.5, "model": {"max_steps": 3}}')
    cfg = parse_config([str(preset), "--lr=0.25"])
    assert cfg.lr == 0.25 and cfg.model == {"max_steps": 3}


def test_train_runs_and_writes_outputs(tiny, tmp_path):
    out = tmp_path / "run"
    assert main(_args(tiny, out)) == 0
    for f in ("best/config.json", "best/model.safetensors", "last/model.safetensors", "state.safetensors",
              "metrics.csv", "curves.png", "config.json"):
        assert (out / f).is_file(), f
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and any(",0." in r or ",1.0" in r for r in rows[1:])
    from nqa.api import TableQA

    qa = TableQA.from_pretrained(out / "best")  # the product loads what training writes
    assert qa.ask(tiny / "csv/200-csv/0.csv", "which nation won the most gold?") is not None


def test_resume_after_kill_gives_identical_weights(tiny, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(_args(tiny, a)) == 0
    assert main(_args(tiny, b, "--stop_after=3")) == 0  # "killed" after 3 of 8 steps
    assert main(_args(tiny, b)) == 0  # resumes from b/state.safetensors
    wa, wb = load_file(str(a / "last/model.safetensors")), load_file(str(b / "last/model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.mark.slow
def test_torchrun_two_processes(tiny, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
                        "-m", "training.train", *_args(tiny, out)], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "best/model.safetensors").is_file() and (out / "state.safetensors").is_file()


def test_init_from_with_model_overrides(tiny, tmp_path):
    """--init_from keeps a checkpoint's weights under --model overrides that fit them (how the encoder
    of a model trained frozen gets tuned), and refuses overrides that change a weight's shape."""
    a = tmp_path / "a"
    assert main(_args(tiny, a)) == 0
    b = tmp_path / "b"
    assert main(_args(tiny, b, f"--init_from={a / 'best'}", "--model.dropout=0.2", "--max_steps=2")) == 0
    from nqa.api import TableQA

    assert TableQA.from_pretrained(b / "best").model.config.dropout == 0.2
    with pytest.raises(ConfigError, match="do not fit"):
        main(_args(tiny, tmp_path / "c", f"--init_from={a / 'best'}", "--model.d_model=16"))


def test_rank_programs_with_a_previous_round(tiny, tmp_path):
    """A second round keeps, per example, the programs the first round's model finds most probable:
    the kept one is the argmax of that model's log-probabilities, whatever the batching."""
    from nqa.api import TableQA
    from nqa.training.rank_programs import keep_most_probable, program_scores
    from nqa.training.train import _features_only, load_items

    a = tmp_path / "a"
    assert main(_args(tiny, a)) == 0
    b = tmp_path / "b"
    assert main(_args(tiny, b, f"--rank_programs_with={a / 'best'}", "--mml_candidates=1", "--max_steps=2")) == 0

    cfg = parse_config(_args(tiny, tmp_path / "c", f"--rank_programs_with={a / 'best'}"))
    items = [it for it in load_items(cfg, cfg.train_split, 0, with_programs=True) if len(it.programs) > 1]
    assert items, "the tiny data set has examples with several consistent programs"
    _features_only(items, with_rows=True)
    ranker = TableQA.from_pretrained(a / "best").model.eval()
    together = program_scores(ranker, items)
    one_by_one = program_scores(ranker, items, programs_per_batch=1)
    for x, y in zip(together, one_by_one):
        assert x == pytest.approx(y, abs=1e-4)
    best = [it.programs[max(range(len(s)), key=s.__getitem__)] for it, s in zip(items, together)]
    figures = keep_most_probable(items, together, keep=1)
    assert [it.programs for it in items] == [[p] for p in best]
    assert figures["examples_with_several"] == len(items) and 0 < figures["mass_kept"] <= 1


def test_keep_most_probable_is_stable_and_puts_impossible_programs_last():
    from types import SimpleNamespace

    from nqa.training.rank_programs import keep_most_probable

    item = SimpleNamespace(programs=["a", "b", "c", "d"])
    figures = keep_most_probable([item], [[-2.0, float("-inf"), -1.0, -2.0]], keep=3)
    assert item.programs == ["c", "a", "d"]
    assert figures["first_changed"] == 1


def test_ensemble_seeds_train_members_that_vote_with_the_run(tiny, tmp_path):
    """--ensemble_seeds=5: one more run with seed 5, copied into best/member-1 and loaded with it."""
    import json

    from nqa.api import TableQA

    out = tmp_path / "run"
    assert main(_args(tiny, out, "--ensemble_seeds=5")) == 0
    assert not list(out.glob("member-seed-5/member-seed-*"))  # a member has no members of its own
    sub = json.loads((out / "member-seed-5.json").read_text())
    assert sub["seed"] == 5 and sub["ensemble_seeds"] == "" and sub["out_dir"] == str(out / "member-seed-5")
    assert json.loads((out / "best" / "config.json").read_text())["members"] == ["member-1"]
    member = (out / "best" / "member-1" / "model.safetensors").read_bytes()
    assert member == (out / "member-seed-5" / "best" / "model.safetensors").read_bytes()
    assert member != (out / "best" / "model.safetensors").read_bytes()
    assert len(TableQA.from_pretrained(out / "best").members) == 1
    assert main(_args(tiny, out, "--ensemble_seeds=5")) == 0  # run again: resumes, the same members
    assert json.loads((out / "best" / "config.json").read_text())["members"] == ["member-1"]
    own = str(json.loads((out / "config.json").read_text())["seed"])
    for bad in ("5,x", own, "5,5"):
        with pytest.raises(ConfigError, match="ensemble_seeds"):
            main(_args(tiny, tmp_path / "bad", f"--ensemble_seeds={bad}"))


def test_reranker_folds_train_fold_models_and_fit_the_reranker(tiny, tmp_path):
    """--reranker_folds=2: two more runs, each without one fold of the training tables, whose
    decoding there fits the reranker written into best/config.json (and loaded with it)."""
    import json

    from nqa.api import TableQA
    from nqa.training.train import in_fold

    tiny = write_tiny_wtq(tmp_path / "wtq", n_tables=12)  # the 4-table set's training tables share a fold
    out = tmp_path / "run"
    assert main(_args(tiny, out, "--reranker_folds=2", "--ensemble_seeds=5")) == 0
    for k in range(2):
        sub = json.loads((out / f"fold-{k}-of-2.json").read_text())
        assert sub["held_out_fold"] == f"{k}/2" and sub["reranker_folds"] == 0
        assert sub["ensemble_seeds"] == "" and not list((out / f"fold-{k}-of-2").glob("member-*"))
        assert (out / f"fold-{k}-of-2" / "best" / "model.safetensors").is_file()
    member = json.loads((out / "member-seed-5.json").read_text())  # its own folds and reranker
    assert member["reranker_folds"] == 2 and (out / "member-seed-5" / "fold-1-of-2" / "best").is_dir()
    assert "reranker" in json.loads((out / "best" / "member-1" / "config.json").read_text())
    assert "reranker" in json.loads((out / "best" / "config.json").read_text())
    assert TableQA.from_pretrained(out / "best").reranker is not None
    tables = {p.relative_to(tiny).as_posix() for p in (tiny / "csv").rglob("*.csv")}
    assert all(in_fold(t, "0/2") != in_fold(t, "1/2") for t in tables)
    with pytest.raises(ConfigError, match="every training table"):
        main(_args(write_tiny_wtq(tmp_path / "wtq4", n_tables=4), tmp_path / "f", "--held_out_fold=0/2"))


def test_without_dev_split_best_is_the_last_checkpoint_and_calibration_is_copied(tiny, tmp_path):
    """--dev_split= (all of training.tsv trains): no dev evaluation, best/ holds the last weights,
    and --calibration_from gives best/ a calibration fitted elsewhere (checked before it is written)."""
    import json

    from nqa.api import TableQA
    from nqa.unsure import Calibration

    cal = {"xs": [0.0, 0.5, 1.0], "ys": [0.0, 0.4, 0.9], "threshold": 0.45}
    source = tmp_path / "cal.json"
    source.write_text(json.dumps({"about": "fitted elsewhere", "calibration": cal}))
    out = tmp_path / "run"
    args = _args(tiny, out, "--dev_split=", f"--calibration_from={source}")
    assert main(args) == 0
    best, last = load_file(str(out / "best/model.safetensors")), load_file(str(out / "last/model.safetensors"))
    assert best.keys() == last.keys() and all(torch.equal(best[k], last[k]) for k in best)
    assert all(r.split(",")[7] == "" for r in (out / "metrics.csv").read_text().splitlines()[1:])  # no dev_acc
    assert (out / "state.safetensors").is_file()  # resumable without dev evaluations too
    assert TableQA.from_pretrained(out / "best").calibration == Calibration.from_config({"calibration": cal})
    written = {f.name: f.read_bytes() for f in (out / "best").iterdir()}
    assert main(args) == 0  # started again over the finished run: best/ stays as it was
    assert {f.name: f.read_bytes() for f in (out / "best").iterdir()} == written
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"calibration": {"xs": [0.0, 1.0], "ys": [1.0, 0.0]}}))
    with pytest.raises(ConfigError, match="calibration_from"):
        main(_args(tiny, tmp_path / "run2", "--dev_split=", f"--calibration_from={bad}"))


def test_shipped_configs_parse_and_the_all_data_config_has_a_valid_calibration():
    import json

    from nqa.unsure import Calibration

    for preset in sorted((REPO / "training" / "configs").glob("*.json")):
        if "calibration" in json.loads(preset.read_text()):
            continue  # a calibration file (calibration_from), not a training preset
        parse_config([str(preset)])
    cfg = parse_config([str(REPO / "training" / "configs" / "wtq_all.json")])
    assert cfg.train_split == "training" and cfg.dev_split == "" and not cfg.calibrate
    Calibration.from_config(json.loads((REPO / cfg.calibration_from).read_text()))
