"""Calibrate a checkpoint's confidence on dev, choose its unsure threshold, and report calibration.

    python -m training.calibrate --model runs/u4/best \
        --fit-also data/user_questions/dev.tsv=data/user_questions \
        --also data/user_questions/test.tsv=data/user_questions --plot docs/figures/calibration.png

1. Answers the dev split (random-split-1-dev), each `--fit-also` examples file (the user
   benchmark's dev part: tables and phrasings never trained on), and with `--generated-per-table N`
   (off by default) N questions per dev table written in the benchmark's dev phrasings
   (nqa.training.generated, split="dev"; the answer is the gold program's), keeping for each answer
   its raw confidence (the summed probability of the beam's programs that give it:
   nqa.ensemble.beam_probability) and its nqa.confidence features.
2. Fits a logistic regression of "right?" on the features, each fitted source weighing the same
   (`--weigh-sources equal`: WTQ dev's 2,831 questions would otherwise outweigh the benchmark's
   ~750, and the fit would carry WTQ's doubt over to people's own questions; nqa.confidence explains
   why the raw probability alone cannot serve both). The isotonic map of
   "right?" on the raw probability (pool adjacent violators, ~24 knots) is still fitted and
   reported, for comparison, and kept for readers of older checkpoints. (Platt scaling on the raw
   probability alone was tried first and doubled dev ECE, 0.059 -> 0.118.)
3. Chooses the threshold t that maximises (right answers − wrong answers) among those at or above
   t: below it an answer is more often wrong than right, so it is flagged unsure.
4. Writes the calibration into the checkpoint's config.json, and prints the expected calibration
   error (15 equal-width bins) before and after, on dev and on each `--also` examples file
   (answerable questions only), plus a reliability diagram (--plot).

With `--report-only`, steps 2-4 keep the checkpoint's own calibration (and threshold) and write
nothing: how a calibration fitted elsewhere (training's `calibration_from`) does on these questions.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nqa.confidence import FEATURES, confidence_features, fit_logistic
from nqa.evaluation import is_correct
from nqa.predict import load_qa, predict
from nqa.training.data import default_wtq_root
from nqa.unsure import Calibration
from nqa.wtq import read_examples

BINS = 15


def expected_calibration_error(conf: np.ndarray, right: np.ndarray, bins: int = BINS) -> float:
    """Σ_bins (n_bin / n) · |accuracy − mean confidence| over equal-width confidence bins."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(err)


