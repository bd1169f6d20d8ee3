"""The encoder: word-level states, column vectors, freezing, and cached outputs equal fresh ones."""
from __future__ import annotations

import pytest
import torch

from nqa.encoder import Encoder, EncoderConfig, EncoderError, tokenize_names, tokenize_questions
from nqa.features import build_features, collate
from nqa.question import parse_question
from nqa.table import table_from_rows


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Encoder(EncoderConfig(kind="tiny", tiny_hidden=32, tiny_layers=1)).eval()


def test_word_states_one_per_question_word(tiny):
    words = [["which", "team", "scored", "1,234", "goals"], ["how", "many"]]
    q = tokenize_questions(words)
    states, mask, pooled = tiny.encode_questions(q)
    assert states.shape == (2, 5, 32) and pooled.shape == (2, 32)
    assert mask.tolist() == [[True] * 5, [True, True, False, False, False]]
    assert states[1, 2:].abs().sum() == 0  # padding words stay zero
    assert (q["word_index"][0] == 3).sum() > 1  # "1,234" is several word pieces, averaged into one word


def test_column_vectors_and_cached_outputs_match(tiny):
    table = table_from_rows(["Team", "Points"], [["red sox", "93"], ["mets", "70"]])
    q = parse_question("which team has the most points?", table)
    batch = collate([build_features(table, q)])
    enc = tiny(batch.question_tokens, batch.name_tokens, batch.col_mask)
    assert enc.col_states.shape == (1, 2, 32)
    names = tiny.encode_names(tokenize_names(["Team", "Points"]))
    torch.testing.assert_close(enc.col_states[0], names)
    f = build_features(table, q)
    f.encoded = enc.slice(0)
    cached = collate([f])
    assert cached.question_tokens is None and cached.encoded is not None
    torch.testing.assert_close(cached.encoded.word_states, enc.word_states)
    torch.testing.assert_close(cached.encoded.col_states, enc.col_states)


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(EncoderError):
        Encoder(EncoderConfig(kind="gpt"))


def test_minilm_frozen_and_top_layers():
    frozen = Encoder(EncoderConfig(kind="minilm"))
    assert frozen.hidden_size == 384 and frozen.frozen
    assert frozen.fast is not None and not frozen.state_dict()  # plain-torch forward, nothing to save
    hf = Encoder(EncoderConfig(kind="minilm", backend="transformers"))
    assert hf.frozen and len(hf.frozen_state_keys()) == len(hf.bert.state_dict())
    tuned = Encoder(EncoderConfig(kind="minilm", train_top_layers=1))
    trainable = {n for n, p in tuned.bert.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("encoder.layer.5.") for n in trainable)
    assert not any(k.startswith("bert.encoder.layer.5.") for k in tuned.frozen_state_keys())
    q = tokenize_questions([["how", "many", "medals"]])
    states, _, _ = tuned.encode_questions(q)
    assert states.requires_grad  # the top layer trains


def test_features_targets_and_row_free_decoding_features():
    from nqa.features import answer_targets

    table = table_from_rows(["Team", "Points"], [["red sox", "93"], ["mets", "70"], ["red sox", "12"]])
    q = parse_question("how many points did the red sox score?", table)
    f = build_features(table, q)
    assert f.values.shape == (3, 2) and f.groups[:, 0].tolist() == [0, 1, 0]
    assert f.col_feats[1, 0] == 1.0  # "points" is named in the question
    red = next(k for k, c in enumerate(q.constants) if c.norm == "red sox")
    assert f.const_col[red].tolist() == [1.0, 0.0] and f.match[red, :, 0].tolist() == [True, False, True]
    number, items = answer_targets(table, ["93"])
    assert number == 93 and items[:, 1].tolist() == [0, -1, -1]
    number, items = answer_targets(table, ["mets", "red sox"])
    assert number != number and items[:, 0].tolist() == [1, 0, 1]
    assert answer_targets(table, ["yankees"])[1] is None  # not in the table: print cannot give it
    light = build_features(table, q, with_rows=False)
    assert light.n_rows == 0 and light.values.shape == (0, 2)
    assert (light.col_feats == f.col_feats).all() and (light.const_feats == f.const_feats).all()
