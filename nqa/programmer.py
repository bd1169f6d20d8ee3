"""The Neural Programmer (Neelakantan et al. 2016, with ACT halting): question + table -> program.

API (what trainers and the product use)
---------------------------------------
Build a batch (nqa/features.py):
    q = parse_question(text, table)                                   # nqa.question
    f = build_features(table, q)                                      # numpy, one example
    f = with_answer(f, table, ["42"])                                 # weak-supervision targets
    batch = collate([f, ...])                                         # padded tensors (Batch)
Train step (soft execution + weak supervision):
    model = NeuralProgrammer(ProgrammerConfig())                      # frozen MiniLM; encoder="tiny" for tests
    out = model(batch)                                                # Output: all positions, soft
    losses = model.loss(out, batch, tau=..., act=True, entropy=0.0)   # dict; losses["loss"].backward()
    (act=False for a warm-up with uniform position weights; entropy > 0 early keeps choices soft)
Marginal likelihood over searched programs (batched over all candidates of the batch):
    cands = ProgramTargets.from_programs([(b, program), ...], model.config.max_steps)
    logp = model.program_log_prob(batch, cands)                       # (M,) log p(program | question, table)
    # per example: -logsumexp(logp of its candidates); see training/synthetic.py:train
Decode (no soft execution; run the result with nqa.executor.execute):
    programs = model.decode(table, q, k=5)                            # list[Program], best first
    nqa.decode.decode_programs(model, tables, questions, k)           # a batch of questions
Frozen-encoder caching: `enc = model.encode(batch)`; put `enc.slice(b)` in `Features.encoded` and
    collate passes it on, so the encoder is skipped (the synthetic trainer does this).
Save / load: model.save_pretrained(dir); NeuralProgrammer.from_pretrained(dir)
    (config.json {"model": ProgrammerConfig} + model.safetensors of `checkpoint_state()`: every
    parameter except the frozen MiniLM weights, which come from the pip package).

How it works, top to bottom
---------------------------
* The encoder gives word vectors, a pooled question vector and one vector per column header.
* A history RNN (GRU cell) runs over positions t = 0..T (T = max_steps). At each position it reads
  the question by attention and is fed the previous step's op and column (soft: their expected
  embeddings; teacher forcing and decoding: the chosen ones).
* At position t the model either halts, giving the answer with a terminal op (count, sum, ..., print)
  over the current selection, or selects rows with one more selection op. So a program has 0..T
  selection steps then one terminal step; ACT (nqa/act.py) weighs the positions.
* op selector: content attention over op embeddings; column pointer: content attention over column
  vectors (header + match features); constant pointer: attention over the question's constants
  (their word span + features). Every selection op is executed softly (nqa/ops.py) and mixed.
* Loss (weak supervision): at each position the expected loss of the terminal choice: Huber (clipped)
  against a numeric answer for count/sum/avg/max/min/difference, a lookup log-loss for print (at
  least one selected cell per answer item, a summed penalty on other selected cells); a terminal that cannot
  give the answer costs `loss_clip`. The model's op distribution then takes the soft minimum of the
  two losses itself. Positions are weighted by ACT; plus tau * ponder cost.
  Why the expected loss and not the loss of the expected answer: mixing a count of 3 with a sum of
  9000 gives a number no program produces; the expected loss trains the distribution that argmax
  decoding reads.
* Decoding (nqa/decode.py) never executes softly: argmax choices fed back as history, halting at the
  first position whose halting unit says h >= 0.5 (the argmax of the distribution program_log_prob
  scores); beam search for top-k. docs/programmer.md records these choices and the training traps.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nqa import ops
from nqa.act import Halting, halting_bias_for, halting_weights
from nqa.attention import masked_softmax
from nqa.cue_words import CUE_CLASSES
from nqa.encoder import Encoded, Encoder, EncoderConfig
from nqa.features import COL_FEATURES, CONST_FEATURES, Batch
from nqa.program import OPS_WITH_COLUMN, OPS_WITH_CONSTANT, SELECT_OPS, TERMINAL_OPS, Program

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
N_SEL, N_TERM = len(SELECT_OPS), len(TERMINAL_OPS)
SCALAR_OPS = [op for op in TERMINAL_OPS if op != "print"]  # order of ops.soft_terminal_scalars
PRINT = TERMINAL_OPS.index("print")
NEG = -1e9  # masked logit (finite: log_softmax of an all-masked row stays finite)


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """layer(x) without nn.Module's call machinery: the same F.linear. The controller's heads run
    several times per position and the projections once per question, often at small batches, where
    the call overhead (~8 us) is as large as the product itself. (Decoding one question for `ask`
    folds the heads further: nqa/folded_controller.py.)"""
    return F.linear(x, layer.weight, layer.bias)


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """norm(x) without nn.Module's call machinery (see _linear)."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


