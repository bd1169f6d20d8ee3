"""Several trained programmers answering one question together: an answer-level vote.

Why: two runs of the same recipe with different seeds get different questions right (seed 2 and
seed 3 of u19r agree on most, but each is right on ~4% of WTQ dev where the other is not). Each
member scores the distinct answers its top-k programs give with its own reranker (nqa.reranker),
the scores become a distribution over answers, and the answer with the largest summed probability is
given, by the member's program that is most sure of it, so the program, its SQL and its cells stay
those of one program. Its raw confidence blends the members' probabilities with how many of them
give it as their own answer (`raw_confidence`). The members share the frozen MiniLM pass (the
encoder has no trained weights: `NeuralProgrammer.checkpoint_state`), so a member adds its
projections, decoding and runs (~2 ms).

One member is the single model: `choose` is then exactly `nqa.reranker.pick_run`.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nqa.executor import Execution
    from nqa.program import Program
    from nqa.question import Question
    from nqa.reranker import Reranker
    from nqa.table import Table


def decode(models: list, tables: list[Table], questions: list[Question], k: int) -> list[list[list[Program]]]:
    """The top-k programs of every member, per question: out[question][member] is a beam. Members
    that share one encoder (nqa.api loads frozen ones so) share the features and the encoder pass."""
    import torch

    from nqa.decode import programs_from_context
    from nqa.features import build_features, collate

    with torch.inference_mode():
        shared = len(models) > 1 and all(getattr(m, "encoder", None) is models[0].encoder for m in models)
        if not shared:
            per_member = [m.decode_batch(tables, questions, k=k) if hasattr(m, "decode_batch")
                          else [m.decode(t, q, k=k) for t, q in zip(tables, questions)] for m in models]
        else:
            feats = [build_features(t, q, with_rows=False) for t, q in zip(tables, questions)]
            batch = collate(feats).to(next(models[0].parameters()).device)
            encoded = models[0].encode(batch)
            const_cols = [f.const_col for f in feats]
            per_member = [programs_from_context(m, m.context(batch, encoded), tables, questions, k,
                                                const_cols=const_cols) for m in models]
    return [[beams[i] for beams in per_member] for i in range(len(questions))]


def answer_distribution(beam: list[Program], runs: list[Execution | None], question: Question, table: Table,
                        reranker: Reranker | None) -> dict[tuple, tuple[float, int]]:
    """{answer key: (probability, index of its best program in the beam)} for one member: its
    reranker's scores through a softmax, or, without a reranker, all of the mass on
    execution-guided decoding's answer."""
    from nqa.executor import choose_run
    from nqa.reranker import candidate_features, candidates, question_kind

    cands = candidates(beam, runs)
    if not cands:
        return {}
    keys = [answer_key(c.values) for c in cands]
    if reranker is None or len(cands) == 1:
        first = choose_run(runs)
        chosen = next((j for j, c in enumerate(cands) if first in c.runs), 0)
        return {keys[chosen]: (1.0, cands[chosen].runs[0])}
    kind = question_kind(question.text)
    scores = reranker.scores(np.stack([candidate_features(c, cands, beam, question, table, kind) for c in cands]))
    p = np.exp(scores - scores.max())
    p /= p.sum()
    return {key: (float(pi), c.runs[0]) for key, c, pi in zip(keys, cands, p)}


def answer_key(values: list[str]) -> tuple:
    """Answers that are the same up to order and normalisation (as nqa.reranker.candidates groups them)."""
    from nqa.table import normalize_text

    return tuple(sorted(normalize_text(v) for v in values))


def choose(beams: list[list[Program]], runs: list[list[Execution | None]], question: Question, table: Table,
           rerankers: list[Reranker | None]) -> tuple[int, int] | None:
    """(member, program index in its beam) of the answer given; None when no program of any member ran.

    One member: its reranker's choice (nqa.reranker.pick_run). Several: the answer whose summed
    probability over the members is largest (the first member's order breaks ties), given by the
    member most sure of it; when no member's programs give an answer, execution-guided decoding
    over the members in order."""
    from nqa.executor import choose_run
    from nqa.reranker import pick_run

    if len(beams) == 1:
        i = pick_run(beams[0], runs[0], question, table, rerankers[0])
        return None if i is None else (0, i)
    total: dict[tuple, float] = {}
    best: dict[tuple, tuple[float, int, int]] = {}  # key -> (probability, member, program)
    for m, (beam, member_runs, reranker) in enumerate(zip(beams, runs, rerankers)):
        for key, (p, i) in answer_distribution(beam, member_runs, question, table, reranker).items():
            total[key] = total.get(key, 0.0) + p
            if key not in best or p > best[key][0]:
                best[key] = (p, m, i)
    if total:
        key = max(total, key=lambda k: total[k])  # the first of equal sums: dicts keep insertion order
        return best[key][1], best[key][2]
    for m, member_runs in enumerate(runs):
        i = choose_run(member_runs)
        if i is not None:
            return m, i
    return None


def beam_probability(runs, values: list[str]) -> float:
    """The summed probability of the beam's programs that give `values`, in [0, 1]. Not normalised
    over the beam: a share of four programs would call an unsure model confident. The sum over the
    beam is a lower bound on the answer's probability under the model. `runs`: (program, Execution
    or None) pairs."""
    same = sum(p.probability for p, e in runs if e is not None and e.values == values)
    return min(1.0, max(0.0, same)) if not math.isnan(same) else 0.0


def raw_confidence(beams: list[list[Program]], runs: list[list[Execution | None]], values: list[str],
                   question: Question | None = None, table: Table | None = None,
                   rerankers: list[Reranker | None] | None = None) -> float:
    """One model: the beam probability of `values` (`beam_probability`). Several: the mean of
    (a) the members' beam probabilities of `values` (a member whose programs never give it counts 0)
    and (b) the share of members whose own answer (nqa.reranker.pick_run) it is. Chosen on dev by
    cross-validated calibration error (docs/calibration.md): the members' probabilities alone left
    the calibrated ensemble underconfident where its members agree."""
    from nqa.reranker import pick_run

    shares = [beam_probability(list(zip(beam, member_runs)), values) for beam, member_runs in zip(beams, runs)]
    mean = sum(shares) / len(shares)
    mean = 0.0 if math.isnan(mean) else mean
    if len(beams) == 1:
        return mean
    if question is None or table is None or rerankers is None:
        raise ValueError("an ensemble's confidence needs the question, the table and the rerankers")
    key = answer_key(values)
    own = [pick_run(beam, member_runs, question, table, reranker)
           for beam, member_runs, reranker in zip(beams, runs, rerankers)]
    agree = 0
    for i, member_runs in zip(own, runs):
        ran = member_runs[i] if i is not None else None
        agree += ran is not None and answer_key(ran.values) == key
    return (mean + agree / len(beams)) / 2
