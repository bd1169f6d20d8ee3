"""Train the Neural Programmer on WikiTableQuestions. One flat file, nanoGPT style.

    python -m training.train [training/configs/wtq.json] [--key=value ...]
    torchrun --nproc_per_node=2 -m training.train training/configs/wtq.json --out_dir=runs/ddp
    nqa train ...            (same arguments)

What it does, in order:
  1. data: WTQ examples + tables, the offline searched programs (nqa/training/search.py, cached), each
     re-validated against the current executor; everything that does not change between steps
     (parsed questions, match features, FROZEN encoder outputs) is computed once.
  2. loss = mml_weight · marginal likelihood of the searched programs (−logsumexp of their log-probs)
     + answer_weight · the model's weak-supervision answer loss (with its ponder cost).
  3. periodic dev evaluation by the official WTQ rules on decoded programs run by the exact executor;
     the best dev checkpoint is kept (save_pretrained format), plus a resumable state after every
     eval (model, optimizer, RNG states, position in the epoch; one safetensors file, written
     atomically), a metrics CSV and a learning-curve plot. Without a dev split (dev_split "", all
     of training.tsv trains) nothing is evaluated and the last checkpoint is kept.
  4. optionally, after the run: the fold models and the answer reranker they fit (reranker_folds),
     one more run per member seed whose models vote with this one (ensemble_seeds), and the
     confidence calibration on dev (calibrate), or one fitted elsewhere (calibration_from).

Distributed: a launch by torchrun is detected from RANK; gloo on CPU, NCCL on GPU; batches are dealt
round-robin to the ranks, only rank 0 logs and writes, seeds are offset per rank, the model is
unwrapped from DDP to save, the process group is destroyed at the end.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from nqa.program import Program

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")



class ConfigError(ValueError):
    """A bad configuration key or value."""


@dataclass
class TrainConfig:
    # data
    wtq_root: str = ""  # "" = NQA_WTQ_ROOT or ../shared/datasets/wikitablequestions
    train_split: str = "random-split-1-train"
    # the only split used for model selection; "" = none (all of training.tsv trains): no dev
    # evaluation, and best/ is the last checkpoint
    dev_split: str = "random-split-1-dev"
    search_split: str = "training"  # the searched file whose ids cover train_split (train+dev of split 1)
    search_steps: int = 3
    search_candidates: int = 48
    search_cache: str = ""  # "" = runs/search under the repository
    mml_candidates: int = 16  # the best-ranked searched programs used in the MML loss
    # a previous round's model (save_pretrained directory) ranks all searched programs instead of the
    # search's fixed preference; the top mml_candidates are kept (nqa.training.rank_programs)
    rank_programs_with: str = ""
    # Supervised (question, program) pairs over real tables (training/generated.py), mixed into training:
    gen_per_table: int = 0  # questions tried per WTQ training table in the benchmark's train phrasings (0: none)
    gen_benchmark: bool = False  # + the user-question benchmark's training part (data/user_questions/train.tsv)
    gen_benchmark_repeat: int = 1  # its examples repeated this many times (a small set next to WTQ)
    gen_bench_tables_per_table: int = 0  # + questions tried per benchmark TRAIN table, as gen_per_table
    gen_augment: bool = False  # paraphrase the generated questions' templates (nqa.training.generated.SYNONYMS)
    # at the end: train this many models on folds of the training tables, each without one fold
    # (held_out_fold), and fit best/'s answer reranker on their decoding there (nqa.training.fit_reranker)
    reranker_folds: int = 0
    # at the end: one more run per seed ("3", or "3,4"), same config (its own fold models and
    # reranker), into out/member-seed-N; best/ ships them as members voting with it (nqa/ensemble.py)
    ensemble_seeds: str = ""
    calibrate: bool = False  # at the end: fit best/'s confidence calibration and unsure threshold on dev
    calibrate_user_dev: str = ""  # + a user-question dev file (its tables never trained on), pooled with dev
    # at the end: best/'s calibration is the "calibration" entry of this JSON file (a checkpoint's
    # config.json, or one fitted on a held-out split): for a model with no held-out dev to fit on
    calibration_from: str = ""
    limit_train: int = 0  # 0 = all; small values for tests
    # "k/n": leave out the train examples on fold k of n folds by table (crc32 of the table's path):
    # models that never saw those tables, whose decoding there trains the answer reranker
    held_out_fold: str = ""
    limit_dev: int = 0
    max_train_rows: int = 0  # skip training tables with more rows (0 = keep all); speed lever on CPU
    # model: overrides of nqa.programmer.ProgrammerConfig, as --model.key=value
    model: dict = field(default_factory=dict)
    init_from: str = ""  # a save_pretrained directory to start from
    # optimisation
    batch_size: int = 32  # global: split across ranks
    lr: float = 2e-3
    min_lr: float = 2e-4  # cosine decay floor
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    epochs: int = 6
    max_steps: int = 0  # 0 = epochs × batches per epoch
    mml_weight: float = 1.0
    answer_weight: float = 0.2  # weak-supervision answer loss (with ponder cost); also the only loss
    # for examples where search found nothing
    # evaluation / logging / checkpoints
    eval_every: int = 400  # optimizer steps
    eval_beam: int = 4  # dev decoding: best program among the top-k that executes to a non-empty answer
    log_every: int = 20
    out_dir: str = "runs/train"
    resume: bool = True  # continue from out_dir/state.safetensors when present
    stop_after: int = 0  # stop (as if killed) after this many steps of this run; tests use it
    seed: int = 1337
    device: str = "auto"  # auto: CUDA when available
    threads: int = 0  # torch threads per process (0: leave as is)
    progress: bool = True


# ---------------------------------------------------------------------------------------------
# configuration: file presets + --key=value overrides, type-checked


def _coerce(key: str, value: str, default):
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{key}: expected a boolean, got {value!r}")
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"--{key}: expected an integer, got {value!r}") from None
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"--{key}: expected a number, got {value!r}") from None
    return value


def _model_field_types() -> dict:
    from nqa.programmer import ProgrammerConfig

    return {f.name: f for f in dataclasses.fields(ProgrammerConfig)}


def _coerce_model(key: str, value):
    fields = _model_field_types()
    if key not in fields:
        raise ConfigError(f"unknown model key {key!r}; known: {sorted(fields)}")
    f = fields[key]
    default = f.default if f.default is not dataclasses.MISSING else None
    if isinstance(value, str) and default is not None and not isinstance(default, str):
        return _coerce(f"model.{key}", value, default)
    return value


def parse_config(argv: list[str]) -> TrainConfig:
    """Presets (a .json file, first) then --key=value overrides; unknown keys are an error."""
    cfg = TrainConfig()
    names = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for arg in argv:
        if arg in ("-h", "--help"):
            print(__doc__.split("What it does")[0].rstrip() + "\n\nConfig keys (defaults):")
            for f in dataclasses.fields(TrainConfig):
                print(f"  --{f.name}={getattr(TrainConfig(), f.name)!r}")
            print("  --model.KEY=VALUE  (nqa.programmer.ProgrammerConfig fields)")
            raise SystemExit(0)
        if not arg.startswith("--"):
            path = Path(arg)
            if not path.is_file():
                raise ConfigError(f"{arg}: no such config file")
            data = json.loads(path.read_text())
            for k, v in data.items():
                if k == "model":
                    cfg.model.update({mk: _coerce_model(mk, mv) for mk, mv in v.items()})
                    continue
                if k not in names:
                    raise ConfigError(f"{arg}: unknown key {k!r}")
                default = getattr(TrainConfig(), k)
                if default is not None and not isinstance(v, type(default)) and not (
                        isinstance(default, float) and isinstance(v, int)):
                    raise ConfigError(f"{arg}: {k} should be {type(default).__name__}, got {v!r}")
                setattr(cfg, k, float(v) if isinstance(default, float) else v)
            continue
        if "=" not in arg:
            raise ConfigError(f"{arg}: overrides are --key=value")
        key, value = arg[2:].split("=", 1)
        if key.startswith("model."):
            cfg.model[key[6:]] = _coerce_model(key[6:], value)
            continue
        if key not in names or key == "model":
            raise ConfigError(f"unknown config key {key!r}; known: {sorted(names)}")
        setattr(cfg, key, _coerce(key, value, getattr(TrainConfig(), key)))
    return cfg


# ---------------------------------------------------------------------------------------------
# data


@dataclass
class Item:
    """One example, with everything that does not change during training."""

    id: str
    answers: tuple[str, ...]
    # slots that evaluation items leave None (an unreadable table, scored wrong) and that the loop
    # fills in later (features), hence Any: every stage past load_items sees them set
    table: Any  # nqa.table.Table, None when unreadable
    question: Any  # nqa.question.Question, None with the table
    programs: list[Program]  # searched programs, best first; [] when none
    features: Any = None  # nqa.features.Features, the model's cached per-example input (see the adapter below)


def load_items(cfg: TrainConfig, split: str, limit: int, with_programs: bool, max_rows: int = 0,
               progress: bool = False) -> list[Item]:
    from nqa.question import parse_question
    from nqa.training.data import default_wtq_root, load_wtq_table, read_examples
    from nqa.training.search import CACHE_DIR, SearchConfig, revalidate, run_search, to_program

    root = Path(cfg.wtq_root) if cfg.wtq_root else default_wtq_root()
    examples = read_examples(root / "data" / f"{split}.tsv")
    if limit:
        examples = examples[:limit]
    searched: dict = {}
    if with_programs:
        scfg = SearchConfig(max_steps=cfg.search_steps, max_candidates=cfg.search_candidates)
        cache = Path(cfg.search_cache) if cfg.search_cache else CACHE_DIR
        if limit or not cfg.search_split:  # a small run searches just its own examples
            searched = run_search(root / "data" / f"{split}.tsv", root, scfg, workers=1, progress=progress,
                                  limit=limit or None, cache_dir=cache)
        else:
            searched = run_search(root / "data" / f"{cfg.search_split}.tsv", root, scfg, workers=2,
                                  progress=progress, cache_dir=cache)
    items = []
    for ex in examples:
        try:
            table = load_wtq_table(str(root / ex.context))
        except ValueError:
            table = None
        if table is None or table.n_rows == 0:
            if not with_programs:  # never dropped from evaluation: counted as wrong
                items.append(Item(ex.id, ex.answers, None, None, []))
            continue
        if max_rows and with_programs and table.n_rows > max_rows:
            continue
        q = parse_question(ex.question, table)
        progs = []
        if with_programs and ex.id in searched:
            limit = cfg.search_candidates if cfg.rank_programs_with else cfg.mml_candidates
            progs = [to_program(p, table, q) for p in revalidate(searched[ex.id], table, q, ex.answers, limit=limit)]
        items.append(Item(ex.id, ex.answers, table, q, progs))
    return items


def in_fold(context: str, fold: str) -> bool:
    """Whether a table (its WTQ context path, as Table.source holds it) is on fold "k/n"."""
    import zlib

    k, n = (int(x) for x in fold.split("/"))
    if not 0 <= k < n:
        raise ConfigError(f"held_out_fold {fold!r}: use k/n with 0 <= k < n")
    tail = "/".join(Path(context).parts[-3:])  # csv/204-csv/12.csv, wherever the data set lives
    return zlib.crc32(tail.encode()) % n == k


def generated_items(cfg: TrainConfig, wtq_items: list[Item]) -> list[Item]:
    """Generated (question, gold program) items: over the training split's own tables, and the user
    benchmark's training part (training/generated.py). Deterministic from cfg.seed."""
    from nqa.training.generated import benchmark_examples, benchmark_tables, wtq_table_examples

    out: list[Item] = []
    if cfg.gen_per_table:
        tables, seen = [], set()
        for it in wtq_items:
            if it.table is not None and id(it.table) not in seen:
                seen.add(id(it.table))
                tables.append(it.table)
        out += [Item(i, a, t, q, [p]) for i, a, t, q, p, _ in
                wtq_table_examples(tables, cfg.gen_per_table, cfg.seed, augment=cfg.gen_augment)]
    if cfg.gen_bench_tables_per_table:
        tables = [t for t in benchmark_tables() if t.n_rows <= 1000]
        out += [Item(f"bench-{i}", a, t, q, [p]) for i, a, t, q, p, _ in
                wtq_table_examples(tables, cfg.gen_bench_tables_per_table, cfg.seed + 1, augment=cfg.gen_augment)]
    if cfg.gen_benchmark:
        # its few-thousand-row tables would make every batch they land in ~100x larger: kept for testing
        bench = [b for b in benchmark_examples() if b[2].n_rows <= 1000]
        for r in range(cfg.gen_benchmark_repeat):
            out += [Item(f"{i}#{r}", a, t, q, [p]) for i, a, t, q, p, _ in bench]
    return out


