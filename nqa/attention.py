"""Shared attention maths: NTM addressing, additive/dot attention and pointer softmax.

Every function here is pure (no parameters, no state) and batched. Learned projections belong to the
caller (an NTM head, the Neural Programmer's selectors); these functions only do the maths, so the same
code is proven on the NTM copy task and reused by the table model.

Conventions
    B = batch, N = number of slots (memory locations, table rows, columns, ops, constants), W = width.
    ``mask`` is a bool tensor (B, N), True = a real slot. Masked slots get exactly zero weight, and a
    row whose slots are all masked gets an all-zero weight vector (never NaN), so callers with empty
    tables or empty constant lists need no special case.
    Shift distributions ``s`` are (B, 2K+1) over offsets -K..+K (usually K = 1: -1, 0, +1). Offset +1
    moves weight from slot i to slot i+1 ("next row", "down"); -1 moves it to i-1 ("previous row", "up").

Numerics
    Reductions run in float32 when the input is float16/bfloat16 (results come back in the input
    dtype), norms are smoothed with ``eps`` so zero vectors have similarity 0 and finite gradients,
    and sharpening works in log space so ``w ** gamma`` neither underflows at large gamma nor gives
    NaN gradients at ``w = 0``.

The NTM addressing chain (Graves et al. 2014, section 3.3) is
``content_address -> interpolate -> shift -> sharpen``; :func:`address` runs all four.
"""
from __future__ import annotations

from typing import overload

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "AttentionError",
    "masked_softmax",
    "lengths_to_mask",
    "similarity",
    "content_address",
    "interpolate",
    "shift",
    "shift_by",
    "sharpen",
    "address",
    "read",
    "write",
    "dot_scores",
    "dot_attention",
    "additive_scores",
    "additive_attention",
    "pointer_softmax",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


class AttentionError(ValueError):
    """Bad shapes or arguments given to an attention function."""


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float32 for half types (exp/sum are unsafe in 8 mantissa bits), else the input dtype."""
    return torch.float32 if x.dtype in _LOW_PRECISION else x.dtype


def _column(x: Tensor | float, like: Tensor) -> Tensor:
    """Turn a per-example scalar given as float, (B,), or (B, 1) into (B, 1) broadcastable with ``like`` (B, N)."""
    if not isinstance(x, Tensor):
        return torch.tensor(float(x), dtype=like.dtype, device=like.device)
    if x.dim() == like.dim() - 1:
        return x.unsqueeze(-1)
    if x.dim() == like.dim() and x.shape[-1] == 1:
        return x
    if x.dim() == 0:
        return x
    raise AttentionError(f"expected a per-example scalar (B,) or (B, 1), got shape {tuple(x.shape)} "
                         f"for {tuple(like.shape)}")


@overload
def _check_mask(mask: Tensor, like: Tensor) -> Tensor: ...
@overload
def _check_mask(mask: None, like: Tensor) -> None: ...
def _check_mask(mask: Tensor | None, like: Tensor) -> Tensor | None:
    if mask is None:
        return None
    if mask.shape != like.shape:
        try:
            mask = mask.expand_as(like)
        except RuntimeError as exc:
            raise AttentionError(f"mask shape {tuple(mask.shape)} does not fit {tuple(like.shape)}") from exc
    return mask.to(torch.bool)


def masked_softmax(logits: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Softmax over ``dim`` that gives masked entries exactly 0 and all-masked rows all zeros.

    logits (..., N), mask (..., N) bool or None -> (..., N), same dtype as ``logits``.
    ``-inf`` logits are treated as masked too (a row of only ``-inf`` gives zeros, not NaN).

    >>> masked_softmax(torch.tensor([[0.0, 0.0, 5.0]]), torch.tensor([[True, True, False]]))
    tensor([[0.5000, 0.5000, 0.0000]])
    >>> masked_softmax(torch.tensor([[1.0, 2.0]]), torch.tensor([[False, False]]))
    tensor([[0., 0.]])
    """
    x = logits.to(_compute_dtype(logits))
    keep = x != float("-inf")  # NaN is not hidden: it propagates, it is the caller's bug
    mask = _check_mask(mask, x)
    if mask is not None:
        keep = keep & mask
    x = x.masked_fill(~keep, float("-inf"))
    top = x.amax(dim=dim, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top)).detach()  # all-masked row: no -inf - -inf
    e = torch.exp(x - top)  # exp(-inf) = 0 with a zero gradient
    total = e.sum(dim=dim, keepdim=True)
    out = e / total.clamp_min(torch.finfo(e.dtype).tiny)
    return out.to(logits.dtype)


