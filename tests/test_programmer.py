"""The Neural Programmer: shapes and masks, finite gradients, learning, program_log_prob, decoding,
save/load. Tiny random-init encoder throughout (fast)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from nqa.executor import execute
from nqa.features import build_features, collate, with_answer
from nqa.program import SELECT_OPS, TERMINAL_OPS, Program, Step
from nqa.programmer import CheckpointError, NeuralProgrammer, ProgrammerConfig, ProgramTargets
from nqa.question import parse_question
from nqa.table import table_from_rows

TABLE = table_from_rows(["team", "points", "city"], [
    ["lions", "93", "paris"], ["tigers", "87", "rome"], ["bears", "70", "rome"], ["eagles", "70", "oslo"]])
SMALL = table_from_rows(["name", "year"], [["alice", "1999"], ["bob", "2001"]])


def tiny(**kw) -> NeuralProgrammer:
    torch.manual_seed(0)
    return NeuralProgrammer(ProgrammerConfig(encoder="tiny", d_model=32, tiny_hidden=32, tiny_layers=1,
                                             dropout=0.0, **kw))


def examples():
    qa = [(TABLE, "how many teams are from rome?", ["2"]), (TABLE, "which team has the most points?", ["lions"]),
          (SMALL, "what is the total year?", ["4000"]), (TABLE, "what city comes after tigers?", ["rome"])]
    out = []
    for t, q, a in qa:
        question = parse_question(q, t)
        out.append((t, question, with_answer(build_features(t, question), t, a)))
    return out


@pytest.fixture(scope="module")
def batch():
    return collate([f for _, _, f in examples()])


@pytest.mark.parametrize("op_columns", [False, True])
def test_forward_shapes_masks_and_distributions(batch, op_columns):
    model = tiny(op_columns=op_columns)
    out = model(batch)
    B, R, K = 4, 4, batch.const_mask.shape[1]
    P = model.config.max_steps + 1
    assert out.selections.shape == (B, P, R) and out.term_probs.shape == (B, P, len(TERMINAL_OPS))
    assert out.op_probs.shape == (B, P - 1, len(SELECT_OPS)) and out.const_probs.shape == (B, P - 1, K)
    assert ((out.selections >= 0) & (out.selections <= 1 + 1e-6)).all()
    assert out.selections[2, :, 2:].abs().sum() == 0  # SMALL has 2 rows: padding never selected
    assert out.col_probs[2, :, 2].abs().sum() == 0  # ... and 2 columns
    torch.testing.assert_close(out.halting.weights.sum(-1), torch.ones(B))
    torch.testing.assert_close(out.term_probs.sum(-1), torch.ones(B, P))
    ops_sum = out.op_probs.sum(-1)
    torch.testing.assert_close(ops_sum, torch.ones_like(ops_sum))
    # ops that need a constant of a kind the question lacks get no probability
    assert not batch.table.const_is_number[0].any()
    for op in (3, 4, 5, 6):  # filter_gt/ge/lt/le
        assert out.op_probs[0, :, op].abs().max() == 0


@pytest.mark.parametrize("op_columns", [False, True])
def test_gradients_are_finite(batch, op_columns):
    model = tiny(op_columns=op_columns)
    losses = model.loss(model(batch), batch, tau=0.01, entropy=0.01)
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_loss_goes_down_on_a_few_synthetic_examples():
    from training.synthetic import _features, generate

    exs = generate(24, 0, "count") + generate(24, 1, "max_min")
    b = collate(_features(exs))
    model = tiny()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(40):
        losses = model.loss(model(b), b, act=False, entropy=0.02)
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        first = first if first is not None else losses["answer"].item()
    assert losses["answer"].item() < 0.6 * first


@pytest.mark.parametrize("op_columns", [False, True])
def test_program_log_prob_is_batched_and_trainable(op_columns):
    (t0, q0, f0), (t1, q1, f1) = examples()[:2]
    b = collate([f0, f1])
    city = TABLE.column_names.index("city")
    rome = next(k for k, c in enumerate(q0.constants) if c.norm == "rome")
    target = Program([Step("filter_eq", column=city, constant=rome), Step("count")])
    other = Program([Step("argmax", column=1), Step("print", column=0)])
    model = tiny(op_columns=op_columns)
    items = [(0, target), (1, other), (0, other)]
    tg = ProgramTargets.from_programs(items, model.config.max_steps)
    together = model.program_log_prob(b, tg)
    alone = torch.stack([model.program_log_prob(b, ProgramTargets.from_programs([it], model.config.max_steps))[0]
                         for it in items])
    torch.testing.assert_close(together, alone)
    assert (together < 0).all()
    # maximising log p(target) makes greedy decoding return it
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    one = ProgramTargets.from_programs([(0, target)], model.config.max_steps)
    for _ in range(60):
        loss = -model.program_log_prob(b, one).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    best = model.decode(t0, q0)[0]
    assert str(best) == "filter_eq(city, \"rome\") → count"
    assert execute(best, t0, q0).values == ["2"]
    assert math.exp(model.program_log_prob(b, one).item()) > 0.5


@pytest.mark.parametrize("op_columns", [False, True])
def test_decode_gives_k_distinct_runnable_programs_with_distributions(op_columns):
    model = tiny(op_columns=op_columns).eval()
    t, q, _ = examples()[1]
    progs = model.decode(t, q, k=4)
    assert 1 <= len(progs) <= 4 and len({str(p) for p in progs}) == len(progs)
    for p in progs:
        assert len(p.steps) - 1 <= model.config.max_steps
        assert p.steps[-1].op in TERMINAL_OPS
        assert all(s.op not in ("count", "print") for s in p.steps[:-1])
        execute(p, t, q)  # runs on the exact executor
        assert abs(sum(p.steps[-1].op_probs.values()) - 1) < 1e-4
        assert p.halting and abs(sum(p.halting) - 1) < 1e-4
    assert set(progs[0].steps[-1].column_probs) == set(t.column_names)


@pytest.mark.parametrize("op_columns", [False, True])
def test_beam_scores_are_the_models_program_probabilities(op_columns):
    """The beam factorises (op, column, constant) and halting by hand; its order must be the order
    of program_log_prob, the distribution training maximises."""
    from nqa.decode import _beam

    model = tiny(op_columns=op_columns)
    with torch.no_grad():  # random but not uniform: the op-specific column queries matter
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    model.eval()
    for t, q, f in examples():
        b = collate([f])
        with torch.inference_mode():
            progs = _beam(model, model.context(b), t, q, 5, 5, 3)
        tg = ProgramTargets.from_programs([(0, p) for p in progs], model.config.max_steps)
        with torch.no_grad():
            lp = model.program_log_prob(b, tg)
        assert len(progs) >= 2
        assert (lp[:-1] >= lp[1:] - 1e-5).all(), (lp, [str(p) for p in progs])


@pytest.mark.parametrize("op_columns", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_riding_in_the_beam_is_the_greedy_program(op_columns, seed, monkeypatch):
    """ask decodes the greedy program as one more row of the beam (nqa.decode._beam, with_greedy):
    it must be _greedy's program, with the same probabilities, and leave the beam unchanged (before
    the product's cover rule, which only the riding row applies: tests/test_cover.py)."""
    import nqa.decode
    from nqa.decode import _beam, _greedy

    monkeypatch.setattr(nqa.decode, "COVER_CELL_CONSTANTS", False)

    torch.manual_seed(seed)
    model = tiny(op_columns=op_columns)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
        model.halt.bias.fill_(-2.0 + 2.0 * seed)  # programs of every length, greedy and beam apart
    model.eval()
    for t, q, f in examples():
        with torch.inference_mode():
            ctx = model.context(collate([f]))
            greedy = _greedy(model, ctx, [t], [q])[0]
            beam = _beam(model, ctx, t, q, 4, 4, 3)
            riding, beam2 = _beam(model, ctx, t, q, 4, 4, 3, with_greedy=True)
        assert str(riding) == str(greedy)
        # float32 products over a batch of one row and over several round differently (~1e-6)
        assert riding.halting == pytest.approx(greedy.halting, abs=1e-5)
        for a, b in zip(riding.steps, greedy.steps):
            assert (a.op_prob, a.column_prob, a.constant_prob) == pytest.approx(
                (b.op_prob, b.column_prob, b.constant_prob), abs=1e-5)
        assert [str(p) for p in beam2] == [str(p) for p in beam]