def make_batches(items: list[Item], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of similar table size (less padding), in a shuffled order fixed by (seed, epoch)."""
    rng = np.random.default_rng(seed * 1000 + epoch)
    order = rng.permutation(len(items))
    chunk = batch_size * 50  # sort by size within chunks: buckets without a fixed order
    batches = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: (items[i].table.n_rows, items[i].table.n_cols))
        batches += [list(map(int, part[i:i + batch_size])) for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


# ---------------------------------------------------------------------------------------------
# the model adapter: the only place that knows nqa.programmer's training API


def build_model(cfg: TrainConfig):
    """The model to train; its frozen encoder multiplies in float32 on every machine
    (nqa.minilm.training_dtype)."""
    from nqa.minilm import training_dtype
    from nqa.programmer import NeuralProgrammer, ProgrammerConfig

    with training_dtype():
        if cfg.init_from:
            from nqa.api import TableQA

            base = TableQA.from_pretrained(cfg.init_from).model
            if not cfg.model:
                return base.train()
            # --model.key=value over the checkpoint's config (e.g. encoder_train_top_layers=1: tune
            # the encoder of a model trained with it frozen); weights the checkpoint lacks are the
            # pretrained encoder's, which the new model already holds
            model = NeuralProgrammer(ProgrammerConfig(**{**dataclasses.asdict(base.config), **cfg.model}))
            try:
                missing, unexpected = model.load_state_dict(base.checkpoint_state(), strict=False)
            except RuntimeError as e:  # a weight of another shape
                raise ConfigError(f"--init_from {cfg.init_from}: its weights do not fit --model overrides ({e})"
                                  ) from None
            pretrained = {f"encoder.{n}" for n in model.encoder.state_dict()}
            if unexpected or set(missing) - pretrained:
                raise ConfigError(f"--init_from {cfg.init_from}: its weights do not fit --model overrides "
                                  f"(missing {sorted(set(missing) - pretrained)[:3]}, unexpected {unexpected[:3]})")
            return model.train()
        return NeuralProgrammer(ProgrammerConfig(**cfg.model))


def precompute(model, items: list[Item], with_rows: bool, chunk: int = 128, progress: bool = False,
               cache_path: Path | None = None, write_cache: bool = True) -> None:
    """Per-example inputs that never change: features (+ answer targets) and, when the encoder is
    frozen, its outputs (stored in half precision: they are inputs, not parameters)."""
    from tqdm import tqdm

    from nqa.features import collate

    _features_only(items, with_rows)
    if not model.encoder.frozen:
        return
    cached = _load_encoded(cache_path, items) if cache_path is not None else False
    if cached:
        return
    was = model.training
    model.eval()
    with torch.no_grad():
        for start in tqdm(range(0, len(items), chunk), desc="encode", disable=not progress, mininterval=10):
            part = items[start:start + chunk]
            batch = collate([it.features for it in part]).to(_device(model))
            enc = model.encode(batch)
            for b, it in enumerate(part):
                it.features.encoded = {k: v.to("cpu", torch.float16) for k, v in enc.slice(b).items()}
    model.train(was)
    if cache_path is not None and write_cache:
        _save_encoded(cache_path, items)


def rank_programs(cfg: TrainConfig, model, items: list[Item], log) -> None:
    """Keep each example's mml_candidates most probable programs under cfg.rank_programs_with."""
    from nqa.training.rank_programs import keep_most_probable, load_ranker, program_scores

    t0 = time.time()
    key = [model.config.encoder, model.config.encoder_train_top_layers, model.config.encoder_layers]
    ranker = load_ranker(cfg.rank_programs_with, key, cached=model.encoder.frozen).to(_device(model))
    several = [it for it in items if len(it.programs) > 1]
    figures = keep_most_probable(several, program_scores(ranker, several), cfg.mml_candidates)
    log(f"programs ranked by {cfg.rank_programs_with}: {figures}, {time.time() - t0:.0f}s")


def _features_only(items: list[Item], with_rows: bool) -> None:
    from nqa.features import build_features, with_answer

    for it in items:
        if it.features is not None:
            continue
        f = build_features(it.table, it.question, with_rows=with_rows)
        it.features = with_answer(f, it.table, list(it.answers)) if with_rows else f


def encoded_cache_key(items: list[Item], model) -> str:
    """Frozen encoder outputs depend only on the words, the headers and the encoder."""
    import hashlib

    fast = model.encoder.fast
    dtype = [str(fast.dtype)] if fast is not None and fast.dtype != torch.float32 else []  # float32: keys as before
    h = hashlib.sha1(json.dumps([model.config.encoder, model.config.encoder_train_top_layers]
                                  + ([model.config.encoder_layers] if model.config.encoder_layers else [])
                                  + dtype).encode())
    for it in items:
        h.update(("\x1f".join(it.features.words) + "\x1e" + "\x1f".join(it.features.column_names) + "\x1d").encode())
    return h.hexdigest()[:16]


def _save_encoded(path: Path, items: list[Item]) -> None:
    """All examples' encoder outputs as three concatenated tensors + lengths (one safetensors file)."""
    from safetensors.torch import save_file

    enc = [it.features.encoded for it in items]
    tensors = {
        "word_states": torch.cat([e["word_states"] for e in enc]),
        "col_states": torch.cat([e["col_states"] for e in enc]),
        "pooled": torch.stack([e["pooled"] for e in enc]),
        "n_words": torch.tensor([e["word_states"].shape[0] for e in enc]),
        "n_cols": torch.tensor([e["col_states"].shape[0] for e in enc]),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)


def _load_encoded(path: Path, items: list[Item]) -> bool:
    from safetensors.torch import load_file

    if not path.exists():
        return False
    t = load_file(str(path))
    if len(t["pooled"]) != len(items):
        return False
    w_off = torch.cat([torch.zeros(1, dtype=torch.long), t["n_words"].cumsum(0)]).tolist()
    c_off = torch.cat([torch.zeros(1, dtype=torch.long), t["n_cols"].cumsum(0)]).tolist()
    for i, it in enumerate(items):
        it.features.encoded = {"word_states": t["word_states"][w_off[i]:w_off[i + 1]],
                               "col_states": t["col_states"][c_off[i]:c_off[i + 1]], "pooled": t["pooled"][i]}
    return True


def _device(model) -> torch.device:
    return next(model.parameters()).device


def batch_loss(model, items: list[Item], cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """mml_weight · −log Σ_programs p(program) (examples with searched programs) +
    answer_weight · the model's expected answer loss with ponder cost (all examples)."""
    from nqa.features import collate
    from nqa.programmer import ProgramTargets

    batch = collate([it.features for it in items]).to(_device(model))
    enc = model.encode(batch)
    total = torch.zeros((), device=_device(model))
    parts: dict[str, float] = {}
    pairs = [(b, p) for b, it in enumerate(items) for p in it.programs
             if len(p.selection_steps) <= model.config.max_steps]
    if cfg.mml_weight > 0 and pairs:
        targets = ProgramTargets.from_programs(pairs, model.config.max_steps)
        targets = ProgramTargets(*(getattr(targets, f.name).to(_device(model))
                                   for f in dataclasses.fields(ProgramTargets)))
        logp = model.program_log_prob(batch, targets, encoded=enc)  # (M,)
        ex = targets.example
        n_ex = len(items)
        # logsumexp per example via a masked (n_ex, M) matrix
        mat = torch.full((n_ex, logp.shape[0]), -1e9, device=logp.device, dtype=logp.dtype)
        mat[ex, torch.arange(logp.shape[0], device=logp.device)] = logp
        has = torch.zeros(n_ex, dtype=torch.bool, device=logp.device)
        has[ex] = True
        mml = -(torch.logsumexp(mat, dim=1)[has]).mean()
        total = total + cfg.mml_weight * mml
        parts["mml"] = float(mml.detach())
    if cfg.answer_weight > 0:
        out = model(batch, encoded=enc)
        losses = model.loss(out, batch)
        total = total + cfg.answer_weight * losses["loss"]
        parts["answer"] = float(losses["answer"])
    parts["loss"] = float(total.detach())
    return total, parts


def decode(model, items: list[Item], k: int) -> list[list]:
    """Top-k programs per example from the cached features (nqa.decode's greedy ACT path first,
    then its beam alternatives), without re-running the frozen encoder."""
    from nqa import decode as dec
    from nqa.features import collate

    batch = collate([it.features for it in items]).to(_device(model))
    return dec.programs_from_context(model, model.context(batch), [it.table for it in items],
                                     [it.question for it in items], k)


class LossModule(torch.nn.Module):
    """Wraps the model so DDP sees the whole loss as forward() (and syncs its gradients)."""

    def __init__(self, model, cfg: TrainConfig):
        super().__init__()
        self.model = model
        self.cfg = cfg

    def forward(self, items: list[Item]):
        return batch_loss(self.model, items, self.cfg)


# ---------------------------------------------------------------------------------------------
# evaluation by the official rules, with the exact executor


def predict_items(model, items: list[Item], beam: int) -> list[list[str]]:
    """The answer items for each example: the most probable decoded program (among the top `beam`)
    whose exact execution gives a non-empty answer."""
    from nqa.executor import choose_run, run_programs

    out: dict[int, list[str]] = {i: [] for i in range(len(items))}
    ok = [i for i, it in enumerate(items) if it.table is not None]
    model.eval()
    with torch.no_grad():
        for start in range(0, len(ok), 64):
            idx = ok[start:start + 64]
            part = [items[i] for i in idx]
            for i, it, progs in zip(idx, part, decode(model, part, beam)):
                runs = run_programs(progs, it.table, it.question)
                chosen = choose_run(runs)
                ex = runs[chosen] if chosen is not None else None
                out[i] = ex.values if ex is not None else []
    model.train()
    return [out[i] for i in range(len(items))]


def evaluate(model, items: list[Item], beam: int) -> tuple[int, int]:
    from nqa.training.data import answer_correct

    preds = predict_items(model, items, beam)
    correct = sum(1 for it, p in zip(items, preds) if p and answer_correct(it.answers, p))
    return correct, len(items)


# ---------------------------------------------------------------------------------------------
# checkpoints: one safetensors file with model + optimizer tensors, the rest as JSON metadata


def save_state(path: Path, model, optimizer, train_state: dict) -> None:
    """Everything needed to continue exactly where we stopped; written to a temp file then renamed."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    weights = model.checkpoint_state() if hasattr(model, "checkpoint_state") else model.state_dict()
    for k, v in weights.items():  # the frozen base encoder comes from its package, not the state file
        tensors[f"model/{k}"] = v.detach().cpu().contiguous()
    opt = optimizer.state_dict()
    opt_meta = {"param_groups": opt["param_groups"], "state": {}}
    for pid, st in opt["state"].items():
        opt_meta["state"][str(pid)] = {}
        for name, val in st.items():
            if torch.is_tensor(val):
                tensors[f"optim/{pid}/{name}"] = val.detach().cpu().contiguous()
                opt_meta["state"][str(pid)][name] = None
            else:
                opt_meta["state"][str(pid)][name] = val
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    meta = {
        "train_state": json.dumps(train_state),
        "optimizer": json.dumps(opt_meta),
        "rng_numpy": json.dumps(_np_state_to_json(np.random.get_state())),
        "rng_python": json.dumps(_py_state_to_json(random.getstate())),
    }
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_state(path: Path, model, optimizer) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    expected = model.checkpoint_state() if hasattr(model, "checkpoint_state") else model.state_dict()
    if set(weights) != set(expected):
        raise ValueError(f"{path}: the saved model does not fit the configured one "
                         f"(missing {sorted(set(expected) - set(weights))[:5]}, "
                         f"unexpected {sorted(set(weights) - set(expected))[:5]})")
    model.load_state_dict(weights, strict=False)
    opt_meta = json.loads(meta["optimizer"])
    state = {}
    for pid, st in opt_meta["state"].items():
        state[int(pid)] = {name: (tensors[f"optim/{pid}/{name}"] if val is None else val)
                           for name, val in st.items()}
    optimizer.load_state_dict({"param_groups": opt_meta["param_groups"], "state": state})
    torch.set_rng_state(tensors["rng/torch"])
    if "rng/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    np.random.set_state(_np_state_from_json(json.loads(meta["rng_numpy"])))
    random.setstate(_py_state_from_json(json.loads(meta["rng_python"])))
    return json.loads(meta["train_state"])


def _np_state_to_json(st) -> list:
    return [st[0], st[1].tolist(), int(st[2]), int(st[3]), float(st[4])]


def _np_state_from_json(st):
    return (st[0], np.array(st[1], dtype=np.uint32), st[2], st[3], st[4])


def _py_state_to_json(st) -> list:
    return [st[0], list(st[1]), st[2]]


def _py_state_from_json(st):
    return (st[0], tuple(st[1]), st[2])


def recover_interrupted_swap(directory: Path) -> None:
    """A kill between save_pretrained_atomic's two renames leaves only <dir>.old (the last complete
    checkpoint; <dir>.tmp may be half written): put it back."""
    old = directory.with_name(directory.name + ".old")
    if old.is_dir() and not directory.exists():
        os.replace(old, directory)


def save_pretrained_atomic(model, directory: Path) -> None:
    """The shippable form (config.json + model.safetensors, nqa.api's format), swapped in whole."""
    from nqa.api import TableQA

    tmp = directory.with_name(directory.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    was_training = model.training
    TableQA(model).save_pretrained(tmp)
    model.train(was_training)
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(directory, old)
    os.replace(tmp, directory)
    if old.exists():
        shutil.rmtree(old)


# ---------------------------------------------------------------------------------------------
# the training loop


def lr_at(step: int, cfg: TrainConfig, total: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * t)) * (cfg.lr - cfg.min_lr)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(list(sys.argv[1:] if argv is None else argv))
    ddp = int(os.environ.get("RANK", -1)) != -1
    if ddp and (cfg.reranker_folds or cfg.ensemble_seeds):
        raise ConfigError("reranker_folds and ensemble_seeds train their models one after the other: "
                          "run them without torchrun")
    member_seeds(cfg)  # a bad list fails before hours of training
    if ddp:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        dist.init_process_group(backend=backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        device = f"cuda:{local_rank}" if backend == "nccl" else "cpu"
        if backend == "nccl":
            torch.cuda.set_device(device)
    else:
        rank, world = 0, 1
        device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    master = rank == 0
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.batch_size % world:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {world} processes")
    per_rank = cfg.batch_size // world
    out = Path(cfg.out_dir)
    if master:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("best", "last"):
            recover_interrupted_swap(out / name)
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    log = print if master else (lambda *a, **k: None)

    # -- data (identical on every rank) -------------------------------------------------------
    t0 = time.time()
    torch.manual_seed(cfg.seed)  # model init identical on every rank
    model = build_model(cfg).to(device)
    train_items = load_items(cfg, cfg.train_split, cfg.limit_train, with_programs=True,
                             max_rows=cfg.max_train_rows, progress=master and cfg.progress)
    if cfg.held_out_fold:
        train_items = [it for it in train_items if not in_fold(it.table.source, cfg.held_out_fold)]
        if not train_items:
            raise ConfigError(f"held_out_fold {cfg.held_out_fold}: every training table is on that fold")
    train_items += generated_items(cfg, train_items)
    dev_items = load_items(cfg, cfg.dev_split, cfg.limit_dev, with_programs=False) if cfg.dev_split else []
    dev_ok = [it for it in dev_items if it.table is not None]
    from nqa.training.data import runs_dir

    cache_dir = runs_dir() / "encoded"
    for part, rows in ((train_items, True), (dev_ok, False)) if dev_ok else ((train_items, True),):
        # frozen encoder: rank 0 encodes once (or reads the cache); the other ranks read what it wrote
        _features_only(part, rows)
        path = cache_dir / f"{encoded_cache_key(part, model)}.safetensors" if model.encoder.frozen else None
        if master or path is None:
            precompute(model, part, with_rows=rows, progress=master and cfg.progress, cache_path=path)
        if ddp:
            import torch.distributed as dist

            dist.barrier()
        if not master and path is not None:
            precompute(model, part, with_rows=rows, cache_path=path, write_cache=False)
    if cfg.rank_programs_with:
        rank_programs(cfg, model, train_items, log)
    covered = sum(1 for it in train_items if it.programs)
    log(f"data: {len(train_items)} train ({covered / max(1, len(train_items)):.3f} with searched programs), "
        f"{len(dev_items)} dev, {time.time() - t0:.0f}s")

    # -- optimiser, schedule, resume --------------------------------------------------------------
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = len(make_batches(train_items, per_rank, cfg.seed, 0)) // world
    total = cfg.max_steps or cfg.epochs * n_batches
    st: dict[str, Any] = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "best_dev": -1.0, "best_step": -1}
    state_path = out / "state.safetensors"
    if cfg.resume and state_path.exists():
        st = load_state(state_path, model, optimizer)
        log(f"resumed from {state_path} at step {st['step']}")
    else:
        random.seed(cfg.seed + rank)
        np.random.seed(cfg.seed + rank)
        torch.manual_seed(cfg.seed + rank)  # dropout etc. differ per rank
    wrapped: torch.nn.Module = LossModule(model, cfg)
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP

        wrapped = DDP(wrapped, device_ids=[int(device.split(":")[1])] if device.startswith("cuda") else None,
                      find_unused_parameters=True)
    use_amp = device.startswith("cuda")
    metrics_path = out / "metrics.csv"

    def write_metrics(row: dict) -> None:
        new = not metrics_path.exists()
        with open(metrics_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", "epoch", "loss", "mml", "answer", "lr", "ex_per_s",
                                              "dev_acc", "time"])
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in w.fieldnames})

    def run_eval() -> float:
        part = dev_items[rank::world]
        correct, n = evaluate(model, part, cfg.eval_beam)
        if ddp:
            import torch.distributed as dist

            t = torch.tensor([correct, n], dtype=torch.float64)
            dist.all_reduce(t)
            correct, n = int(t[0]), int(t[1])
        return correct / max(1, n)

    from tqdm import tqdm

    bar = tqdm(total=total, initial=st["step"], disable=not (master and cfg.progress), mininterval=10,
               desc="train")
    steps_this_run = 0
    t_last, ex_since = time.time(), 0
    acc_loss: dict[str, float] = {}
    model.train()
    while st["step"] < total:
        batches = make_batches(train_items, per_rank, cfg.seed, st["epoch"])
        usable = len(batches) // world * world
        mine = batches[rank:usable:world]
        while st["batch_in_epoch"] < len(mine) and st["step"] < total:
            batch = [train_items[i] for i in mine[st["batch_in_epoch"]]]
            lr = lr_at(st["step"], cfg, total)
            for g in optimizer.param_groups:
                g["lr"] = lr
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
                loss, parts = wrapped(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            st["step"] += 1
            st["batch_in_epoch"] += 1
            steps_this_run += 1
            ex_since += len(batch) * world
            for k, v in parts.items():
                acc_loss[k] = acc_loss.get(k, 0.0) + v
            acc_loss["n"] = acc_loss.get("n", 0) + 1
            bar.update(1)
            if st["step"] % cfg.log_every == 0 or st["step"] == total:
                dt = time.time() - t_last
                n = acc_loss.pop("n")
                avg = {k: v / n for k, v in acc_loss.items()}
                row = {"step": st["step"], "epoch": st["epoch"], "lr": f"{lr:.2e}",
                       "ex_per_s": f"{ex_since / max(dt, 1e-9):.1f}", "time": f"{time.time() - t0:.0f}",
                       **{k: f"{v:.4f}" for k, v in avg.items()}}
                bar.set_postfix(loss=row.get("loss"), ex_s=row["ex_per_s"])
                if master:
                    write_metrics(row)
                acc_loss, t_last, ex_since = {}, time.time(), 0
            if st["step"] % cfg.eval_every == 0 or st["step"] == total:
                if dev_items:  # every rank: run_eval all-reduces
                    acc = run_eval()
                    log(f"\nstep {st['step']}: dev accuracy {acc:.4f}")
                    if master:
                        write_metrics({"step": st["step"], "epoch": st["epoch"], "dev_acc": f"{acc:.4f}",
                                       "time": f"{time.time() - t0:.0f}"})
                    if master and acc > st["best_dev"]:
                        st["best_dev"], st["best_step"] = acc, st["step"]
                        save_pretrained_atomic(model, out / "best")
                if master:
                    save_state(state_path, model, optimizer, st)
                    plot_curves(metrics_path, out / "curves.png")
            if cfg.stop_after and steps_this_run >= cfg.stop_after:
                break
        if cfg.stop_after and steps_this_run >= cfg.stop_after:
            if master:
                save_state(state_path, model, optimizer, st)
            break
        st["epoch"] += 1
        st["batch_in_epoch"] = 0
    bar.close()
    if master:
        if not cfg.stop_after:
            save_state(state_path, model, optimizer, st)
        save_pretrained_atomic(model, out / "last")
        # no dev to choose on: the last checkpoint is the model (left alone when a run resumed at the
        # end trained nothing: its best/ already holds these weights, and its reranker and members)
        if not dev_items and not cfg.stop_after and (steps_this_run or not (out / "best").exists()):
            save_pretrained_atomic(model, out / "best")
        if dev_items:
            log(f"done: step {st['step']}, best dev accuracy {st['best_dev']:.4f} at step {st['best_step']} "
                f"({out / 'best'}), {time.time() - t0:.0f}s")
        else:
            log(f"done: step {st['step']}, no dev split: best/ is the last checkpoint, {time.time() - t0:.0f}s")
        if cfg.reranker_folds and (out / "best").exists() and not cfg.stop_after:
            fit_reranker_on_folds(cfg, out)
        if cfg.ensemble_seeds and (out / "best").exists() and not cfg.stop_after:
            train_members(cfg, out)
        if cfg.calibration_from and (out / "best").exists() and not cfg.stop_after:
            copy_calibration(Path(cfg.calibration_from), out / "best")
        elif cfg.calibrate and (out / "best").exists() and not cfg.stop_after:
            from nqa.training.calibrate import main as calibrate

            user_dev = Path(cfg.calibrate_user_dev) if cfg.calibrate_user_dev else None
            calibrate(["--model", str(out / "best"), "--dev", cfg.dev_split]
                      + (["--wtq-root", cfg.wtq_root] if cfg.wtq_root else [])
                      + ([f"--fit-also={user_dev}={user_dev.parent}"] if user_dev else []))
    if ddp:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return 0


def fit_reranker_on_folds(cfg: TrainConfig, out: Path) -> None:
    """The fold models (out/fold-k-of-n, resumable like any run) and the reranker they fit into
    out/best/config.json. Not under torchrun: the fold runs are separate single-process runs."""
    from nqa.training.fit_reranker import main as fit

    n = cfg.reranker_folds
    folds = []
    for k in range(n):
        sub = dataclasses.replace(cfg, held_out_fold=f"{k}/{n}", reranker_folds=0, ensemble_seeds="", calibrate=False,
                                  calibration_from="", out_dir=str(out / f"fold-{k}-of-{n}"))
        preset = out / f"fold-{k}-of-{n}.json"
        preset.write_text(json.dumps(dataclasses.asdict(sub), indent=2) + "\n")
        main([str(preset)])
        folds.append(str(out / f"fold-{k}-of-{n}" / "best"))
    fit(["--fold-models", *folds, "--model", str(out / "best"), "--split", cfg.train_split]
        + (["--wtq-root", cfg.wtq_root] if cfg.wtq_root else []))


def copy_calibration(source: Path, checkpoint: Path) -> None:
    """The "calibration" entry of `source` (checked as a checkpoint would read it) into checkpoint's
    config.json. Why: a model trained on all of training.tsv has no held-out WTQ questions to fit its
    calibration on; the same recipe's fit on a held-out split stands in (training/README.md)."""
    from nqa.api import update_config
    from nqa.unsure import Calibration

    try:
        config = json.loads(source.read_text())
        Calibration.from_config(config)
    except (OSError, ValueError, AttributeError) as e:
        raise ConfigError(f"calibration_from {source}: not JSON with a valid 'calibration' entry ({e})") from None
    if not config.get("calibration"):
        raise ConfigError(f"calibration_from {source}: no 'calibration' entry")
    update_config(checkpoint, "calibration", config["calibration"])


def member_seeds(cfg: TrainConfig) -> list[int]:
    try:
        seeds = [int(s) for s in cfg.ensemble_seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"ensemble_seeds {cfg.ensemble_seeds!r}: a comma-separated list of seeds") from None
    if cfg.seed in seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"ensemble_seeds {cfg.ensemble_seeds!r}: each seed once, and not the run's own ({cfg.seed})")
    return seeds