def lengths_to_mask(lengths: Tensor, n: int) -> Tensor:
    """lengths (B,) int -> mask (B, n) bool with the first ``lengths[b]`` slots True."""
    return torch.arange(n, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(-1)


def similarity(memory: Tensor, key: Tensor, kind: str = "cosine", eps: float = 1e-8) -> Tensor:
    """Similarity of ``key`` to every slot of ``memory``.

    memory (B, N, W), key (B, W) -> (B, N). Leading dims beyond B broadcast (e.g. heads).
    ``cosine``: k·m / (sqrt(|k|² + eps) · sqrt(|m|² + eps)), 0 for zero vectors, smooth everywhere.
    ``dot``: k·m.
    """
    if memory.shape[-1] != key.shape[-1]:
        raise AttentionError(f"key width {key.shape[-1]} != memory width {memory.shape[-1]}")
    dtype = _compute_dtype(memory)
    m, k = memory.to(dtype), key.to(dtype)
    dot = (m * k.unsqueeze(-2)).sum(-1)  # (B, N)
    if kind == "dot":
        return dot.to(memory.dtype)
    if kind != "cosine":
        raise AttentionError(f"unknown similarity {kind!r} (use 'cosine' or 'dot')")
    m_norm = torch.sqrt((m * m).sum(-1) + eps)  # (B, N)
    k_norm = torch.sqrt((k * k).sum(-1, keepdim=True) + eps)  # (B, 1)
    return (dot / (m_norm * k_norm)).to(memory.dtype)


_similarity = similarity  # content_address/address take a `similarity` argument that shadows the name


def content_address(
    memory: Tensor,
    key: Tensor,
    beta: Tensor | float = 1.0,
    mask: Tensor | None = None,
    similarity: str = "cosine",
) -> Tensor:
    """Content weights softmax(beta · sim(key, memory_i)) over the unmasked slots.

    memory (B, N, W), key (B, W), beta (B, 1) | (B,) | float (>= 0, the key strength), mask (B, N) | None
    -> (B, N), each unmasked row summing to 1.
    """
    sim = _similarity(memory, key, similarity)
    return masked_softmax(_column(beta, sim) * sim, mask, dim=-1).to(memory.dtype)


def interpolate(w: Tensor, w_prev: Tensor, g: Tensor | float) -> Tensor:
    """Interpolation gate: g · w + (1 - g) · w_prev.  w, w_prev (B, N), g (B, 1) | (B,) in [0, 1] -> (B, N)."""
    g = _column(g, w)
    return g * w + (1 - g) * w_prev


def shift_by(w: Tensor, offset: int, circular: bool = True) -> Tensor:
    """Move every weight ``offset`` slots along the last dim: out[..., i] = w[..., i - offset].

    Circular wraps around (NTM memory); non-circular fills with zeros and drops what falls off the
    end (table rows: ``offset=+1`` is "next", ``-1`` is "previous"). w (..., N) -> (..., N).
    """
    n = w.shape[-1]
    if offset == 0:
        return w
    if circular:
        return torch.roll(w, shifts=offset, dims=-1)
    if abs(offset) >= n:
        return torch.zeros_like(w)
    if offset > 0:
        return F.pad(w[..., : n - offset], (offset, 0))
    return F.pad(w[..., -offset:], (0, -offset))


def shift(w: Tensor, s: Tensor, circular: bool = True, mask: Tensor | None = None) -> Tensor:
    """Convolve weights with a shift distribution: out[i] = Σ_k s[k] · w[i - k], k in -K..K.

    w (B, N), s (B, 2K+1) a distribution over offsets -K..+K (K = 1: -1, 0, +1) -> (B, N).
    ``circular=True`` wraps (NTM); ``False`` fills with zeros (table rows), and then ``mask`` (B, N)
    zeroes weight shifted onto padding slots (e.g. "next" of a table's last real row).
    Vectorised over the batch; the only Python loop is over the 2K+1 offsets.
    """
    width = s.shape[-1]
    if width % 2 != 1:
        raise AttentionError(f"shift distribution needs an odd width (offsets -K..K), got {width}")
    try:
        torch.broadcast_shapes(s.shape[:-1], w.shape[:-1])  # s may be shared: (2K+1,) or (1, 2K+1)
    except RuntimeError as exc:
        raise AttentionError(f"shift s {tuple(s.shape)} does not fit weights {tuple(w.shape)}") from exc
    k_max = width // 2
    out = torch.zeros(torch.broadcast_shapes(s.shape[:-1], w.shape[:-1]) + w.shape[-1:], dtype=w.dtype, device=w.device)
    for j in range(width):
        out = out + s[..., j : j + 1] * shift_by(w, j - k_max, circular)
    mask = _check_mask(mask, out)
    if mask is not None:
        out = out.masked_fill(~mask, 0.0)
    return out


def sharpen(w: Tensor, gamma: Tensor | float, mask: Tensor | None = None) -> Tensor:
    """Sharpening: w_i^gamma / Σ_j w_j^gamma, computed as a softmax of gamma · log w over w > 0.

    w (B, N) >= 0, gamma (B, 1) | (B,) | float (>= 1 in the NTM) -> (B, N). Zero weights stay zero
    (with finite gradients, also w.r.t. gamma); an all-zero row stays all zero; large gamma does not
    underflow (gamma = 100 on a near-uniform row gives its argmax, not zeros).
    """
    positive = w > 0
    if mask is not None:
        positive = positive & _check_mask(mask, w)
    safe = torch.where(positive, w, torch.ones_like(w))  # log(1) = 0 where masked: no -inf * 0 in backward
    logits = _column(gamma, w) * torch.log(safe.to(_compute_dtype(w)))
    return masked_softmax(logits, positive, dim=-1).to(w.dtype)


def address(
    memory: Tensor,
    w_prev: Tensor,
    key: Tensor,
    beta: Tensor,
    g: Tensor,
    s: Tensor,
    gamma: Tensor,
    mask: Tensor | None = None,
    circular: bool = True,
    similarity: str = "cosine",
) -> Tensor:
    """The full NTM addressing chain: content -> interpolate -> shift -> sharpen.

    memory (B, N, W), w_prev (B, N), key (B, W), beta/g/gamma (B, 1), s (B, 2K+1) -> w (B, N).
    """
    wc = content_address(memory, key, beta, mask, similarity)
    wg = interpolate(wc, w_prev, g)
    ws = shift(wg, s, circular=circular, mask=mask)
    return sharpen(ws, gamma, mask)


def read(memory: Tensor, w: Tensor) -> Tensor:
    """Attention readout Σ_i w_i · memory_i.  memory (B, N, W), w (B, N) -> (B, W)."""
    return torch.einsum("bn,bnw->bw", w, memory)


def write(memory: Tensor, w: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """NTM write: M_i · (1 - w_i · e) + w_i · a, returning a new memory (the input is not modified).

    memory (B, N, W), w (B, N), erase (B, W) in [0, 1], add (B, W) -> (B, N, W).
    """
    w = w.unsqueeze(-1)  # (B, N, 1)
    return memory * (1 - w * erase.unsqueeze(-2)) + w * add.unsqueeze(-2)


def dot_scores(query: Tensor, keys: Tensor, scale: bool = True) -> Tensor:
    """Dot-product scores q·k_i, divided by sqrt(D) when ``scale`` (Vaswani et al.).

    query (B, D), keys (B, N, D) -> (B, N).
    """
    scores = similarity(keys, query, "dot")
    return scores / keys.shape[-1] ** 0.5 if scale else scores


def dot_attention(query: Tensor, keys: Tensor, mask: Tensor | None = None, scale: bool = True) -> Tensor:
    """Dot-product attention weights.  query (B, D), keys (B, N, D), mask (B, N) -> (B, N)."""
    return masked_softmax(dot_scores(query, keys, scale), mask)


def additive_scores(query: Tensor, keys: Tensor, v: Tensor) -> Tensor:
    """Additive (Bahdanau) scores v · tanh(q + k_i) on already-projected inputs.

    query (B, H) = W_q q, keys (B, N, H) = W_k k_i, v (H,) -> (B, N). The caller owns W_q, W_k, v.
    """
    return torch.tanh(keys + query.unsqueeze(-2)) @ v


def additive_attention(query: Tensor, keys: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Additive (Bahdanau) attention weights.  query (B, H), keys (B, N, H), v (H,), mask (B, N) -> (B, N)."""
    return masked_softmax(additive_scores(query, keys, v), mask)


def pointer_softmax(
    scores: Tensor,
    mask: Tensor | None = None,
    lengths: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """Pointer-network distribution over a variable-length input set (Vinyals et al. 2015).

    scores (B, N) (e.g. from :func:`additive_scores`), mask (B, N) and/or lengths (B,) marking the real
    items -> (B, N) probabilities over the real items; an empty set (length 0) gives all zeros.
    """
    if temperature <= 0:
        raise AttentionError(f"temperature must be > 0, got {temperature}")
    if lengths is not None:
        len_mask = lengths_to_mask(lengths, scores.shape[-1])
        mask = len_mask if mask is None else (_check_mask(mask, scores) & len_mask)
    return masked_softmax(scores / temperature, mask)
