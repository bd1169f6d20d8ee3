"""Several trained programmers answering one question together: an answer-level vote.

Why: runs of one recipe with different seeds get different questions right (u19r's seeds 1, 2 and 3
are right on 1,296, 1,292 and 1,261 of WTQ split-1 dev's 2,831 questions; voting, on 1,331). Each
member scores the distinct answers its top-k programs give with its own reranker (nqa.reranker),
the scores become a distribution over answers, and the answer with the largest summed probability is
given, by the member's program that is most sure of it, so the program, its SQL and its cells stay
those of one program. Its raw confidence blends the members' probabilities with how many of them
give it as their own answer (`raw_confidence`). The members share the frozen MiniLM pass (the
encoder has no trained weights: `NeuralProgrammer.checkpoint_state`), so a member adds its
projections, decoding and runs (~2 ms).

One member is the single model: `decide` is then exactly `nqa.reranker.pick_run`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass
class MemberVote:
    """One member's say: {answer key: (probability, index of its best program in the beam)}, and the
    key of its own answer (what it would give alone: nqa.reranker.pick_run), None when none ran."""

    probabilities: dict[tuple, tuple[float, int]]
    own: tuple | None


def member_vote(beam: list[Program], runs: list[Execution | None], question: Question, table: Table,
                reranker: Reranker | None) -> MemberVote:
    """Its reranker's scores through a softmax, or, without a reranker, all of the mass on
    execution-guided decoding's answer."""
    from nqa.executor import choose_run
    from nqa.reranker import candidate_features, candidates, question_kind

    first = choose_run(runs)
    ran = runs[first] if first is not None else None
    guided = answer_key(ran.values) if ran is not None else None  # pick_run's answer without a reranker
    cands = candidates(beam, runs)
    if not cands:
        return MemberVote({}, guided)
    keys = [answer_key(c.values) for c in cands]
    if reranker is None or len(cands) == 1:
        chosen = next((j for j, c in enumerate(cands) if first in c.runs), 0)
        return MemberVote({keys[chosen]: (1.0, cands[chosen].runs[0])}, guided if reranker is None else keys[0])
    kind = question_kind(question.text)
    scores = reranker.scores(np.stack([candidate_features(c, cands, beam, question, table, kind) for c in cands]))
    p = np.exp(scores - scores.max())
    p /= p.sum()
    return MemberVote({key: (float(pi), c.runs[0]) for key, c, pi in zip(keys, cands, p)},
                      keys[int(np.argmax(scores))])


def answer_key(values: list[str]) -> tuple:
    """Answers that are the same up to order and normalisation (as nqa.reranker.candidates groups them)."""
    from nqa.table import normalize_text

    return tuple(sorted(normalize_text(v) for v in values))


@dataclass
class Decision:
    """The answer given: its program (member, index in that member's beam), and the share of
    members whose own answer it is."""

    member: int
    index: int
    agreement: float


def decide(beams: list[list[Program]], runs: list[list[Execution | None]], question: Question, table: Table,
           rerankers: list[Reranker | None]) -> Decision | None:
    """The answer given; None when no program of any member ran.

    One member: its reranker's choice (nqa.reranker.pick_run). Several: the answer whose summed
    probability over the members is largest (the first member's order breaks ties), given by the
    member most sure of it; when no member's programs give an answer, execution-guided decoding
    over the members in order."""
    from nqa.executor import choose_run
    from nqa.reranker import pick_run

    if len(beams) == 1:
        i = pick_run(beams[0], runs[0], question, table, rerankers[0])
        return None if i is None else Decision(0, i, 1.0)
    votes = [member_vote(beam, member_runs, question, table, reranker)
             for beam, member_runs, reranker in zip(beams, runs, rerankers)]
    chosen = tally(votes)
    if chosen is None:  # no member's programs give an answer: execution-guided decoding, members in order
        for m, member_runs in enumerate(runs):
            i = choose_run(member_runs)
            if i is not None:
                chosen = m, i
                break
    if chosen is None:
        return None
    ran = runs[chosen[0]][chosen[1]]
    assert ran is not None  # both rules pick a program that ran
    key = answer_key(ran.values)
    return Decision(chosen[0], chosen[1], sum(v.own == key for v in votes) / len(votes))


def tally(votes: list[MemberVote]) -> tuple[int, int] | None:
    """(member, program index) giving the answer whose summed probability over the votes is largest,
    from the member most sure of it; the first seen of equal sums wins. None when no vote has an answer."""
    total: dict[tuple, float] = {}
    best: dict[tuple, tuple[float, int, int]] = {}  # key -> (probability, member, program)
    for m, vote in enumerate(votes):
        for key, (p, i) in vote.probabilities.items():
            total[key] = total.get(key, 0.0) + p
            if key not in best or p > best[key][0]:
                best[key] = (p, m, i)
    if not total:
        return None
    key = max(total, key=lambda k: total[k])  # the first of equal sums: dicts keep insertion order
    return best[key][1], best[key][2]


def choose(beams: list[list[Program]], runs: list[list[Execution | None]], question: Question, table: Table,
           rerankers: list[Reranker | None]) -> tuple[int, int] | None:
    """(member, program index in its beam) of the answer `decide` gives."""
    d = decide(beams, runs, question, table, rerankers)
    return None if d is None else (d.member, d.index)


def beam_probability(runs, values: list[str]) -> float:
    """The summed probability of the beam's programs that give `values`, in [0, 1]. Not normalised
    over the beam: a share of four programs would call an unsure model confident. The sum over the
    beam is a lower bound on the answer's probability under the model. `runs`: (program, Execution
    or None) pairs."""
    same = sum(p.probability for p, e in runs if e is not None and e.values == values)
    return min(1.0, max(0.0, same)) if not math.isnan(same) else 0.0


def raw_confidence(beams: list[list[Program]], runs: list[list[Execution | None]], values: list[str],
                   agreement: float | None = None) -> float:
    """One model: the beam probability of `values` (`beam_probability`). Several: the mean of (a) the
    members' beam probabilities of `values` (a member whose programs never give it counts 0) and (b)
    `agreement`, the share of members whose own answer it is (`Decision.agreement`). Chosen on dev by
    cross-validated calibration error (docs/calibration.md): the members' probabilities alone left
    the calibrated ensemble underconfident where its members agree."""
    shares = [beam_probability(list(zip(beam, member_runs)), values) for beam, member_runs in zip(beams, runs)]
    mean = sum(shares) / len(shares)
    if len(beams) == 1:
        return mean
    if agreement is None:
        raise ValueError("an ensemble's confidence needs the members' agreement (Decision.agreement)")
    return (mean + agreement) / 2
