"""A trained model chooses which of an example's consistent programs the next model learns from.

Why: the search keeps up to `search_candidates` programs that give each training answer, ordered by a
fixed preference (shorter, columns the question names); most are spurious (right answer, wrong
reason), and the marginal-likelihood loss learns from the first `mml_candidates`. A model trained once
on them already prefers the programs that generalise across questions (the spurious ones fit one
question each), so its probabilities are a better ranking than the fixed one: MAPO keeps a memory of
high-reward programs and learns from them weighted by the model; iterative search (Dasigi et al.
2019) retrains on the programs the previous model scores highest. Here: one ranking pass of a
previous round's model over every candidate, then the next round keeps its top `keep`.

The ranking model must have the same frozen encoder as the model being trained: it reads the
features (encoder outputs included) the trainer already computed.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from nqa.training.train import Item


class RankingError(ValueError):
    """The ranking model cannot read the trainer's features."""


def load_ranker(path: str | Path, encoder_key: list, cached: bool):
    """The model of a previous round (a save_pretrained directory), in eval mode on the CPU.
    `cached`: the trainer's features hold frozen-encoder outputs, which the ranker then reads."""
    from nqa.api import TableQA
    from nqa.minilm import training_dtype

    with training_dtype():  # its encoder is never run here, but build it as the trainer does
        model = TableQA.from_pretrained(path).model
    theirs = [model.config.encoder, model.config.encoder_train_top_layers, model.config.encoder_layers]
    if cached and theirs != encoder_key:
        raise RankingError(f"ranking model {path} has encoder {theirs}, the trained model {encoder_key}: "
                           "its encoder outputs would differ from the cached ones")
    return model.eval()


@torch.no_grad()
def program_scores(model, items: list[Item], programs_per_batch: int = 2048) -> list[list[float]]:
    """log p(program | question, table) under `model` for each item's programs (in their order).
    Items need `features` with cached encoder outputs (nqa.training.train.precompute)."""
    from nqa.features import collate
    from nqa.programmer import ProgramTargets

    scores: list[list[float]] = [[] for _ in items]
    start = 0
    while start < len(items):
        part: list[int] = []  # items whose programs fit one batch (at least one item)
        n = 0
        while start + len(part) < len(items) and (not part or n + len(items[start + len(part)].programs)
                                                  <= programs_per_batch):
            n += len(items[start + len(part)].programs)
            part.append(start + len(part))
        T = model.config.max_steps
        for i in part:  # a program longer than the model allows it cannot produce
            scores[i] = [float("-inf")] * len(items[i].programs)
        pairs = [(b, j, p) for b, i in enumerate(part) for j, p in enumerate(items[i].programs)
                 if len(p.selection_steps) <= T]
        if pairs:
            batch = collate([items[i].features for i in part])
            targets = ProgramTargets.from_programs([(b, p) for b, _, p in pairs], T)
            logp = model.program_log_prob(batch, targets).tolist()
            for (b, j, _), lp in zip(pairs, logp):
                scores[part[b]][j] = lp
        start += len(part)
    return scores


def keep_most_probable(items: list[Item], scores: list[list[float]], keep: int) -> dict[str, float]:
    """Reorder each item's programs by score (stable: ties keep the search's order) and keep `keep`.
    Returns figures for the log: how often the ranking changed the first program, mass kept."""
    import math

    changed, multi, kept_mass = 0, 0, 0.0
    for it, sc in zip(items, scores):
        if len(it.programs) < 2:
            continue
        multi += 1
        order = sorted(range(len(sc)), key=lambda i: -sc[i])
        changed += order[0] != 0
        top = max(sc)
        if math.isfinite(top):
            total = sum(math.exp(s - top) for s in sc)
            kept_mass += sum(math.exp(sc[i] - top) for i in order[:keep]) / total
        it.programs = [it.programs[i] for i in order[:keep]]
    return {"examples_with_several": multi, "first_changed": changed,
            "mass_kept": round(kept_mass / max(1, multi), 4)}