# what a selection op needs, as a column of context()'s `has` (0: nothing, 1: any constant, 2: a text
# constant, 3: a number constant, 4: a yes/no flag column)
_OP_NEEDS = torch.tensor([{"filter_eq": 1, "filter_any": 2, "filter_gt": 3, "filter_ge": 3, "filter_lt": 3,
                           "filter_le": 3, "filter_true": 4, "filter_false": 4}.get(op, 0) for op in SELECT_OPS])
_IS_FLAG = COL_FEATURES.index("is_flag")


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded."""


@dataclass
class ProgrammerConfig:
    encoder: str = "minilm"  # "minilm" (pretrained, from the pip package) | "tiny" (random init: tests, synthetic)
    encoder_train_top_layers: int = 0  # minilm: 0 = frozen (not saved in checkpoints), k = tune the top k layers
    # minilm: run only its first k layers (0: all 6). Each layer is ~1/6 of a question's encoder time,
    # the largest share of an answer's latency (docs/programmer.md, "Encoder depth").
    encoder_layers: int = 0
    tiny_hidden: int = 64
    tiny_layers: int = 2
    d_model: int = 128
    max_steps: int = 4  # selection steps at most; a program has 0..max_steps of them
    act_eps: float = 0.01
    # Halting starts uniform over the max_steps + 1 positions (bias logit(1/(T+1))): every position's
    # terminal gets trained from the start, and no early collapse to short programs.
    act_initial_steps: float = 0.0  # 0 = max_steps + 1
    tau: float = 0.003  # ponder cost weight (warm it up: act.tau_schedule)
    huber_delta: float = 1.0
    scalar_scale: float = 0.05  # Huber on (y - y*) / (1 + scalar_scale * |y*|): sums of years stay trainable
    # A terminal's loss is soft-clipped to loss_clip (limit · tanh(x / limit)): still a gradient at 5-10,
    # where wrong early programs sit, but bounded; a terminal that cannot give the answer costs loss_clip.
    loss_clip: float = 12.0
    cell_penalty: float = 0.5  # weight of the log-loss on selected non-answer cells
    dropout: float = 0.1
    # The column pointer of a selection step reads the op it points for (a learned query offset per
    # op): "the most gold medals" wants argmax over Gold, "in 2004" a filter over Year, and one column
    # distribution shared by every op has to split between them. False: one shared distribution
    # (checkpoints trained before this option).
    op_columns: bool = False
    # A column's vector also reads the question words that name it (their mean, like a constant's span):
    # contextual vectors that say where the column is named, so that the column and constant pointers of
    # one step can agree ("rank more than 0 and score less than 16"). False: header + features only
    # (every checkpoint trained before this option). Measured on the synthetic task only.
    col_mentions: bool = False
    # Each question word also carries the classes of the cue phrases it is part of (nqa.cue_words:
    # 'or more' and 'at least' are both at_least), added to the word vectors and, as their maximum over
    # the question, to the question vector. The value is how many of CUE_CLASSES the model reads (the
    # lexicon only grows at its end, so a checkpoint keeps reading the classes it was trained with);
    # 0: none (every checkpoint trained before this option).
    word_cues: int = 0
    # Training only: the share of cue words (words with a cue class) whose encoder vector is dropped
    # in a batch, leaving their cue classes. The frozen encoder places 'arent' far from 'not'; a model
    # that may not see the word learns what its class means, and reads the class for cue words it
    # never saw ('arent' -> negation). 0: none. Decoding never drops.
    cue_dropout: float = 0.0


@dataclass
class Output:
    """What one soft forward pass produces (P = max_steps + 1 positions)."""

    selections: torch.Tensor  # (B, P, R) the row selection at each position (position 0: all rows)
    op_probs: torch.Tensor  # (B, T, N_SEL) selection op distribution of each selection step
    col_probs: torch.Tensor  # (B, T, C)
    const_probs: torch.Tensor  # (B, T, K)
    term_probs: torch.Tensor  # (B, P, N_TERM) terminal op if the program halts at this position
    term_col_probs: torch.Tensor  # (B, P, C)
    halt_probs: torch.Tensor  # (B, P) ACT halting unit
    halting: Halting  # ACT step weights over positions, steps N (positions used), remainder, ponder


@dataclass
class ProgramTargets:
    """M discrete programs (candidates) as tensors, for program_log_prob. T = max_steps."""

    example: torch.Tensor  # (M,) which batch example each program belongs to
    ops: torch.Tensor  # (M, T) selection op index in SELECT_OPS (0 past n_steps)
    cols: torch.Tensor  # (M, T) column (0 when unused)
    consts: torch.Tensor  # (M, T) constant (0 when unused)
    n_steps: torch.Tensor  # (M,) number of selection steps
    term_op: torch.Tensor  # (M,) index in TERMINAL_OPS
    term_col: torch.Tensor  # (M,) column (0 for count)

    def to(self, device) -> ProgramTargets:
        return ProgramTargets(*(getattr(self, f.name).to(device) for f in fields(self)))

    @classmethod
    def from_programs(cls, items: list[tuple[int, Program]], max_steps: int) -> ProgramTargets:
        """items: (example index in the batch, Program) pairs; programs longer than max_steps raise."""
        M = len(items)
        t = {n: torch.zeros(M, max_steps, dtype=torch.long) for n in ("ops", "cols", "consts")}
        ex, n_steps, term_op, term_col = (torch.zeros(M, dtype=torch.long) for _ in range(4))
        for m, (b, p) in enumerate(items):
            sel = p.selection_steps
            if len(sel) > max_steps:
                raise ValueError(f"program {p} has {len(sel)} selection steps; the model allows {max_steps}")
            ex[m], n_steps[m] = b, len(sel)
            for i, st in enumerate(sel):
                t["ops"][m, i] = SELECT_OPS.index(st.op)
                t["cols"][m, i] = st.column or 0
                t["consts"][m, i] = st.constant or 0
            term_op[m] = TERMINAL_OPS.index(p.terminal.op)
            term_col[m] = p.terminal.column or 0
        return cls(ex, t["ops"], t["cols"], t["consts"], n_steps, term_op, term_col)


# ---------------------------------------------------------------------------------------------
# the model


@dataclass
class Context:
    """The encoded example, projected to d_model, that every step reads."""

    words: torch.Tensor  # (B, W, D)
    word_mask: torch.Tensor  # (B, W)
    question: torch.Tensor  # (B, D)
    cols: torch.Tensor  # (B, C, D) header + match features
    col_mask: torch.Tensor  # (B, C)
    consts: torch.Tensor  # (B, K, D) word span + features
    const_mask: torch.Tensor  # (B, K)
    op_mask: torch.Tensor  # (B, N_SEL) ops that can run (constants of the right kind exist)

    def index(self, idx: torch.Tensor) -> Context:
        return Context(*(getattr(self, f.name)[idx] for f in fields(self)))


class NeuralProgrammer(nn.Module):
    def __init__(self, config: ProgrammerConfig | None = None):
        super().__init__()
        self.config = cfg = config or ProgrammerConfig()
        self.encoder = Encoder(EncoderConfig(kind=cfg.encoder, train_top_layers=cfg.encoder_train_top_layers,
                                             layers=cfg.encoder_layers, tiny_hidden=cfg.tiny_hidden,
                                             tiny_layers=cfg.tiny_layers))
        H, D = self.encoder.hidden_size, cfg.d_model
        # projections to d_model, each layer-normalised: encoder outputs share a large common
        # component, and the heads need the differences between questions (and columns) at unit scale
        self.word_proj = nn.Sequential(nn.Linear(H, D), nn.LayerNorm(D))
        self.question_proj = nn.Sequential(nn.Linear(H, D), nn.LayerNorm(D))
        self.col_proj = nn.Linear(H, D)
        self.col_feat = nn.Linear(len(COL_FEATURES), D)
        self.col_norm = nn.LayerNorm(D)
        self.const_proj = nn.Linear(D, D)
        if cfg.col_mentions:
            self.col_mention_proj = nn.Linear(D, D)
        self.const_feat = nn.Linear(len(CONST_FEATURES), D)
        if cfg.word_cues:
            if not 0 < cfg.word_cues <= len(CUE_CLASSES):
                raise ValueError(f"word_cues must be 0..{len(CUE_CLASSES)}, got {cfg.word_cues}")
            self.word_cue = nn.Linear(cfg.word_cues, D, bias=False)
            self.question_cue = nn.Linear(cfg.word_cues, D, bias=False)
        self.const_norm = nn.LayerNorm(D)
        self.drop = nn.Dropout(cfg.dropout)
        # controller: question attention + GRU cell over [question read, previous op, previous column]
        self.init_h = nn.Linear(D, D)
        self.read_query = nn.Linear(D, D)
        self.gru = nn.GRUCell(3 * D, D)
        # heads read z = [h; question read] (2D)
        self.op_emb = nn.Parameter(torch.randn(N_SEL, D) * 0.1)
        self.term_emb = nn.Parameter(torch.randn(N_TERM, D) * 0.1)
        self.op_query = nn.Linear(2 * D, D)
        self.col_query = nn.Linear(2 * D, D)
        if cfg.op_columns:  # zero at the start: every op begins with the shared column distribution
            self.op_col_query = nn.Parameter(torch.zeros(N_SEL, D))
        self.const_query = nn.Linear(2 * D, D)
        self.term_query = nn.Linear(2 * D, D)
        self.term_col_query = nn.Linear(2 * D, D)
        self.halt = nn.Linear(2 * D, 1)
        nn.init.zeros_(self.halt.weight)  # every question starts at the same, uniform halting
        nn.init.constant_(self.halt.bias, halting_bias_for(cfg.act_initial_steps or cfg.max_steps + 1))

    # -- encoding -----------------------------------------------------------------------------
    def encode(self, batch: Batch) -> Encoded:
        """Encoder outputs (cached ones when the batch carries them)."""
        if batch.encoded is not None:
            return batch.encoded
        return self.encoder(batch.question_tokens, batch.name_tokens, batch.col_mask)

    def context(self, batch: Batch, encoded: Encoded | None = None) -> Context:
        # the projections are called functionally (_linear, _layer_norm): the same ops as the
        # modules' forward, without ~8 us of nn.Module call machinery each at a batch of one
        enc = encoded if encoded is not None else self.encode(batch)
        word_lin, word_norm = cast(nn.Linear, self.word_proj[0]), cast(nn.LayerNorm, self.word_proj[1])
        words = _linear(word_lin, enc.word_states)
        if self.config.word_cues:
            assert batch.word_cues is not None  # collate builds it for every batch
            n = min(words.shape[1], batch.word_cues.shape[1])
            if self.training and self.config.cue_dropout:
                cue = batch.word_cues[:, :n, :self.config.word_cues].amax(-1) > 0  # (B, n)
                drop = cue & (torch.rand(cue.shape, device=cue.device) < self.config.cue_dropout)
                words = torch.cat([words[:, :n] * (~drop).unsqueeze(-1).to(words.dtype), words[:, n:]], 1)
            words = words + F.pad(_linear(self.word_cue, batch.word_cues[:, :n, :self.config.word_cues]),
                                  (0, 0, 0, words.shape[1] - n))
        words = F.dropout(_layer_norm(word_norm, words), self.drop.p, self.training)  # (B, W, D)
        W = words.shape[1]
        if W < batch.word_mask.shape[1]:  # truncated by the encoder's max length
            words = F.pad(words, (0, 0, 0, batch.word_mask.shape[1] - W))
        words = words[:, :batch.word_mask.shape[1]]
        word_mask = batch.word_mask
        question_lin = cast(nn.Linear, self.question_proj[0])
        question = _linear(question_lin, enc.pooled)
        if self.config.word_cues:
            assert batch.word_cues is not None
            question = question + _linear(self.question_cue, batch.word_cues[..., :self.config.word_cues].amax(1))
        question = _layer_norm(cast(nn.LayerNorm, self.question_proj[1]), question)  # (B, D)
        cols = _linear(self.col_proj, enc.col_states) + _linear(self.col_feat, batch.col_feats)
        if self.config.col_mentions:  # + the mean of the question words that name the column
            assert batch.col_mention is not None  # collate builds it for every batch
            m = batch.col_mention[:, :, :words.shape[1]]  # (B, C, W)
            cols = cols + self.col_mention_proj(m @ words / m.sum(-1, keepdim=True).clamp_min(1))
        cols = _layer_norm(self.col_norm, cols)  # (B, C, D)
        # constant = mean of its span's word vectors + features
        pos = torch.arange(words.shape[1], device=words.device)
        span = batch.const_span  # (B, K, 2)
        in_span = ((pos[None, None] >= span[..., :1]) & (pos[None, None] < span[..., 1:])).to(words.dtype)  # (B, K, W)
        span_mean = in_span @ words / in_span.sum(-1, keepdim=True).clamp_min(1)
        consts = _layer_norm(self.const_norm, _linear(self.const_proj, span_mean)
                             + _linear(self.const_feat, batch.const_feats))  # (B, K, D)
        t = batch.table
        # which constants each op needs: none, any, a text one, a number one (_OP_NEEDS)
        has = torch.stack([torch.ones_like(batch.const_mask[:, 0]), batch.const_mask.any(1), t.const_is_text.any(1),
                           t.const_is_number.any(1), (batch.col_feats[:, :, _IS_FLAG] > 0).any(1)], dim=1)  # (B, 5)
        op_mask = has[:, _OP_NEEDS.to(has.device)]  # (B, N_SEL)
        return Context(words, word_mask, question, cols, batch.col_mask, consts, batch.const_mask, op_mask)

    # -- one controller step and the heads ------------------------------------------------------
    def initial_state(self, ctx: Context) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(h, previous op vector, previous column vector) before position 0."""
        h = torch.tanh(_linear(self.init_h, ctx.question))
        return h, torch.zeros_like(h), torch.zeros_like(h)

    def step(self, ctx: Context, h: torch.Tensor, prev_op: torch.Tensor, prev_col: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> new h (B, D) and the heads' input z = [h; question read] (B, 2D)."""
        D = h.shape[-1]
        query = _linear(self.read_query, h)
        att = masked_softmax((ctx.words @ query[:, :, None]).squeeze(-1) / D ** 0.5, ctx.word_mask)
        read = (att[:, :, None] * ctx.words).sum(1)  # (B, D)
        h = torch.gru_cell(torch.cat([read, prev_op, prev_col], -1), h, self.gru.weight_ih, self.gru.weight_hh,
                           self.gru.bias_ih, self.gru.bias_hh)  # GRUCell.forward's own call, without its checks
        return h, torch.cat([h, read], -1)

    @staticmethod
    def _logp(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(logits.masked_fill(~mask, NEG), dim=-1)

    def select_logp(self, ctx: Context, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-distributions of the selection step: op (B, N_SEL), column (B, C) or, with
        config.op_columns, the column given each op (B, N_SEL, C), constant (B, K)."""
        D = self.config.d_model
        op = _linear(self.op_query, z) @ self.op_emb.T / D ** 0.5
        if self.config.op_columns:
            query = _linear(self.col_query, z)[:, None, :] + self.op_col_query  # (B, N_SEL, D)
            col = torch.einsum("bcd,bod->boc", ctx.cols, query) / D ** 0.5
            col_lp = self._logp(col, ctx.col_mask[:, None, :])
        else:
            query = _linear(self.col_query, z)
            col_lp = self._logp((ctx.cols @ query[:, :, None]).squeeze(-1) / D ** 0.5, ctx.col_mask)
        const = (ctx.consts @ _linear(self.const_query, z)[:, :, None]).squeeze(-1) / D ** 0.5
        return self._logp(op, ctx.op_mask), col_lp, self._logp(const, ctx.const_mask)

    def terminal_logp(self, ctx: Context, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Terminal op (B, N_TERM), its column (B, C), and the halting probability (B,)."""
        D = self.config.d_model
        op = _linear(self.term_query, z) @ self.term_emb.T / D ** 0.5
        col = (ctx.cols @ _linear(self.term_col_query, z)[:, :, None]).squeeze(-1) / D ** 0.5
        halt = torch.sigmoid(_linear(self.halt, z)).squeeze(-1)
        return F.log_softmax(op, -1), self._logp(col, ctx.col_mask), halt

    def history(self, ctx: Context, op_p: torch.Tensor, col_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the next position is fed: op and column vectors under the given distributions
        (one-hot for a chosen program; col_p (B, C), with op_columns the column's marginal)."""
        return op_p @ self.op_emb, (col_p[:, :, None] * ctx.cols).sum(1)

    # -- soft forward (training) ----------------------------------------------------------------
    def forward(self, batch: Batch, encoded: Encoded | None = None) -> Output:
        ctx = self.context(batch, encoded)
        T = self.config.max_steps
        s = batch.table.row_mask.float()  # (B, R)
        h, prev_op, prev_col = self.initial_state(ctx)
        sels, op_ps, col_ps, const_ps, term_ps, tcol_ps, halts = [s], [], [], [], [], [], []
        for t in range(T + 1):
            h, z = self.step(ctx, h, prev_op, prev_col)
            term_lp, tcol_lp, halt = self.terminal_logp(ctx, z)
            term_ps.append(term_lp.exp())
            tcol_ps.append(tcol_lp.exp() * ctx.col_mask)
            halts.append(halt)
            if t == T:
                break
            op_lp, col_lp, const_lp = self.select_logp(ctx, z)
            op_p = op_lp.exp() * ctx.op_mask
            col_p = col_lp.exp() * (ctx.col_mask[:, None] if col_lp.dim() == 3 else ctx.col_mask)
            const_p = const_lp.exp() * ctx.const_mask
            s = ops.soft_select_step(s, batch.table, op_p, col_p, const_p)
            # with op_columns, the column's marginal under the op distribution: (B, C) either way
            col_marginal = (op_p[:, :, None] * col_p).sum(1) if col_p.dim() == 3 else col_p
            prev_op, prev_col = self.history(ctx, op_p, col_marginal)
            sels.append(s)
            op_ps.append(op_p)
            col_ps.append(col_marginal)
            const_ps.append(const_p)
        halt_probs = torch.stack(halts, 1)
        halting = halting_weights(halt_probs, eps=self.config.act_eps)
        return Output(torch.stack(sels, 1), torch.stack(op_ps, 1), torch.stack(col_ps, 1), torch.stack(const_ps, 1),
                      torch.stack(term_ps, 1), torch.stack(tcol_ps, 1), halt_probs, halting)

    # -- weak-supervision loss ------------------------------------------------------------------
    def position_losses(self, out: Output, batch: Batch) -> torch.Tensor:
        """(B, P): expected loss of the terminal choice at each position."""
        cfg = self.config
        B, P, R = out.selections.shape
        sels = out.selections.reshape(B * P, R)
        rep = lambda x: x.repeat_interleave(P, 0)  # noqa: E731  (B, ...) -> (B * P, ...)
        table = ops.SoftTable(**{k: rep(v) for k, v in batch.table.__dict__.items()})
        scalars = ops.soft_terminal_scalars(sels, table).view(B, P, len(SCALAR_OPS), -1)  # (B, P, 6, C)
        target = batch.answer_number[:, None, None, None]
        err = (scalars - target) / (1 + cfg.scalar_scale * target.abs())
        scalar_loss = _soft_clip(F.huber_loss(err, torch.zeros_like(err), reduction="none", delta=cfg.huber_delta),
                                 cfg.loss_clip)
        scalar_loss = torch.where(batch.has_number[:, None, None, None], scalar_loss,
                                  torch.full_like(scalar_loss, cfg.loss_clip))
        tcol = out.term_col_probs  # (B, P, C)
        scalar_loss = (scalar_loss * tcol[:, :, None, :]).sum(-1)  # (B, P, 6) expected over columns
        lookup = ops.soft_lookup(sels, tcol.reshape(B * P, -1)).view(B, P, R, -1)  # (B, P, R, C)
        look_loss = _soft_clip(self._lookup_loss(lookup, batch), cfg.loss_clip)  # (B, P)
        look_loss = torch.where(batch.has_cells[:, None], look_loss, torch.full_like(look_loss, cfg.loss_clip))
        per_op = torch.cat([scalar_loss, look_loss[..., None]], -1)  # (B, P, N_TERM) in TERMINAL_OPS order
        order = [SCALAR_OPS.index(op) if op != "print" else len(SCALAR_OPS) for op in TERMINAL_OPS]
        per_op = per_op[..., order]
        return (out.term_probs * per_op).sum(-1)

    def _lookup_loss(self, lookup: torch.Tensor, batch: Batch) -> torch.Tensor:
        """lookup (B, P, R, C) -> (B, P): −log P(some selected cell holds each answer item) averaged over
        items; plus cell_penalty · Σ −log(1 − p) over cells holding no answer item (summed, not averaged:
        every extra printed cell makes the exact answer wrong, so printing all rows must not be cheap)."""
        p = lookup.clamp(1e-6, 1 - 1e-6)
        log_not = torch.log1p(-p)  # (B, P, R, C)
        items = batch.answer_items  # (B, R, C) long, -1 = no item
        n_items = int(items.max()) + 1 if items.numel() else 0
        B, P = p.shape[:2]
        real = (batch.table.row_mask[:, :, None] & batch.col_mask[:, None, :])[:, None]  # (B, 1, R, C)
        other = real & (items < 0)[:, None]
        penalty = -(log_not * other).sum((-1, -2))  # ~ the number of extra cells printed
        if n_items == 0:
            return penalty * self.config.cell_penalty
        onehot = (items[..., None] == torch.arange(n_items, device=p.device)).to(p.dtype)  # (B, R, C, I)
        log_none = torch.einsum("bprc,brci->bpi", log_not, onehot)  # log P(no cell of item i selected)
        has_item = onehot.sum((1, 2)) > 0  # (B, I)
        log_some = torch.log((-torch.expm1(log_none)).clamp_min(1e-6))  # log(1 − exp(log_none))
        item_loss = -(log_some * has_item[:, None]).sum(-1) / has_item.sum(-1, keepdim=True).clamp_min(1)
        return item_loss + self.config.cell_penalty * penalty

    def loss(self, out: Output, batch: Batch, tau: float | None = None, act: bool = True,
             entropy: float = 0.0) -> dict[str, torch.Tensor]:
        """{"loss": scalar to backprop, "answer": mean expected answer loss, "ponder": mean N + R}.

        act=False weighs every position equally (use it for a warm-up): at initialisation the random
        soft selections make position 0 (no selection yet) the best one for every question, and ACT
        trained from the first update collapses to programs with no selection step.
        """
        tau = self.config.tau if tau is None else tau
        per_position = self.position_losses(out, batch)  # (B, P)
        weights = out.halting.weights if act else torch.full_like(per_position, 1 / per_position.shape[1])
        answer = (weights * per_position).sum(-1)  # (B,)
        ponder = out.halting.ponder
        total = answer + tau * ponder
        ent = self.entropy(out)
        if entropy:
            total = total - entropy * ent
        return {"loss": total.mean(), "answer": answer.mean().detach(), "ponder": ponder.mean().detach(),
                "entropy": ent.mean().detach()}

    @staticmethod
    def entropy(out: Output) -> torch.Tensor:
        """(B,) summed entropy of every choice distribution, averaged over steps. A bonus on it early in
        training keeps the choices soft while the soft execution is still random: without it the op
        selector saturates on `reset` and the terminal on whichever op is cheapest on average."""
        def h(p: torch.Tensor) -> torch.Tensor:
            return -(p * torch.log(p.clamp_min(1e-12))).sum(-1).mean(-1)
        return h(out.op_probs) + h(out.col_probs) + h(out.const_probs) + h(out.term_probs) + h(out.term_col_probs)

    # -- teacher forcing: log p(program) ---------------------------------------------------------
    def program_log_prob(self, batch: Batch, targets: ProgramTargets, encoded: Encoded | None = None) -> torch.Tensor:
        """(M,) log p(program | question, table) for M discrete programs, batched over all of them.

        Each program's choices are fed back as history (teacher forcing). The number of selection
        steps N is scored with the halting units as a stopping distribution, h_N · Π_{t<N} (1 − h_t)
        (h = 1 at the last position): unlike the ACT weights it gives every length a non-zero
        probability, so a marginal-likelihood loss can lengthen programs as well as shorten them.
        For a loss over several candidates per example: logsumexp of this per example.
        """
        ctx = self.context(batch, encoded)
        targets = targets.to(ctx.words.device)
        ctx = ctx.index(targets.example)  # (M, ...)
        T, M = self.config.max_steps, targets.example.shape[0]
        h, prev_op, prev_col = self.initial_state(ctx)
        logp = torch.zeros(M, device=h.device)
        log_continue = torch.zeros(M, device=h.device)
        col_needed = torch.tensor([op in OPS_WITH_COLUMN for op in SELECT_OPS], device=h.device)
        const_needed = torch.tensor([op in OPS_WITH_CONSTANT for op in SELECT_OPS], device=h.device)
        term_col_needed = torch.tensor([op in OPS_WITH_COLUMN for op in TERMINAL_OPS], device=h.device)
        rows = torch.arange(M, device=h.device)
        for t in range(T + 1):
            h, z = self.step(ctx, h, prev_op, prev_col)
            term_lp, tcol_lp, halt = self.terminal_logp(ctx, z)
            here = targets.n_steps == t  # programs that halt at this position
            log_halt = torch.zeros_like(halt) if t == T else torch.log(halt.clamp_min(1e-9))
            term = log_continue + log_halt + term_lp[rows, targets.term_op] + torch.where(
                term_col_needed[targets.term_op], tcol_lp[rows, targets.term_col], torch.zeros_like(halt))
            logp = torch.where(here, term, logp)
            if t == T:
                break
            op_lp, col_lp, const_lp = self.select_logp(ctx, z)
            o, c, k = targets.ops[:, t], targets.cols[:, t], targets.consts[:, t]
            col_given_op = col_lp[rows, o, c] if col_lp.dim() == 3 else col_lp[rows, c]
            step_lp = op_lp[rows, o] + torch.where(col_needed[o], col_given_op, torch.zeros_like(halt)) \
                + torch.where(const_needed[o], const_lp[rows, k], torch.zeros_like(halt))
            log_continue = log_continue + torch.log1p(-halt.clamp_max(1 - 1e-6)) + step_lp
            one_op = F.one_hot(o, N_SEL).to(h.dtype)
            one_col = F.one_hot(c, ctx.cols.shape[1]).to(h.dtype) * col_needed[o, None]
            prev_op, prev_col = self.history(ctx, one_op, one_col)
        return logp

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, table, question, k: int = 1) -> list[Program]:
        """The k most likely programs for one question, best first (the first is the ACT hard path)."""
        from nqa.decode import decode_programs

        return decode_programs(self, [table], [question], k=k)[0]

    def decode_batch(self, tables, questions, k: int = 1) -> list[list[Program]]:
        """decode for several questions at once (one encoder call, one batched greedy pass)."""
        from nqa.decode import decode_programs

        return decode_programs(self, tables, questions, k=k)

    # -- save / load -----------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """The parameters a checkpoint holds: all but the frozen pretrained encoder weights."""
        frozen = {f"encoder.{n}" for n in self.encoder.frozen_state_keys()}
        return {n: t for n, t in self.state_dict().items() if n not in frozen}

    def save_pretrained(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / CONFIG_FILE).write_text(json.dumps({"model": asdict(self.config)}, indent=2))
        save_file({n: t.detach().contiguous().cpu() for n, t in self.checkpoint_state().items()}, str(d / WEIGHTS_FILE))
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> NeuralProgrammer:
        from safetensors.torch import load_file

        d = Path(directory)
        if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
            raise CheckpointError(f"{d}: needs {CONFIG_FILE} and {WEIGHTS_FILE}")
        try:
            config = ProgrammerConfig(**json.loads((d / CONFIG_FILE).read_text())["model"])
        except (TypeError, KeyError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{d / CONFIG_FILE}: not a model config ({e})") from None
        model = cls(config)
        state = load_file(str(d / WEIGHTS_FILE), device="cpu")
        expected = set(model.checkpoint_state())
        if set(state) != expected:
            raise CheckpointError(f"{d}: weights do not fit the config (missing {sorted(expected - set(state))[:5]}, "
                                  f"unexpected {sorted(set(state) - expected)[:5]})")
        model.load_state_dict(state, strict=False)
        return model.to(device).eval()


def _soft_clip(x: torch.Tensor, limit: float) -> torch.Tensor:
    """limit · tanh(x / limit): ~x when small, never above limit, still a (small) gradient when far."""
    return limit * torch.tanh(x / limit)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["NeuralProgrammer", "ProgrammerConfig", "ProgramTargets", "Output", "CheckpointError"]
