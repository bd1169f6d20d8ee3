"""Calibrate a checkpoint's confidence on dev, choose its unsure threshold, and report calibration.

    python -m training.calibrate --model runs/u2/best [--also data/user_questions/test.tsv=data/user_questions]

1. Answers the dev split (random-split-1-dev) with the raw confidence: the summed probability of the
   beam's programs that give the answer (nqa.api.beam_probability).
2. Fits Platt scaling, confidence = σ(a · logit(p) + b), by maximum likelihood on (p, right?) pairs.
3. Chooses the threshold t that maximises (right answers − wrong answers) among those at or above
   t: below it an answer is more often wrong than right, so it is flagged unsure.
4. Writes {"a", "b", "threshold"} into the checkpoint's config.json (`calibration`), and prints the
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
from nqa.unsure import Calibration
from nqa.wtq import read_examples
from training.data import default_wtq_root

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


def fit_platt(p: np.ndarray, y: np.ndarray, iters: int = 100) -> tuple[float, float]:
    """(a, b) maximising Σ log σ(±(a·logit(p) + b)) by Newton's method (a tiny ridge keeps it proper)."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    x = np.log(p / (1 - p))
    X = np.stack([x, np.ones_like(x)], 1)
    def loss(w: np.ndarray) -> float:
        z = X @ w
        return float(np.sum(np.logaddexp(0, z) - y * z) + 0.5e-3 * w @ w)

    w = np.array([1.0, 0.0])
    for _ in range(iters):
        q = 1 / (1 + np.exp(-np.clip(X @ w, -500, 500)))
        grad = X.T @ (q - y) + 1e-3 * w
        hess = (X * (q * (1 - q))[:, None]).T @ X + 1e-3 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        t, before = 1.0, loss(w)
        while loss(w - t * step) > before and t > 1e-8:  # backtracking: Newton alone can overshoot
            t /= 2
        w = w - t * step
        if np.abs(t * step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


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
    ap.add_argument("--also", action="append", default=[], help="EXAMPLES.tsv=TABLES_ROOT, reported only")
    ap.add_argument("--plot", default="", help="reliability diagram PNG")
    args = ap.parse_args(argv)
    root = Path(args.wtq_root) if args.wtq_root else default_wtq_root()
    qa = load_qa(args.model)
    raw, right, _ = answer_confidences(root / "data" / f"{args.dev}.tsv", root, qa)
    a, b = fit_platt(raw, right)
    cal = Calibration(a, b)
    conf = np.array([cal(p) for p in raw])
    threshold = choose_threshold(conf, right.astype(bool))
    cal = Calibration(a, b, threshold)
    report = {"dev": args.dev, "n": int(len(raw)), "accuracy": float(right.mean()), "a": a, "b": b,
              "threshold": threshold, "ece_raw": expected_calibration_error(raw, right),
              "ece": expected_calibration_error(conf, right),
              "flagged_low_confidence": float((conf < threshold).mean()),
              "accuracy_above_threshold":
                  float(right[conf >= threshold].mean()) if (conf >= threshold).any() else math.nan}
    curves = {f"WTQ {args.dev}, raw": (raw, right), f"WTQ {args.dev}, calibrated": (conf, right)}
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
    config["calibration"] = {"a": a, "b": b, "threshold": threshold}
    tmp = config_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.replace(config_path)
    if args.plot:
        plot(curves, Path(args.plot))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
