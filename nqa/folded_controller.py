"""The controller's math for decoding one question, with its products folded in once per question.

Decoding a question runs the controller at ~5 positions for a handful of beam rows: a GRU, a read of
the question and six heads, each a product of a (rows, 256) input with a weight matrix, then a product
with the columns, the constants or the op embeddings. At that size each product costs a pass over its
weights and torch's per-call overhead, not arithmetic, and they were most of `ask`'s decoding time.
What does not depend on the position (the question's word vectors, the column and constant vectors,
the op embeddings) is multiplied into the weights once per question here:

* the read's attention logits come from h directly (words @ W_query), in the same product as the
  GRU's hidden-side gates;
* the GRU's input-side gates are att @ (words @ W_ih_read) + a row per chosen op + a row per chosen
  column: the read vector and the one-hot history are never formed;
* every head's logits (op, column, constant, terminal op, terminal column, halting) are columns of one
  product of h and one of the attention weights.

A position is then 3 small products and ~20 elementwise ops. The math is NeuralProgrammer.step,
select_logp and terminal_logp (tests/test_folded_controller.py holds it to them within 1e-5); the
sums run in another order, so float32 results differ from theirs in the last bits, and a near-tie
between two programs can resolve the other way (docs/programmer.md counts the dev answers this
changed). Training and batched decoding (nqa.decode._greedy) use the model's own methods.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nqa.program import OPS_WITH_COLUMN, SELECT_OPS

NEG = -1e9  # as nqa.programmer.NEG: masked logits stay finite, a fully masked row stays defined


@dataclass
class Position:
    """The controller's distributions at one position for nb rows (numpy, float32)."""

    term_lp: np.ndarray  # (nb, N_TERM)
    tcol_lp: np.ndarray  # (nb, C)
    halt: np.ndarray  # (nb,)
    op_lp: np.ndarray  # (nb, N_SEL)
    col_lp: np.ndarray  # (nb, C), or (nb, N_SEL, C) with op_columns
    const_lp: np.ndarray  # (nb, K)


def _model_parts(model) -> dict[str, torch.Tensor]:
    """The folded matrices that depend on the weights only, computed once per set of weights (cached
    on the model, keyed by the parameters' storage and version counters: an optimizer step, any
    in-place change of a weight, or moving the model invalidates it)."""
    params = model.__dict__.get("_folded_params")
    if params is None:  # walking the module tree costs ~0.15 ms: once per model
        params = model.__dict__["_folded_params"] = list(model.parameters())
    # where each weight lives (model.to(...) swaps a parameter's storage, not its version) and its
    # version; an inference tensor (a model loaded under torch.inference_mode) has no version counter:
    # it cannot be changed outside inference mode, and nothing here changes weights inside it
    key = tuple((p.data_ptr(), -1 if p.is_inference() else p._version) for p in params)
    cached = model.__dict__.get("_folded_parts")
    if cached is not None and cached[0] == key:
        return cached[1]
    D = model.config.d_model
    s = D ** -0.5
    with torch.inference_mode():
        w_read, w_op, w_col = model.gru.weight_ih.split(D, dim=1)  # each (3D, D): x = [read; op; column]

        def cat(*xs):
            return torch.cat(xs, dim=1)

        parts = {
            # words @ this: [attention-query rows (D) | input-side gates of the read (3D) | query bias (1)]
            "per_word": cat(model.read_query.weight * s, w_read.T, model.read_query.bias[:, None] * s),
            # cols @ this: [column head (2D) | terminal column head (2D) | input-side gates (3D) | 2 biases]
            "per_col": cat(model.col_query.weight * s, model.term_col_query.weight * s, w_col.T,
                           model.col_query.bias[:, None] * s, model.term_col_query.bias[:, None] * s),
            "per_const": cat(model.const_query.weight * s, model.const_query.bias[:, None] * s),
            "op_rows": model.op_emb @ model.op_query.weight * s, "op_bias": model.op_emb @ model.op_query.bias * s,
            "term_rows": model.term_emb @ model.term_query.weight * s,
            "term_bias": model.term_emb @ model.term_query.bias * s,
            "op_ih": model.op_emb @ w_op.T,  # (N_SEL, 3D): an op's input-side gates
            "hh_t": model.gru.weight_hh.T, "b_hh": model.gru.bias_hh, "b_ih": model.gru.bias_ih,
            "needs_col": torch.tensor([op in OPS_WITH_COLUMN for op in SELECT_OPS], device=model.op_emb.device),
        }
        parts = {k: v.detach().clone() if k != "needs_col" else v for k, v in parts.items()}
    model.__dict__["_folded_parts"] = (key, parts)
    return parts


