"""What an answer's confidence is computed from: the beam's probability and a few facts about the
program and the question.

The beam's summed probability alone means different things on different questions. On WTQ dev an
answer at a raw 0.97 is right 75% of the time; on people's questions about their own tables, 96%.
A covered program (nqa.decode adds a filter the model left out) is right 31% of the time on WTQ and
72–82% on the user benchmark at the same raw probability. One monotone map of the raw probability
cannot serve both, so the calibrated confidence is a logistic regression on these features, fitted
on dev (nqa/training/calibrate.py): what a new user's answer looks like (does the program use the
values and columns the question names? is it a lookup or an aggregate? how big is the table?)
carries into its confidence. Every feature is a property of the question, the table and the chosen
program, known at answer time and the same on the in-memory and engine paths.
"""
from __future__ import annotations

import math

import numpy as np

from nqa.program import Program
from nqa.question import Question, column_name_spans
from nqa.table import Table

# nqa.program.TERMINAL_OPS, each with its own indicator, in the order the shipped calibration's
# features were fitted in (FEATURES is stored with a checkpoint and must match it); an op added to
# the program later would have no indicator.
TERMINAL_INDICATORS = ("print", "count", "sum", "avg", "max", "min", "difference", "share", "count_distinct")
FEATURES: tuple[str, ...] = (
    "logit_p",  # the beam's summed probability of the answer, as a logit (clipped at 0.001, 0.999)
    "covered",  # decoding added a filter on a cell the question names (Program.covered)
    *(f"terminal_{op}" for op in TERMINAL_INDICATORS),
    "constants_unused",  # question values (cells, numbers, dates) the program does not use
    "constants_used",
    "named_columns_unused",  # columns the question spells by name that the program does not use
    "named_columns",
    "log_rows",  # log(1 + table rows): engine tables count their source rows
    "log_values",  # log(1 + answer values)
    "log_words",  # log(1 + question tokens)
    "steps",  # program length
)


def confidence_features(raw: float, program: Program | None, question: Question | None, table: Table | None,
                        values: list[str]) -> np.ndarray:
    """(len(FEATURES),) float64 for one answer."""
    p = 1e-3 if math.isnan(raw) else min(max(raw, 1e-3), 1 - 1e-3)
    f = np.zeros(len(FEATURES))
    f[0] = math.log(p / (1 - p))
    if program is None or question is None or table is None:
        return f
    f[1] = float(program.covered)
    term = program.terminal.op
    if term in TERMINAL_INDICATORS:
        f[2 + TERMINAL_INDICATORS.index(term)] = 1.0
    k = 2 + len(TERMINAL_INDICATORS)
    used_constants = {s.constant for s in program.steps if s.constant is not None}
    used_columns = {s.column for s in program.steps if s.column is not None}
    named = {j for _a, _b, j in column_name_spans(question, table)}
    rows = getattr(table, "source_rows", 0) or table.n_rows
    f[k:] = (len(question.constants) - len(used_constants), len(used_constants), len(named - used_columns),
             len(named), math.log1p(rows), math.log1p(len(values)), math.log1p(len(question.tokens)),
             len(program.steps))
    return f


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3,
                 sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(weights, bias, mean, scale) of an L2-regularised logistic regression of y on standardised x;
    `sample_weight` (mean 1) weighs each example's loss, e.g. so that each source counts the same.

    torch's L-BFGS rather than scikit-learn, deliberately: torch is already a dependency and this is
    a 20-weight convex fit; scikit-learn would be one more package for it."""
    import torch

    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0
    xs = torch.tensor((x - mean) / scale, dtype=torch.float64)
    ys = torch.tensor(y, dtype=torch.float64)
    sw = None if sample_weight is None else torch.tensor(sample_weight / sample_weight.mean(), dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, tolerance_grad=1e-10, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, ys, weight=sw) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().copy(), float(b.detach()), mean, scale
