"""nqa.folded_controller against the model's own step / terminal_logp / select_logp: the same
distributions at every position, for chosen histories, with and without per-op column queries."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nqa.features import build_features, collate
from nqa.folded_controller import FoldedController
from nqa.program import OPS_WITH_COLUMN, SELECT_OPS
from nqa.programmer import NeuralProgrammer, ProgrammerConfig
from nqa.question import parse_question
from nqa.table import table_from_rows

TABLE = table_from_rows(["team", "points", "city"], [
    ["lions", "93", "paris"], ["tigers", "87", "rome"], ["bears", "70", "rome"], ["eagles", "70", "oslo"]])
QUESTIONS = ["how many teams are from rome?", "which team has the most points?",
             "what city comes after tigers?", "points of the team with more than 80 points in paris",
             "?"]  # the last: one word, no constants


def model_with(seed: int, op_columns: bool) -> NeuralProgrammer:
    torch.manual_seed(seed)
    model = NeuralProgrammer(ProgrammerConfig(encoder="tiny", d_model=32, tiny_hidden=32, tiny_layers=1,
                                              dropout=0.0, op_columns=op_columns))
    with torch.no_grad():  # away from the initialisation's zeros (halting, op column offsets)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


def reference(model, ctx, h, prev_op, prev_col):
    h, z = model.step(ctx, h, prev_op, prev_col)
    term_lp, tcol_lp, halt = model.terminal_logp(ctx, z)
    op_lp, col_lp, const_lp = model.select_logp(ctx, z)
    return h, [term_lp, tcol_lp, halt, op_lp, col_lp, const_lp]


@pytest.mark.parametrize("op_columns", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_folded_positions_equal_the_models(op_columns, seed):
    model = model_with(seed, op_columns)
    rng = np.random.default_rng(seed)
    for text in QUESTIONS:
        q = parse_question(text, TABLE)
        with torch.inference_mode():
            ctx = model.context(collate([build_features(TABLE, q, with_rows=False)]))
            folded = FoldedController(model, ctx)
            n_rows = 3  # three histories side by side, as beam rows
            ref_ctx = ctx.index(torch.zeros(n_rows, dtype=torch.long))
            h_ref, prev_op, prev_col = model.initial_state(ref_ctx)
            h, history = folded.h0.expand(n_rows, -1), folded.history.expand(n_rows, -1)
            for _ in range(model.config.max_steps + 1):
                h_ref, want = reference(model, ref_ctx, h_ref, prev_op, prev_col)
                h, got = folded.step(h, history)
                torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-5)
                names = ("term_lp", "tcol_lp", "halt", "op_lp", "col_lp", "const_lp")
                for name, w in zip(names, want):
                    g = torch.from_numpy(getattr(got, name))
                    real = w > -1e8  # masked entries: both far below every real one
                    assert (g[~real] < -1e8).all(), name
                    torch.testing.assert_close(g[real], w[real], atol=1e-5, rtol=1e-5, msg=name)
                ops = rng.integers(0, len(SELECT_OPS), n_rows).tolist()
                cols = rng.integers(0, TABLE.n_cols, n_rows).tolist()
                history = folded.history_of(ops, cols)
                needs = torch.tensor([SELECT_OPS[o] in OPS_WITH_COLUMN for o in ops])
                prev_op = model.op_emb[torch.tensor(ops)]
                one_col = F.one_hot(torch.tensor(cols), ref_ctx.cols.shape[1]).float() * needs[:, None]
                prev_col = model.history(ref_ctx, F.one_hot(torch.tensor(ops), len(SELECT_OPS)).float(), one_col)[1]


def test_folded_weights_follow_the_models_weights():
    """The weight-only folds are cached on the model; changing a weight must refresh them."""
    model = model_with(0, False)
    q = parse_question(QUESTIONS[0], TABLE)
    with torch.inference_mode():
        ctx = model.context(collate([build_features(TABLE, q, with_rows=False)]))
    folded = FoldedController(model, ctx)
    before = folded.step(folded.h0, folded.history)[1]
    with torch.no_grad():
        model.term_emb.mul_(-1.0)
    folded = FoldedController(model, ctx)
    after = folded.step(folded.h0, folded.history)[1]
    assert not np.allclose(before.term_lp, after.term_lp)
    with torch.inference_mode():
        _, z = model.step(ctx, *model.initial_state(ctx))
        want = model.terminal_logp(ctx, z)[0]
    np.testing.assert_allclose(after.term_lp, want.numpy(), atol=1e-5)


def test_a_model_loaded_under_inference_mode_decodes(tmp_path):
    """Inference tensors have no version counter; loading a model inside torch.inference_mode (as
    user code may) must still decode, and decode the same programs."""
    from nqa.decode import decode_programs

    model = model_with(0, False)
    model.save_pretrained(tmp_path)
    q = parse_question(QUESTIONS[1], TABLE)
    want = [str(p) for p in decode_programs(model, [TABLE], [q], k=4)[0]]
    with torch.inference_mode():
        loaded = NeuralProgrammer.from_pretrained(tmp_path)
        got = [str(p) for p in decode_programs(loaded, [TABLE], [q], k=4)[0]]
    assert got == want


def test_a_question_without_words_reads_nothing():
    """All words masked: the model's masked_softmax reads nothing (zeros), and so must the folds."""
    import dataclasses

    model = model_with(1, False)
    q = parse_question(QUESTIONS[0], TABLE)
    with torch.inference_mode():
        ctx = model.context(collate([build_features(TABLE, q, with_rows=False)]))
        ctx = dataclasses.replace(ctx, word_mask=torch.zeros_like(ctx.word_mask))
        folded = FoldedController(model, ctx)
        h, got = folded.step(folded.h0, folded.history)
        h_ref, want = reference(model, ctx, *model.initial_state(ctx))
    torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got.term_lp, want[0].numpy(), atol=1e-5)
    assert np.isfinite(got.op_lp).all()


def test_folds_follow_weights_whose_storage_was_swapped():
    """model.to(device) replaces each weight's storage (`p.data = ...`) without bumping its version
    counter; the cached folds must not outlive the old storage."""
    model = model_with(0, False)
    q = parse_question(QUESTIONS[1], TABLE)
    with torch.inference_mode():
        ctx = model.context(collate([build_features(TABLE, q, with_rows=False)]))
        FoldedController(model, ctx)  # caches the folds of the current weights
    for p in model.parameters():
        p.data = p.data * -1.0  # new storage, same version
    with torch.inference_mode():
        ctx = model.context(collate([build_features(TABLE, q, with_rows=False)]))
        folded = FoldedController(model, ctx)
        _, got = folded.step(folded.h0, folded.history)
        _, z = model.step(ctx, *model.initial_state(ctx))
        want = model.terminal_logp(ctx, z)[0]
    np.testing.assert_allclose(got.term_lp, want.numpy(), atol=1e-5)
