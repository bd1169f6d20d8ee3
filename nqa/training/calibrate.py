"""Calibrate a checkpoint's confidence on dev, choose its unsure threshold, and report calibration.

    python -m training.calibrate --model runs/u4/best \
        --fit-also data/user_questions/dev.tsv=data/user_questions \
        --also data/user_questions/test.tsv=data/user_questions --plot docs/figures/calibration.png

1. Answers the dev split (random-split-1-dev), and each `--fit-also` examples file (the user
   benchmark's dev part: tables never trained on), with the raw confidence: the summed probability
   of the beam's programs that give the answer (nqa.api.beam_probability). WikiTableQuestions and
   people's own questions differ at the top: answers at a raw 0.95 are right ~75% of the time on WTQ
   dev and ~95% on the user benchmark, so the map is fitted on both, pooled.
2. Fits an isotonic regression of "right?" on p (pool adjacent violators), kept as ~24 knots of a
   piecewise-linear map. (Platt scaling, a sigmoid of a·logit(p) + b, was tried first: the raw
   probabilities are close to calibrated below 0.7 and overconfident above 0.9, a shape one
   sigmoid cannot follow; it doubled dev ECE, 0.059 -> 0.118.)
3. Chooses the threshold t that maximises (right answers − wrong answers) among those at or above
   t: below it an answer is more often wrong than right, so it is flagged unsure.
4. Writes {"xs", "ys", "threshold"} into the checkpoint's config.json (`calibration`), and prints the
   expected calibration error (15 equal-width bins) before and after, on dev and on each `--also`
   examples file (answerable questions only), plus a reliability diagram (--plot).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

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


def answer_confidences(examples_path: Path, tables_root: Path, qa) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw confidence, right?, answerable?) per example, with the identity calibration."""
    examples = read_examples(examples_path)
    results = predict(examples, tables_root, qa.model, progress=False, calibration=Calibration())
    raw, right, answerable = [], [], []
    for ex, r in zip(examples, results):
        values = r[1]
        has_target = any(t.strip() for t in ex.targets)
        raw.append(r[5])
        answerable.append(has_target)
        right.append(has_target and bool(values) and is_correct(list(ex.targets), values))
    return np.array(raw), np.array(right, dtype=float), np.array(answerable)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint directory to calibrate (its config.json is updated)")
    ap.add_argument("--dev", default="random-split-1-dev")
    ap.add_argument("--wtq-root", default="")
    ap.add_argument("--fit-also", action="append", default=[],
                    help="EXAMPLES.tsv=TABLES_ROOT fitted on with the dev split (answerable questions)")
    ap.add_argument("--also", action="append", default=[], help="EXAMPLES.tsv=TABLES_ROOT, reported only")
    ap.add_argument("--plot", default="", help="reliability diagram PNG")
    args = ap.parse_args(argv)
    root = Path(args.wtq_root) if args.wtq_root else default_wtq_root()
    qa = load_qa(args.model)
    raw, right, _ = answer_confidences(root / "data" / f"{args.dev}.tsv", root, qa)
    fit_raw, fit_right = [raw], [right]
    for spec in args.fit_also:
        path, tables = spec.split("=", 1)
        r2, y2, ans = answer_confidences(Path(path), Path(tables), qa)
        fit_raw.append(r2[ans])
        fit_right.append(y2[ans])
    pooled_raw, pooled_right = np.concatenate(fit_raw), np.concatenate(fit_right)
    xs, ys = fit_isotonic(pooled_raw, pooled_right)
    cal = Calibration(xs, ys)
    conf = np.array([cal(p) for p in raw])
    threshold = choose_threshold(np.array([cal(p) for p in pooled_raw]), pooled_right.astype(bool))
    cal = Calibration(xs, ys, threshold)
    report = {"dev": args.dev, "n": int(len(raw)), "accuracy": float(right.mean()), "knots": len(xs),
              "threshold": threshold, "ece_raw": expected_calibration_error(raw, right),
              "ece": expected_calibration_error(conf, right),
              "flagged_low_confidence": float((conf < threshold).mean()),
              "accuracy_above_threshold":
                  float(right[conf >= threshold].mean()) if (conf >= threshold).any() else math.nan}
    curves = {f"WTQ {args.dev}, raw": (raw, right), f"WTQ {args.dev}, calibrated": (conf, right)}
    for spec, r2, y2 in zip(args.fit_also, fit_raw[1:], fit_right[1:]):
        c2 = np.array([cal(p) for p in r2])
        report[Path(spec.split("=", 1)[0]).name] = {
            "n_answerable": int(len(r2)), "accuracy": float(y2.mean()),
            "ece_raw": expected_calibration_error(r2, y2), "ece": expected_calibration_error(c2, y2)}
        curves[f"{Path(spec.split('=', 1)[0]).name} (fitted), calibrated"] = (c2, y2)
    for spec in args.also:
        path, tables = spec.split("=", 1)
        r2, y2, ans = answer_confidences(Path(path), Path(tables), qa)
        c2 = np.array([cal(p) for p in r2])
        report[Path(path).name] = {"n_answerable": int(ans.sum()),
                                   "ece_raw": expected_calibration_error(r2[ans], y2[ans]),
                                   "ece": expected_calibration_error(c2[ans], y2[ans]),
                                   "accuracy": float(y2[ans].mean())}
        curves[f"{Path(path).name}, calibrated"] = (c2[ans], y2[ans])
    config_path = Path(args.model) / "config.json"
    config = json.loads(config_path.read_text())
    config["calibration"] = {"xs": list(xs), "ys": list(ys), "threshold": threshold}
    tmp = config_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.replace(config_path)
    if args.plot:
        plot(curves, Path(args.plot))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