class FoldedController:
    """One question's controller (ctx of batch size 1) as folded matrices; inference only."""

    @torch.inference_mode()
    def __init__(self, model, ctx) -> None:
        cfg = model.config
        D = cfg.d_model
        m = _model_parts(model)
        words, cols, consts = ctx.words[0], ctx.cols[0], ctx.consts[0]  # (W, D), (C, D), (K, D)
        W, C, K = words.shape[0], cols.shape[0], consts.shape[0]
        n_sel, n_term = m["op_rows"].shape[0], m["term_rows"].shape[0]
        self.D, self.W, self.C = D, W, C
        self.op_columns = cfg.op_columns
        word_mask = ctx.word_mask[0]
        self.no_words = not bool(word_mask.any())  # masked_softmax reads nothing then
        per_word = words @ m["per_word"]  # (W, 4D + 1)
        per_col = cols @ m["per_col"]  # (C, 7D + 2)
        per_const = consts @ m["per_const"]  # (K, 2D + 1)
        # h -> [attention logits over the words (W) | the GRU's hidden-side gates (3D)]
        self.h_weight = torch.cat([per_word[:, :D].T, m["hh_t"]], dim=1)  # (D, W + 3D)
        self.h_bias = torch.cat([per_word[:, 4 * D].masked_fill(~word_mask, float("-inf")), m["b_hh"]])
        # the GRU's input-side gates: the read's are att @ words_ih; a chosen op's and column's are rows
        self.words_ih = per_word[:, D:4 * D]  # (W, 3D)
        self.op_ih, self.b_ih, self.needs_col = m["op_ih"], m["b_ih"], m["needs_col"]
        self.col_ih = torch.cat([per_col[:, 4 * D:7 * D], cols.new_zeros(1, 3 * D)])  # (C + 1, 3D); row C: none
        # every head reads z = [h; read]: its logits are rows of A applied to z, plus a
        A = torch.cat([m["op_rows"], per_col[:, :2 * D], per_const[:, :2 * D], m["term_rows"],
                       per_col[:, 2 * D:4 * D], model.halt.weight])  # (N, 2D)
        self.a = torch.cat([m["op_bias"], per_col[:, 7 * D], per_const[:, 2 * D], m["term_bias"],
                            per_col[:, 7 * D + 1], model.halt.bias])
        self.A_h = A[:, :D].T  # (D, N)
        self.words_A = words @ A[:, D:].T  # (W, N): read @ A_read = att @ (words @ A_read)
        self.bounds = np.cumsum([0, n_sel, C, K, n_term, C]).tolist()
        ones = torch.ones(n_term + 1, dtype=torch.bool, device=A.device)
        self.keep = torch.cat([ctx.op_mask[0], ctx.col_mask[0], ctx.const_mask[0], ones[:n_term], ctx.col_mask[0],
                               ones[n_term:]])
        self.col_mask = ctx.col_mask[0]
        if self.op_columns:  # the column query gets a learned offset per op: + cols @ op_col_query[o]
            self.op_col = model.op_col_query @ cols.T * D ** -0.5  # (N_SEL, C)
        self.h0 = model.initial_state(ctx)[0]  # (1, D)
        self.history = self.b_ih[None, :]  # position 0: no op and no column yet

    @torch.inference_mode()
    def step(self, h: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, Position]:
        """h (nb, D), history (nb, 3D) from `history_of` -> new h and the distributions there."""
        D, W = self.D, self.W
        hw = torch.addmm(self.h_bias, h, self.h_weight)  # (nb, W + 3D)
        gh = hw[:, W:]
        att = hw.new_zeros(h.shape[0], W) if self.no_words else torch.softmax(hw[:, :W], dim=-1)
        gi = torch.addmm(history, att, self.words_ih)  # (nb, 3D)
        rz = torch.sigmoid(gi[:, :2 * D] + gh[:, :2 * D])
        n = torch.tanh(gi[:, 2 * D:] + rz[:, :D] * gh[:, 2 * D:])
        h = n + rz[:, D:] * (h - n)  # (1 - z) * n + z * h
        logits = torch.addmm(torch.addmm(self.a, h, self.A_h), att, self.words_A)  # (nb, N)
        logits = logits.masked_fill(~self.keep, NEG)
        b = self.bounds
        op, col, const, term, tcol = (logits[:, b[i]:b[i + 1]] for i in range(5))
        halt = torch.sigmoid(logits[:, b[5]])
        if self.op_columns:
            col = (col[:, None, :] + self.op_col).masked_fill(~self.col_mask, NEG)  # (nb, N_SEL, C)
        term_lp, tcol_lp, op_lp, col_lp, const_lp, halt_np = to_numpy(
            *(F.log_softmax(x, dim=-1) for x in (term, tcol, op, col, const)), halt)
        return h, Position(term_lp, tcol_lp, halt_np, op_lp, col_lp, const_lp)

    @torch.inference_mode()
    def history_of(self, ops: list[int], columns: list[int]) -> torch.Tensor:
        """(nb, 3D): the input-side gates (with their bias) of each row's chosen op and column (none
        unless the op takes one)."""
        o = torch.tensor(ops, device=self.op_ih.device)
        c = torch.where(self.needs_col[o], torch.tensor(columns, device=o.device), self.C)
        return self.op_ih[o] + self.col_ih[c] + self.b_ih


def to_numpy(*tensors: torch.Tensor) -> list[np.ndarray]:
    """Sharing memory on the CPU (the tensors are inference-mode outputs: nothing writes to them)."""
    return [x.detach().numpy() if x.device.type == "cpu" else x.detach().cpu().numpy() for x in tensors]