def train_members(cfg: TrainConfig, out: Path) -> None:
    """One run per member seed (out/member-seed-N, resumable like any run, with its own fold models
    and reranker), copied into out/best/member-k and listed in best/config.json's "members"."""
    names = []
    for k, seed in enumerate(member_seeds(cfg), start=1):
        sub = dataclasses.replace(cfg, seed=seed, ensemble_seeds="", calibrate=False, calibration_from="",
                                  out_dir=str(out / f"member-seed-{seed}"))
        preset = out / f"member-seed-{seed}.json"
        preset.write_text(json.dumps(dataclasses.asdict(sub), indent=2) + "\n")
        main([str(preset)])
        dest, tmp = out / "best" / f"member-{k}", out / "best" / f".member-{k}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(out / f"member-seed-{seed}" / "best", tmp)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        names.append(dest.name)
    from nqa.api import update_config

    update_config(out / "best", "members", names)


def plot_curves(metrics_path: Path, png: Path) -> None:
    """Training loss and dev accuracy against steps (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, loss, dsteps, dev = [], [], [], []
    with open(metrics_path) as f:
        for r in csv.DictReader(f):
            if r["loss"]:
                steps.append(int(r["step"]))
                loss.append(float(r["loss"]))
            if r["dev_acc"]:
                dsteps.append(int(r["step"]))
                dev.append(float(r["dev_acc"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, loss, color="tab:blue", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(dsteps, dev, "o-", color="tab:red", label="dev accuracy")
    ax2.set_ylabel("dev accuracy")
    fig.legend(loc="upper right")
    fig.tight_layout()
    tmp = png.with_name(png.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png)


if __name__ == "__main__":
    raise SystemExit(main())