def test_op_columns_start_as_the_shared_column_pointer(batch):
    shared, per_op = tiny(), tiny(op_columns=True)
    per_op.load_state_dict(shared.state_dict(), strict=False)  # op_col_query stays zero
    a, b = shared.eval()(batch), per_op.eval()(batch)
    torch.testing.assert_close(a.selections, b.selections)
    torch.testing.assert_close(a.col_probs, b.col_probs)


def test_save_load_round_trip(tmp_path):
    model = tiny().eval()
    t, q, _ = examples()[1]
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["encoder"] == "tiny"
    loaded = NeuralProgrammer.from_pretrained(tmp_path)
    assert [str(p) for p in loaded.decode(t, q, k=3)] == [str(p) for p in model.decode(t, q, k=3)]
    b = collate([examples()[0][2]])
    torch.testing.assert_close(loaded(b).term_probs, model(b).term_probs)
    (tmp_path / "config.json").write_text(json.dumps({"model": {"d_model": 16, "encoder": "tiny"}}))
    with pytest.raises(CheckpointError):
        NeuralProgrammer.from_pretrained(tmp_path)


def test_frozen_minilm_checkpoint_holds_only_trainable_parts(tmp_path):
    model = NeuralProgrammer(ProgrammerConfig(encoder="minilm", d_model=32))
    state = model.checkpoint_state()
    assert not any(k.startswith("encoder.") for k in state)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").stat().st_size < 2_000_000