def fit_isotonic(p: np.ndarray, y: np.ndarray, knots: int = 24) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Isotonic regression of y on p (pool adjacent violators), kept as `knots` points at quantiles
    of p plus the ends 0 and 1: a monotone map that a few dozen numbers in the config hold."""
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order].astype(float)
    # pool adjacent violators: blocks of (sum, count), merged while a block's mean exceeds the next
    sums: list[float] = []
    counts: list[int] = []
    for v in ys:
        sums.append(float(v))
        counts.append(1)
        while len(sums) > 1 and sums[-2] / counts[-2] > sums[-1] / counts[-1]:
            s2, c2 = sums.pop(), counts.pop()
            sums[-1] += s2
            counts[-1] += c2
    fitted = np.repeat([s / c for s, c in zip(sums, counts)], counts)
    xs = np.unique(np.concatenate([[0.0], np.quantile(ps, np.linspace(0, 1, knots)), [1.0]]))
    ys_k = np.maximum.accumulate(np.interp(xs, ps, fitted))
    return tuple(float(x) for x in xs), tuple(float(v) for v in ys_k)


def choose_threshold(conf: np.ndarray, right: np.ndarray) -> float:
    """The t maximising (right − wrong) among answers with confidence ≥ t."""
    order = np.argsort(-conf)
    gain = np.cumsum(np.where(right[order], 1, -1))
    k = int(np.argmax(gain))
    if gain[k] <= 0:
        return 1.0
    # halfway to the next lower confidence, so that ties at conf[order[k]] stay answered
    nxt = conf[order[k + 1]] if k + 1 < len(order) else 0.0
    return float((conf[order[k]] + nxt) / 2)


@dataclass
class Answered:
    """Per answer: raw confidence, right?, answerable?, and nqa.confidence features (n, F)."""

    raw: np.ndarray
    right: np.ndarray
    answerable: np.ndarray
    features: np.ndarray

    def answerable_only(self) -> Answered:
        a = self.answerable
        return Answered(self.raw[a], self.right[a], a[a], self.features[a])


def _answered(rows: list[tuple[Any, ...]]) -> Answered:
    """rows: (targets, values, table, question, program, raw)."""
    raw, right, answerable, feats = [], [], [], []
    for targets, values, table, question, program, p in rows:
        has_target = any(t.strip() for t in targets)
        raw.append(p)
        answerable.append(has_target)
        right.append(has_target and bool(values) and is_correct(list(targets), list(values)))
        feats.append(confidence_features(p, program, question, table, list(values)))
    return Answered(np.array(raw), np.array(right, dtype=float), np.array(answerable, dtype=bool),
                    np.array(feats).reshape(len(rows), len(FEATURES)))


def answer_confidences(examples_path: Path, tables_root: Path, qa) -> Answered:
    """Every example of a file answered with the identity calibration."""
    examples = read_examples(examples_path)
    results = predict(examples, tables_root, qa.model, progress=False, calibration=Calibration(), reranker=qa.reranker,
                      members=qa.members)
    return _answered([(list(ex.targets), r[1], r[2], r[3], r[4], r[5]) for ex, r in zip(examples, results)])


def generated_confidences(examples_path: Path, tables_root: Path, qa, per_table: int, seed: int = 123) -> Answered:
    """Questions in the user benchmark's dev phrasings over the tables of `examples_path` (WTQ dev:
    tables never trained on), each answered like `nqa predict`; right = the gold program's answer."""
    from nqa.predict import best_answers
    from nqa.table import load_table
    from nqa.training.generated import wtq_table_examples

    contexts = sorted({ex.context for ex in read_examples(examples_path)})
    tables = [t for t in (load_table(tables_root / c) for c in contexts) if t.n_rows <= 1000]
    generated = wtq_table_examples(tables, per_table, seed, split="dev")
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(generated), 64):  # batches as `nqa predict` makes them
        chunk = generated[start:start + 64]
        answers = best_answers(qa.model, [g[2] for g in chunk], [g[3] for g in chunk], 4, qa.reranker, qa.members)
        for (_id, gold, table, question, _program, _kind), best in zip(chunk, answers):
            program, ran, raw = best if best is not None else (None, None, 0.0)
            rows.append((list(gold), ran.values if ran is not None else [], table, question, program, raw))
    return _answered(rows)


def plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect")
    edges = np.linspace(0, 1, BINS + 1)
    for name, (conf, right) in curves.items():
        idx = np.clip(np.digitize(conf, edges[1:-1]), 0, BINS - 1)
        xs = [conf[idx == b].mean() for b in range(BINS) if (idx == b).sum() >= 5]
        ys = [right[idx == b].mean() for b in range(BINS) if (idx == b).sum() >= 5]
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {expected_calibration_error(conf, right):.3f})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("share of answers right")
    ax.set_title("Reliability (bins with ≥ 5 answers)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def fit_calibration(fitted: dict[str, Answered], method: str, weigh_sources: str) -> Calibration:
    """The isotonic map of "right?" on the raw probability, the logistic model on the features
    (method "logistic"), and the unsure threshold, fitted on all the `fitted` sources together."""
    pooled = Answered(*(np.concatenate([getattr(a, k) for a in fitted.values()])
                        for k in ("raw", "right", "answerable", "features")))
    xs, ys = fit_isotonic(pooled.raw, pooled.right)
    cal = Calibration(xs, ys)
    if method == "logistic":
        weight = None
        if weigh_sources == "equal":
            weight = np.concatenate([np.full(len(a.raw), 1.0 / max(len(a.raw), 1)) for a in fitted.values()])
        w, b, mean, scale = fit_logistic(pooled.features, pooled.right, sample_weight=weight)
        cal = Calibration(xs, ys, 0.0, tuple(map(float, w)), b, tuple(map(float, mean)), tuple(map(float, scale)))
    return dataclasses.replace(cal, threshold=choose_threshold(confidences(cal, pooled), pooled.right.astype(bool)))


def confidences(cal: Calibration, a: Answered) -> np.ndarray:
    """The calibrated confidence of each of `a`'s answers."""
    return cal.logistic(a.features) if cal.weights else np.array([cal(p) for p in a.raw])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint directory to calibrate (its config.json is updated)")
    ap.add_argument("--dev", default="random-split-1-dev")
    ap.add_argument("--wtq-root", default="")
    ap.add_argument("--fit-also", action="append", default=[],
                    help="EXAMPLES.tsv=TABLES_ROOT fitted on with the dev split (answerable questions)")
    ap.add_argument("--generated-per-table", type=int, default=0,
                    help="questions in the benchmark's dev phrasings per dev table, fitted on too (0: none)")
    ap.add_argument("--weigh-sources", choices=("equal", "pooled"), default="equal",
                    help="equal: each fitted source (WTQ dev, each --fit-also, generated) weighs the same in "
                         "the logistic fit; pooled: each question the same")
    ap.add_argument("--method", choices=("logistic", "isotonic"), default="logistic",
                    help="logistic: on nqa.confidence's features; isotonic: on the raw probability alone")
    ap.add_argument("--also", action="append", default=[], help="EXAMPLES.tsv=TABLES_ROOT, reported only")
    ap.add_argument("--plot", default="", help="reliability diagram PNG")
    ap.add_argument("--report-only", action="store_true",
                    help="keep the checkpoint's calibration: fit nothing, write nothing, report it")
    args = ap.parse_args(argv)
    root = Path(args.wtq_root) if args.wtq_root else default_wtq_root()
    qa = load_qa(args.model)
    dev_path = root / "data" / f"{args.dev}.tsv"
    dev = answer_confidences(dev_path, root, qa)
    fitted: dict[str, Answered] = {f"WTQ {args.dev}": dev}
    for spec in args.fit_also:
        path, tables = spec.split("=", 1)
        fitted[Path(path).name] = answer_confidences(Path(path), Path(tables), qa).answerable_only()
    if args.generated_per_table:
        fitted["generated, dev phrasings"] = generated_confidences(dev_path, root, qa, args.generated_per_table)
    cal = qa.calibration if args.report_only else fit_calibration(fitted, args.method, args.weigh_sources)
    threshold = cal.threshold
    conf = confidences(cal, dev)
    report = {"dev": args.dev, "n": int(len(dev.raw)), "method": "kept" if args.report_only else args.method,
              "accuracy": float(dev.right.mean()),
              "knots": len(cal.xs), "threshold": threshold, "ece_raw": expected_calibration_error(dev.raw, dev.right),
              "ece": expected_calibration_error(conf, dev.right),
              "flagged_low_confidence": float((conf < threshold).mean()),
              "accuracy_above_threshold":
                  float(dev.right[conf >= threshold].mean()) if (conf >= threshold).any() else math.nan}
    curves = {f"WTQ {args.dev}, raw": (dev.raw, dev.right), f"WTQ {args.dev}, calibrated": (conf, dev.right)}
    for name, a in list(fitted.items())[1:]:
        c2 = confidences(cal, a)
        report[name] = {"n_answerable": int(len(a.raw)), "accuracy": float(a.right.mean()),
                        "ece_raw": expected_calibration_error(a.raw, a.right),
                        "ece": expected_calibration_error(c2, a.right)}
        curves[f"{name} (fitted), calibrated"] = (c2, a.right)
    for spec in args.also:
        path, tables = spec.split("=", 1)
        a = answer_confidences(Path(path), Path(tables), qa).answerable_only()
        c2 = confidences(cal, a)
        report[Path(path).name] = {"n_answerable": int(len(a.raw)), "accuracy": float(a.right.mean()),
                                   "ece_raw": expected_calibration_error(a.raw, a.right),
                                   "ece": expected_calibration_error(c2, a.right)}
        curves[f"{Path(path).name}, calibrated"] = (c2, a.right)
    if not args.report_only:
        from nqa.api import update_config

        update_config(args.model, "calibration", cal.to_config())
    if args.plot:
        plot(curves, Path(args.plot))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
