"""ACT on a task whose right number of steps grows with the input: the pointer walk.

Each example has a random memory of K slots (one random +-1 vector per slot) and a target offset
d in 1..D (the difficulty). The answer is the content of slot d. The model's only access to memory
is a read head that starts at slot 0 and, per step, can move at most one slot (a non-circular shift
over -1, 0, +1 from nqa.attention, the same shift the Neural Programmer's previous/next use). So an
input of difficulty d needs at least d steps, and the ponder cost rewards stopping exactly then: the
learned number of steps must grow with d. (Graves' parity task shows the same thing but needs far
more than a few CPU minutes of training; this task isolates the halting behaviour.)

    python -m training.act_demo --seed 1 --minutes 3

The last line printed is a JSON object with the mean number of steps per difficulty.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Idle OpenMP threads must sleep, not spin: on a shared, oversubscribed CPU, spinning made a
# 2-thread run ~40x slower per update (measured: 11.6 s vs 0.05 s). Read once, when torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F
from torch import Tensor, nn

from nqa import attention
from nqa.act import AdaptiveComputation, tau_schedule


@dataclass
class WalkConfig:
    seed: int = 1
    minutes: float = 3.0
    max_updates: int = 3000  # whichever of minutes / updates comes first
    threads: int = 1
    slots: int = 12  # K
    max_difficulty: int = 8  # D: targets d in 1..D
    width: int = 8  # V: width of each memory vector
    hidden: int = 64
    batch_size: int = 64
    lr: float = 3e-3
    max_steps: int = 12  # the ACT step limit (> D, so runaway steps are visible, not hidden)
    initial_steps: float = 4.0  # halting bias = logit(1/4): start at ~4 steps, mid-range
    tau: float = 1e-2  # final ponder-cost weight (1e-3 left d=1 at 2 steps after 3000 updates)
    tau_warmup: int = 200  # updates with tau = 0, then a linear ramp over as many again
    eval_per_level: int = 200
    log_every: int = 100
    out: str = "runs/act_demo"  # the plot goes here


def make_batch(cfg: WalkConfig, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """-> memory (n, K, V) of +-1, difficulty d (n,) in 1..D, target (n, V) = memory[d]."""
    memory = torch.randint(0, 2, (n, cfg.slots, cfg.width), generator=gen).float() * 2 - 1
    d = torch.randint(1, cfg.max_difficulty + 1, (n,), generator=gen)
    return memory, d, memory[torch.arange(n), d]


class Walker(nn.Module):
    """Per step: look at (where the head is, the target offset), choose a shift, move, read."""

    def __init__(self, cfg: WalkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(nn.Linear(2 * cfg.slots, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU())
        self.shift_logits = nn.Linear(cfg.hidden, 3)
        self.act = AdaptiveComputation(cfg.hidden, max_steps=cfg.max_steps, initial_steps=cfg.initial_steps)

    def forward(self, memory: Tensor, d: Tensor):
        b, k = memory.shape[0], self.cfg.slots
        goal = F.one_hot(d, k).float()  # (B, K)
        w0 = F.one_hot(torch.zeros(b, dtype=torch.long), k).float()  # head starts at slot 0

        def step(w: Tensor, n: int):
            s = self.net(torch.cat([w, goal], dim=-1))  # (B, H)
            w = attention.shift(w, torch.softmax(self.shift_logits(s), -1), circular=False)
            # the halting unit sees the state after the move: "am I there yet?"
            s_after = self.net(torch.cat([w, goal], dim=-1))
            return w, attention.read(memory, w), s_after

        return self.act(step, w0, b)


def plot_steps(steps: dict[int, float], weights: dict[int, Tensor], max_steps: int, path: Path) -> None:
    """Mean steps per difficulty, and one example's ACT step weights p_n per difficulty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    levels = list(steps)
    a.plot(levels, [steps[d] for d in levels], "o-", label="learned N")
    a.plot(levels, levels, "k:", label="minimum possible (d)")
    a.set_xlabel("difficulty d (slots to walk)")
    a.set_ylabel("mean ACT steps N")
    a.legend()
    grid = torch.zeros(len(levels), max_steps)
    for i, d in enumerate(levels):
        grid[i, : weights[d].shape[0]] = weights[d]
    b.imshow(grid.numpy(), cmap="gray_r", aspect="auto", vmin=0, vmax=1,
             extent=(0.5, max_steps + 0.5, levels[-1] + 0.5, levels[0] - 0.5))
    b.set_xlabel("step n")
    b.set_ylabel("difficulty d")
    b.set_title("step weights p_n (one example per d)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def train(cfg: WalkConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = Walker(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start, update = time.monotonic(), 0
    while update < cfg.max_updates and time.monotonic() - start < cfg.minutes * 60:
        memory, d, target = make_batch(cfg, cfg.batch_size, gen)
        out = model(memory, d)
        task = F.mse_loss(out.output, target)
        tau = tau_schedule(update, cfg.tau, cfg.tau_warmup, cfg.tau_warmup)
        loss = task + tau * out.halting.ponder.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        update += 1
        if update % cfg.log_every == 0:
            print(f"update {update} task {task.item():.4f} tau {tau:.1e} "
                  f"mean steps {out.halting.steps.float().mean().item():.2f}", flush=True)
    minutes = (time.monotonic() - start) / 60

    model.eval()
    eval_gen = torch.Generator().manual_seed(10_000 + cfg.seed)
    steps, errors, weights = {}, {}, {}
    with torch.no_grad():
        for level in range(1, cfg.max_difficulty + 1):
            memory, _, _ = make_batch(cfg, cfg.eval_per_level, eval_gen)
            d = torch.full((cfg.eval_per_level,), level)
            out = model(memory, d)
            target = memory[:, level]
            steps[level] = round(out.halting.steps.float().mean().item(), 3)
            errors[level] = round(((out.output > 0).float() * 2 - 1 != target).float().mean().item(), 4)
            weights[level] = out.halting.weights[0]
    plot = Path(cfg.out) / "act_steps.png"
    plot_steps(steps, weights, cfg.max_steps, plot)
    levels = list(steps.values())
    return {
        "task": "act_pointer_walk",
        "seed": cfg.seed,
        "mean_steps_per_difficulty": steps,
        "bit_error_rate_per_difficulty": errors,
        "steps_grow_with_difficulty": all(a < b for a, b in zip(levels, levels[1:])),
        "updates": update,
        "train_minutes": round(minutes, 2),
        "plot": str(plot),
    }


def parse_args(argv: list[str] | None = None) -> WalkConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(WalkConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    return WalkConfig(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(train(parse_args(argv))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
