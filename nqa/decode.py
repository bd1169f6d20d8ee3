"""Decoding: the model's choices -> Programs, without soft execution.

The controller's choices depend on the question, the columns and the history of choices, not on the
rows, so decoding never touches row tensors: the exact executor runs the program afterwards. That
keeps one question on any table at the encoder's cost plus a few small matrix products.

* greedy: argmax op / column / constant at each step, fed back as history; it halts at the first
  position whose halting unit says halt (h >= 0.5). This is the answer. (ACT's own stopping point,
  where the cumulative halting reaches 1 - eps, can fall after the step that carries the weight.)
* beam: the k most likely programs, scoring the number of steps with the halting units as a
  stopping distribution (as in NeuralProgrammer.program_log_prob), for alternatives and confidence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import torch
import torch.nn.functional as F

from nqa.feasibility import feasible_steps, masked
from nqa.features import build_features, collate
from nqa.folded_controller import FoldedController, to_numpy
from nqa.program import OPS_WITH_COLUMN, OPS_WITH_CONSTANT, SELECT_OPS, TERMINAL_OPS, Program, Step
from nqa.question import Question
from nqa.table import Table


@dataclass
class _Choice:
    """One step of a partial program, with the distributions it was chosen from (numpy rows: the
    beam reads single entries of them, ~0.1 us each in numpy against ~1 us per torch index)."""

    op: str
    column: int | None
    constant: int | None
    op_lp: np.ndarray  # (n_ops,) log-probabilities
    col_lp: np.ndarray  # (C,)
    const_lp: np.ndarray | None  # (K,)


# The product's greedy program does not stop while a question span that equals a cell is unused:
# "lucy tran and completed, how many contracts" names two conditions, and a count after one filter
# answers another question. Where the model would halt with such a span unused (and a step left),
# the program takes one more step, a filter_eq on it (the model's most probable column for it);
# when that leaves no row selected, the program the model halted on stands. Not for `difference`,
# whose two rows are named by constants it reads itself. Measured with the u6 model (product
# decoding): WTQ random-split-1-dev 1,164 -> 1,177 of 2,831; user benchmark dev 447 -> 452 of 531
# (training/README.md, "Questions people ask"). False: the model's own halting, as before.
COVER_CELL_CONSTANTS = True


def goes_last(program: Program) -> bool:
    """Programs the model falls back on that are seldom right; among the top-k they go last
    (programs_from_context), so that execution-guided decoding picks one only when no other program
    of the beam answers:

    * a count of the rows holding a column's most frequent value (mfe ... count), for "how many"
      questions whose condition the model cannot express ("how many times was X disqualified"):
      158 u15s3 WTQ split-1 dev answers had this form, 22 (14%) right. Going last: u15s3 WTQ dev
      1,218 -> 1,229 and user benchmark dev 692 -> 701; u15s2 1,226 -> 1,240 and 689 -> 698;
    * a row picked by argmax/argmin after filter_eq on a column, then that same column printed: the
      answer is the question's own value ("what's the highest cost where carrier is dhl" -> DHL).
      Going last, after the rule above: u15s3 1,229 -> 1,233 and 701 -> 705; u15s2 +4 and +0."""
    ops = [s.op for s in program.steps]
    if ops[-1] == "count" and "mfe" in ops:
        return True
    term = program.terminal
    return (term.op == "print" and any(o in ("argmax", "argmin") for o in ops)
            and any(s.op == "filter_eq" and s.column == term.column for s in program.selection_steps))


@torch.inference_mode()
def decode_programs(model, tables: list[Table], questions: list[Question], k: int = 1,
                    beam_size: int | None = None, per_factor: int = 3) -> list[list[Program]]:
    """Up to k programs per question, best first: the ACT greedy program, then beam alternatives."""
    feats = [build_features(t, q, with_rows=False) for t, q in zip(tables, questions)]
    device = next(model.parameters()).device
    batch = collate(feats).to(device)
    return programs_from_context(model, model.context(batch), tables, questions, k, beam_size, per_factor,
                                 const_cols=[f.const_col for f in feats])


def programs_from_context(model, ctx, tables: list[Table], questions: list[Question], k: int = 1,
                          beam_size: int | None = None, per_factor: int = 3,
                          const_cols: list[np.ndarray] | None = None) -> list[list[Program]]:
    """decode_programs after the encoder (ctx = model.context(batch)): training's dev evaluation
    reuses cached encoder outputs through it."""
    if k <= 1:
        return [[p] for p in _greedy(model, ctx, tables, questions, const_cols)]
    out = []
    for b, (table, question) in enumerate(zip(tables, questions)):
        one = ctx.index(torch.tensor([b], device=ctx.question.device))
        greedy, alts = _beam(model, one, table, question, k, beam_size or max(k, 4), per_factor, with_greedy=True,
                             const_col=const_cols[b] if const_cols is not None else None)
        assert greedy is not None  # the greedy path always ends, at the last position at the latest
        progs, seen = [greedy], {str(greedy)}
        for p in alts:
            if str(p) not in seen:
                seen.add(str(p))
                progs.append(p)
        out.append(sorted(progs[:k], key=goes_last))  # stable: otherwise most probable first
    return out


def _greedy(model, ctx, tables, questions, const_cols: list[np.ndarray] | None = None) -> list[Program]:
    """Argmax choices fed back as history at every position, halting at the first position where
    halting is likelier than going on (h_t >= 0.5): the argmax of the same sequential distribution
    that program_log_prob scores, so training by marginal likelihood and decoding agree."""
    cfg = model.config
    B, T = ctx.question.shape[0], cfg.max_steps
    h, prev_op, prev_col = model.initial_state(ctx)
    steps: list[list[_Choice]] = [[] for _ in range(B)]
    terms: list[list[_Choice]] = [[] for _ in range(B)]
    halts = []
    halted = torch.zeros(B, dtype=torch.bool, device=ctx.question.device)
    n_cols = ctx.col_mask.shape[1]
    ok = [feasible_steps(tables[b], questions[b], n_cols, ctx.const_mask.shape[1],
                         const_cols[b] if const_cols is not None else None) for b in range(B)]
    for t in range(T + 1):
        h, z = model.step(ctx, h, prev_op, prev_col)
        term_lp, tcol_lp, halt = model.terminal_logp(ctx, z)
        halts.append(halt)
        term_np, tcol_np = to_numpy(term_lp, tcol_lp)
        for b in range(B):
            terms[b].append(_terminal_choice(term_np[b], tcol_np[b], ok[b][1]))
        halted |= halt >= 0.5
        if t == T or bool(halted.all()):  # later positions cannot change a program that has halted
            break
        op_lp, col_lp, const_lp = model.select_logp(ctx, z)
        op_np, col_np, const_np = to_numpy(op_lp, col_lp, const_lp)
        has_const = ctx.const_mask.any(1).tolist()
        chosen_op, chosen_col = [], []
        for b in range(B):
            o, c, kk = _feasible_argmax(op_np[b], col_np[b], const_np[b], _unused(ok[b][0], steps[b]))
            g_col = col_np[b, o] if col_np.ndim == 3 else col_np[b]  # the column distribution of the chosen op
            steps[b].append(_select_choice(o, c, kk, has_const[b], op_np[b], g_col, const_np[b]))
            chosen_op.append(o)
            chosen_col.append(c)
        dev = ctx.question.device
        prev_op, prev_col = _history(model, ctx, torch.tensor(chosen_op, device=dev),
                                     torch.tensor(chosen_col, device=dev))
    halt_probs = torch.stack(halts, 1)  # (B, T + 1)
    halt_probs[:, -1] = 1.0
    stop = (halt_probs >= 0.5).float().argmax(1)  # the first position where halting is the likelier choice
    programs = []
    for b in range(B):
        n = int(stop[b])
        w = _act_weights(halt_probs[b, :n + 1].tolist())
        programs.append(_program(steps[b][:n] + [terms[b][n]], w, tables[b], questions[b]))
    return programs


def _history(model, ctx, op_i: torch.Tensor, col_i: torch.Tensor):
    needs_col = torch.tensor([SELECT_OPS[int(o)] in OPS_WITH_COLUMN for o in op_i], device=op_i.device)
    one_op = F.one_hot(op_i, len(SELECT_OPS)).to(ctx.cols.dtype)
    one_col = F.one_hot(col_i, ctx.cols.shape[1]).to(ctx.cols.dtype) * needs_col[:, None]
    return model.history(ctx, one_op, one_col)


def _select_choice(o: int, c: int, kk: int, has_const: bool, op_lp: np.ndarray, col_lp: np.ndarray,
                   const_lp: np.ndarray | None) -> _Choice:
    """Selection op o with column c and constant kk, each kept only where the op takes it (and a
    constant only where the question has one)."""
    op = SELECT_OPS[o]
    return _Choice(op, c if op in OPS_WITH_COLUMN else None, kk if op in OPS_WITH_CONSTANT and has_const else None,
                   op_lp, col_lp, const_lp)


def _terminal_choice(term_lp: np.ndarray, tcol_lp: np.ndarray, ok: np.ndarray | None = None) -> _Choice:
    """The most probable terminal op that has a feasible column (nqa.feasibility), and its best one."""
    if ok is None:
        ok = np.ones((len(TERMINAL_OPS), tcol_lp.shape[-1]), dtype=bool)
    o = int(masked(term_lp, ok.any(axis=1)).argmax())
    op = TERMINAL_OPS[o]
    n = tcol_lp.shape[-1]
    row = ok[o, :n] if ok.shape[1] >= n else np.pad(ok[o], (0, n - ok.shape[1]))  # padding: infeasible
    column = int(masked(tcol_lp, row).argmax()) if op in OPS_WITH_COLUMN else None
    return _Choice(op, column, None, term_lp, tcol_lp, None)


_CONST_OPS = np.array([op in OPS_WITH_CONSTANT for op in SELECT_OPS])


_MOVE_OPS = np.array([op in ("next", "previous") for op in SELECT_OPS])


def _unused(ok: np.ndarray, steps: list[_Choice]) -> np.ndarray:
    """The feasibility mask given the earlier steps. Without the constants they already filtered on:
    a filter that repeats a constant selects nothing new ('nordwood and lighting' filters on both,
    not nordwood twice). And no next/previous as the first step: the rows after (before) every row
    are all rows but one, an answer to no question (with model u7r, 0 of 42 such answers
    on WTQ dev and the user benchmark were right)."""
    if not steps:
        ok = ok.copy()
        ok[_MOVE_OPS] = False
        return ok
    used = [c.constant for c in steps if c.constant is not None]
    if not used:
        return ok
    ok = ok.copy()
    for k in used:
        if k < ok.shape[2]:
            ok[_CONST_OPS, :, k] = False
    return ok


def _log_ok(ok: np.ndarray) -> np.ndarray:
    return np.where(ok, np.float32(0), np.float32(-np.inf))


def _op_columns(col_lp: np.ndarray, op: int, C: int) -> np.ndarray:
    """(C,) the column log-probabilities for selection op `op` (a per-op (ops, C') array or one shared
    (C',) row), cut or padded with -inf to the mask's C columns."""
    cl = col_lp[op] if col_lp.ndim == 2 else col_lp
    return cl[:C] if cl.shape[-1] >= C else np.pad(cl, (0, C - cl.shape[-1]), constant_values=-np.inf)


def _feasible_argmax(op_lp: np.ndarray, col_lp: np.ndarray, const_lp: np.ndarray, ok: np.ndarray
                     ) -> tuple[int, int, int]:
    """Greedy selection step: the most probable op with a feasible (column, constant), then the most
    probable feasible pair for it (joint, so a constant goes with a column that holds it)."""
    C, K = ok.shape[1], ok.shape[2]
    op = int(masked(op_lp, ok.reshape(len(ok), -1).any(axis=1)).argmax())
    cl = _op_columns(col_lp, op, C)
    kl = const_lp[:K] if const_lp.shape[-1] >= K else np.zeros(K, np.float32)
    name = SELECT_OPS[op]
    pair = (cl[:, None] if name in OPS_WITH_COLUMN else 0) + (kl[None, :] if name in OPS_WITH_CONSTANT else 0)
    pair = masked(np.broadcast_to(pair, (C, K)), ok[op])
    c, kk = divmod(int(pair.argmax()), K)
    if name not in OPS_WITH_COLUMN:
        c = int(cl.argmax())
    if name not in OPS_WITH_CONSTANT:
        kk = int(kl.argmax())
    return op, c, kk


_FILTER_EQ = SELECT_OPS.index("filter_eq")


def _cover_step(op_lp: np.ndarray, col_lp: np.ndarray, const_lp: np.ndarray, ok: np.ndarray,
                question: Question) -> tuple[int, int, int] | None:
    """A filter_eq on a question span that equals a cell and no step has used yet (the model's most
    probable such column and constant), or None. See COVER_CELL_CONSTANTS."""
    K = ok.shape[2]
    cand = [k for k, c in enumerate(question.constants[:K]) if c.kind == "text" and c.source == "cell"
            and ok[_FILTER_EQ, :, k].any()]
    if not cand:
        return None
    cl = _op_columns(col_lp, _FILTER_EQ, ok.shape[1])
    pair = masked(cl[:, None] + const_lp[None, :K], ok[_FILTER_EQ])
    pair[:, [k for k in range(K) if k not in cand]] = -np.inf
    c, kk = divmod(int(pair.argmax()), K)
    return _FILTER_EQ, c, kk


def _program(choices: list[_Choice], halts: list[float], table: Table, question: Question) -> Program:
    """Choices (selection steps, then the terminal) -> a Program with probabilities for display."""
    names = table.column_names
    consts = question.constants
    steps = []
    for i, c in enumerate(choices):
        op_names = SELECT_OPS if i < len(choices) - 1 else TERMINAL_OPS
        op_p = np.exp(c.op_lp).tolist()
        col_p = np.exp(c.col_lp[:len(names)]).tolist()
        const_p = np.exp(c.const_lp[:len(consts)]).tolist() if c.const_lp is not None else []
        steps.append(Step(
            op=c.op, column=c.column, column_name=names[c.column] if c.column is not None else None,
            constant=c.constant, constant_value=consts[c.constant] if c.constant is not None else None,
            op_prob=op_p[op_names.index(c.op)],
            column_prob=col_p[c.column] if c.column is not None else 1.0,
            constant_prob=const_p[c.constant] if c.constant is not None else 1.0,
            op_probs={o: p for o, p in zip(op_names, op_p)},
            column_probs={n: p for n, p in zip(names, col_p)},
            constant_probs={_const_name(q): p for q, p in zip(consts, const_p)},
        ))
    return Program(steps, halting=list(halts))


def _const_name(c) -> str:
    return c.surface if c.kind == "text" else (c.surface or str(c.number))


def _act_weights(halts: list[float]) -> list[float]:
    """ACT step weights of a path that halts at its last position."""
    w, cum = [], 0.0
    for h in halts[:-1]:
        w.append(h)
        cum += h
    return w + [max(0.0, 1.0 - cum)]


_SEL_COL = np.array([op in OPS_WITH_COLUMN for op in SELECT_OPS])
_SEL_CONST = np.array([op in OPS_WITH_CONSTANT for op in SELECT_OPS])
_TERM_COL = np.array([op in OPS_WITH_COLUMN for op in TERMINAL_OPS])


def _factor(lp: np.ndarray, needed: np.ndarray, n: int) -> np.ndarray:
    """(nb, N) log-probs of an argument, or (nb, ops, N) given each op -> (nb, ops, n): the
    argument's log-prob for ops that take it; for ops that do not, 0 at index 0 and -inf elsewhere
    (the argument is absent, counted once)."""
    nb = lp.shape[0]
    absent = np.full((nb, 1, n), -np.inf, dtype=np.float32)
    absent[:, :, 0] = 0.0
    if lp.shape[-1] < n:  # no real argument at all (e.g. no constants): only the absent form exists
        return np.broadcast_to(absent, (nb, len(needed), n))
    per_op = lp[:, :, :n] if lp.ndim == 3 else lp[:, None, :n]
    return np.where(needed[None, :, None], per_op, absent)


@overload
def _beam(model, ctx, table: Table, question: Question, k: int, beam_size: int, m: int,
          with_greedy: Literal[False] = False, const_col: np.ndarray | None = None) -> list[Program]: ...
@overload
def _beam(model, ctx, table: Table, question: Question, k: int, beam_size: int, m: int,
          with_greedy: Literal[True], const_col: np.ndarray | None = None
          ) -> tuple[Program | None, list[Program]]: ...
def _beam(model, ctx, table: Table, question: Question, k: int, beam_size: int, m: int,
          with_greedy: bool = False, const_col: np.ndarray | None = None
          ) -> list[Program] | tuple[Program | None, list[Program]]:
    """Beam search over programs of one example (ctx has batch size 1), scored over every
    (op, column, constant) at once.

    At a batch of one, decoding was ~1,000 tiny torch calls: the controller runs here as
    nqa.folded_controller (its products folded once per question), and the scoring and bookkeeping
    run in numpy on its outputs, one conversion per position. topk stays torch's (its order of ties).

    with_greedy: also decode the greedy program (as `_greedy` does) and return (greedy, beam). Its
    path rides as one more row of the beam's controller steps (and shares position 0 with it), at a
    fraction of the cost of a separate greedy pass."""
    T = model.config.max_steps
    cover = COVER_CELL_CONSTANTS  # read per call, so a script can compare both ways
    n_const = int(ctx.const_mask[0].sum())
    n_cols = int(ctx.col_mask[0].sum())
    op_ok = ctx.op_mask[0].cpu().numpy()
    sel_ok, term_ok = feasible_steps(table, question, n_cols, n_const, const_col)
    term_log_ok = np.where(term_ok, np.float32(0), np.float32(-np.inf))  # (O, C)
    controller = FoldedController(model, ctx)
    h, history = controller.h0, controller.history
    scores = np.zeros(1, dtype=np.float32)
    beams: list[tuple[list[_Choice], list[float]]] = [([], [])]
    finished: list[tuple[float, list[_Choice], list[float]]] = []
    g_steps: list[_Choice] = []  # the greedy path, while it goes on
    g_terms: list[_Choice] = []
    g_halts: list[float] = []
    greedy: Program | None = None
    unforced: Program | None = None  # the greedy program before _cover_step extended it
    g_choices: list[_Choice] = []
    g_weights: list[float] = []
    u_choices: list[_Choice] = []
    u_weights: list[float] = []
    first_lp: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # position 0's distributions
    g_going, g_row = with_greedy, 0  # g_row: 1 when row 0 is the greedy path's own row (after position 0)
    beam_going = True
    for t in range(T + 1):
        h, at = controller.step(h, history)
        term_lp, tcol_lp, halt = at.term_lp, at.tcol_lp, at.halt
        op_lp, col_lp, const_lp = at.op_lp, at.col_lp, at.const_lp
        if t == 0 and t < T:
            first_lp = (op_lp[0], col_lp[0], const_lp[0])
        if t < T:
            log_halt, log_go = np.log(np.maximum(halt, 1e-9)), np.log1p(-np.minimum(halt, 1 - 1e-6))
        else:
            log_halt = np.zeros_like(halt)
        next_rows, next_op, next_col = [], [], []
        if g_going:  # row 0: _greedy's choices for one example
            g_terms.append(_terminal_choice(term_lp[0], tcol_lp[0], term_ok))
            g_halts.append(float(halt[0]))
            forced = None
            if t < T and g_halts[-1] >= 0.5 and cover and g_terms[-1].op != "difference":
                forced = _cover_step(op_lp[0], col_lp[0], const_lp[0], _unused(sel_ok, g_steps), question)
                if forced is not None and unforced is None:
                    u_choices, u_weights = g_steps + [g_terms[-1]], _act_weights(g_halts)
                    unforced = _program(u_choices, u_weights, table, question)
            if forced is None and (t == T or g_halts[-1] >= 0.5):
                g_going = False
                g_choices, g_weights = g_steps + [g_terms[-1]], _act_weights(g_halts)
                greedy = _program(g_choices, g_weights, table, question)
            else:
                o, c, kk = forced or _feasible_argmax(op_lp[0], col_lp[0], const_lp[0], _unused(sel_ok, g_steps))
                g_col = col_lp[0, o] if col_lp.ndim == 3 else col_lp[0]
                g_steps.append(_select_choice(o, c, kk, n_const > 0, op_lp[0], g_col, const_lp[0]))
                next_rows.append(0)
                next_op.append(o)
                next_col.append(c)
        if beam_going:  # the beam's rows follow the greedy row
            b0 = g_row
            term = ((scores + log_halt[b0:])[:, None, None] + term_lp[b0:, :, None]
                    + _factor(tcol_lp[b0:], _TERM_COL, n_cols) + term_log_ok[None, :, :n_cols])
            for sc, flat in _top(term, k):
                i, rest = divmod(flat, term.shape[1] * term.shape[2])
                o, c = divmod(rest, term.shape[2])
                op = TERMINAL_OPS[o]
                finished.append((sc, beams[i][0] + [_Choice(op, c if op in OPS_WITH_COLUMN else None, None,
                                                            term_lp[b0 + i], tcol_lp[b0 + i], None)],
                                 beams[i][1] + [float(halt[b0 + i]) if t < T else 1.0]))
            beam_going = t < T
        if beam_going:
            nk = max(n_const, 1)
            beam_op = np.where(op_ok, op_lp[b0:], np.float32(-np.inf))
            sel = ((scores + log_go[b0:])[:, None, None, None] + beam_op[:, :, None, None]
                   + _factor(col_lp[b0:], _SEL_COL, n_cols)[..., None]
                   + _factor(const_lp[b0:] if n_const else const_lp[b0:, :0], _SEL_CONST, nk)[:, :, None, :]
                   + np.stack([_log_ok(_unused(sel_ok, ch))[:, :n_cols, :nk] for ch, _ in beams]))  # (nb, O, C, K)
            keep = [(sc, flat) for sc, flat in _top(sel, beam_size) if sc > float("-inf")]
            finished.sort(key=lambda x: -x[0])
            # a partial program can only lose probability: stop when k finished programs beat every beam
            beam_going = bool(keep) and not (len(finished) >= k and finished[k - 1][0] >= keep[0][0])
        if beam_going:
            n_op, C, K = sel.shape[1:]
            new_beams = []
            for _, flat in keep:
                i, rest = divmod(flat, n_op * C * K)
                o, rest = divmod(rest, C * K)
                c, kk = divmod(rest, K)
                # without constants the ops that need one scored -inf above (op_ok), so none is chosen
                ch = _select_choice(o, c, kk, n_const > 0, beam_op[i],
                                    col_lp[b0 + i, o] if col_lp.ndim == 3 else col_lp[b0 + i],
                                    const_lp[b0 + i] if n_const else None)
                new_beams.append((beams[i][0] + [ch], beams[i][1] + [float(halt[b0 + i])]))
                next_rows.append(b0 + i)
                next_op.append(o)
                next_col.append(c)
            beams = new_beams
            scores = np.array([sc for sc, _ in keep], dtype=np.float32)
        if not next_rows:
            break
        g_row = int(g_going)
        h = h[torch.tensor(next_rows, device=h.device)]
        history = controller.history_of(next_op, next_col)
    finished.sort(key=lambda x: -x[0])
    alternatives = [_program(ch, _act_weights(hs), table, question) for _, ch, hs in finished[:k]]
    if unforced is not None and greedy is not None:
        if _selects_nothing(greedy, table, question):
            greedy, g_choices, g_weights = unforced, u_choices, u_weights
        else:
            greedy.covered = True
    if cover and greedy is not None and first_lp is not None:
        greedy = _cover_before(greedy, g_choices, g_weights, first_lp, sel_ok, T, table, question, n_const)
    return (greedy, alternatives) if with_greedy else alternatives


_ORDERED = {"argmax", "argmin", "first", "last", "mfe"}


def _cover_before(greedy: Program, choices: list[_Choice], weights: list[float],
                  first_lp: tuple[np.ndarray, np.ndarray, np.ndarray], sel_ok: np.ndarray, T: int,
                  table: Table, question: Question, n_const: int) -> Program:
    """The greedy program with a filter_eq on an unused cell span put first, when it ranks rows
    (argmax, first, mfe...): "among condo listings, which address has the lowest price" ranks within
    the condo rows, so the filter goes before the ranking, where appending it (COVER_CELL_CONSTANTS)
    would filter the one top row. The filter's column and constant are the model's most probable at
    position 0. Unchanged when no such span is left, no step is, or the result selects nothing."""
    steps, term = choices[:-1], choices[-1]
    if len(steps) >= T or term.op == "difference" or not any(c.op in _ORDERED for c in steps):
        return greedy
    op_lp, col_lp, const_lp = first_lp
    step = _cover_step(op_lp, col_lp, const_lp, _unused(sel_ok, steps), question)
    if step is None:
        return greedy
    o, c, kk = step
    first = _select_choice(o, c, kk, n_const > 0, op_lp, col_lp[o] if col_lp.ndim == 2 else col_lp, const_lp)
    candidate = _program([first] + choices, [0.0] + weights, table, question)
    if _selects_nothing(candidate, table, question):
        return greedy
    candidate.covered = True
    return candidate


def _selects_nothing(program: Program, table: Table, question: Question) -> bool:
    probe = getattr(table, "selects_nothing", None)  # a table kept in an engine asks it (nqa.sources)
    if probe is not None:
        return bool(probe(program, question))
    from nqa.executor import ProgramError, execute

    try:
        return not execute(program, table, question).selection.any()
    except ProgramError:
        return True


def _top(scores: np.ndarray, n: int) -> list[tuple[float, int]]:
    """The n best (score, flat index) of an array, best first, ties in torch.topk's order."""
    top = torch.from_numpy(np.ascontiguousarray(scores).reshape(-1)).topk(min(n, scores.size))
    return list(zip(top.values.tolist(), top.indices.tolist()))
