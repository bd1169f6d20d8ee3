"""Adaptive Computation Time (Graves 2016): let the model decide how many steps an input needs.

At step n a halting unit gives h_n = sigmoid(w · s_n + b). The computation stops at the first N
with h_1 + ... + h_N >= 1 - eps, or at the step limit. The step weights are p_n = h_n for n < N and
the remainder R = 1 - (h_1 + ... + h_{N-1}) at n = N, so they sum to 1; the trained output is
sum_n p_n · y_n and the loss adds the ponder cost tau · (N + R). N is discrete, so the gradient of
the ponder cost reaches the halting unit through R only (it pushes the steps before N to halt sooner).

Two ways to use it:
    * ``halting_weights(h)`` for a loop you already ran: halting probabilities (B, T) -> Halting
      (weights, N, R, ponder), all examples at once.
    * ``Halter`` for a loop you run yourself (the Neural Programmer's controller): feed it h_n one
      step at a time, get p_n back, stop when ``halter.done``; ``result()`` is the same Halting.
    * ``AdaptiveComputation`` wraps any step function and does both the halting unit and the loop.

Halting traps, and how this module handles them
    * Collapse to one or two steps. If h starts near 0.5 or above, N is 1-2 for every input from the
      first update, and the ponder cost (which only ever pushes N down) keeps it there: the model
      never sees what more steps would buy. The halting unit therefore starts with zero weights and a
      NEGATIVE bias, b = logit(1 / initial_steps) (``initial_steps=3`` gives b = -0.69), so every
      input starts at about ``initial_steps`` steps and the task loss can pull some up, some down.
    * tau too large (or applied from the first update). The ponder cost wins before the task loss
      has shaped the steps, and halting collapses anyway. Use ``tau_schedule``: tau = 0 for a
      warm-up, then a linear ramp to its final value. Typical final tau: 1e-3..1e-2 of a loss ~1.
    * Runaway steps. If h stays tiny, N grows until compute explodes. ``max_steps`` is a hard limit:
      the last allowed step always halts and takes the remainder, so weights still sum to 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


class ACTError(ValueError):
    """Bad arguments to an ACT function."""


@dataclass
class Halting:
    """Outcome of the halting rule for a batch (T = steps run)."""

    weights: Tensor  # (B, T) p_n; each row sums to 1; zero after the example halted
    steps: Tensor  # (B,) long, N: steps taken (1..T)
    remainder: Tensor  # (B,) R, the weight of the last step (differentiable)
    ponder: Tensor  # (B,) N + R, the ponder cost before tau

    @property
    def mask(self) -> Tensor:
        """(B, T) bool: True on the steps each example actually took (n <= N)."""
        t = torch.arange(self.weights.shape[1], device=self.weights.device)
        return t.unsqueeze(0) < self.steps.unsqueeze(1)


def halting_weights(halt_probs: Tensor, eps: float = 0.01, max_steps: int | None = None) -> Halting:
    """Apply the ACT halting rule to halting probabilities (B, T) in [0, 1].

    N = the first n with cumsum(h)_n >= 1 - eps, capped at min(max_steps, T) (that step always halts).

    >>> hw = halting_weights(torch.tensor([[0.2, 0.5, 0.9, 0.9]]), eps=0.01)
    >>> hw.weights, hw.steps, hw.remainder
    (tensor([[0.2000, 0.5000, 0.3000, 0.0000]]), tensor([3]), tensor([0.3000]))
    """
    if halt_probs.dim() != 2:
        raise ACTError(f"halt_probs must be (B, T), got shape {tuple(halt_probs.shape)}")
    b, t = halt_probs.shape
    limit = t if max_steps is None else min(max_steps, t)
    if limit < 1:
        raise ACTError("need at least one step")
    h = halt_probs[:, :limit]
    reached = torch.cumsum(h, dim=1) >= 1 - eps  # (B, limit)
    reached[:, -1] = True  # the step limit: the last allowed step always halts
    last = reached.float().argmax(dim=1)  # (B,) index of step N (first True)
    idx = torch.arange(limit, device=h.device).unsqueeze(0)
    before = idx < last.unsqueeze(1)  # steps n < N
    remainder = 1 - (h * before).sum(dim=1)  # (B,)
    weights = torch.where(before, h, torch.zeros_like(h)) + (idx == last.unsqueeze(1)) * remainder.unsqueeze(1)
    if limit < t:
        weights = torch.cat([weights, weights.new_zeros(b, t - limit)], dim=1)
    steps = last + 1
    return Halting(weights, steps, remainder, steps.to(h.dtype) + remainder)


class Halter:
    """The ACT halting rule one step at a time, for callers that run their own loop.

    >>> halter = Halter(batch_size=2, max_steps=5)
    >>> halter.step(torch.tensor([0.3, 0.995]))   # 2nd example halts at once with R = 1
    tensor([0.3000, 1.0000])
    >>> halter.step(torch.tensor([0.8, 0.5])), halter.done   # 1st: 0.3 + 0.8 >= 0.99, R = 0.7
    (tensor([0.7000, 0.0000]), True)
    """

    def __init__(self, batch_size: int, eps: float = 0.01, max_steps: int = 10, device: Any = None) -> None:
        if max_steps < 1:
            raise ACTError("max_steps must be >= 1")
        self.eps, self.max_steps = eps, max_steps
        self.t = 0
        self.cum = torch.zeros(batch_size, device=device)  # sum of h over steps before N
        self.running = torch.ones(batch_size, dtype=torch.bool, device=device)
        self.steps = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.remainder = torch.zeros(batch_size, device=device)
        self.weights: list[Tensor] = []

    @property
    def done(self) -> bool:
        return not bool(self.running.any()) or self.t >= self.max_steps

    def step(self, h: Tensor) -> Tensor:
        """h (B,) halting probabilities of this step -> p (B,) this step's weights (0 once halted)."""
        if self.t >= self.max_steps:
            raise ACTError(f"step limit {self.max_steps} already reached")
        last_allowed = self.t == self.max_steps - 1
        halt_now = self.running & ((self.cum + h >= 1 - self.eps) | last_allowed)
        go_on = self.running & ~halt_now
        zero = torch.zeros_like(h)
        r = 1 - self.cum
        p = torch.where(halt_now, r, torch.where(go_on, h, zero))
        self.remainder = torch.where(halt_now, r, self.remainder)
        self.cum = self.cum + torch.where(go_on, h, zero)
        self.steps = self.steps + self.running.long()
        self.running = go_on
        self.weights.append(p)
        self.t += 1
        return p

    def result(self) -> Halting:
        if bool(self.running.any()):
            raise ACTError("some examples have not halted yet: call step() until done")
        return Halting(torch.stack(self.weights, 1), self.steps, self.remainder,
                       self.steps.to(self.remainder.dtype) + self.remainder)


def halting_bias_for(initial_steps: float) -> float:
    """Bias b with sigmoid(b) = 1 / initial_steps: about that many steps at initialisation."""
    if initial_steps <= 1:
        raise ACTError("initial_steps must be > 1")
    p = 1.0 / initial_steps
    return math.log(p / (1 - p))


def tau_schedule(update: int, tau: float, warmup: int, ramp: int) -> float:
    """Ponder-cost weight: 0 for ``warmup`` updates, then linear up to ``tau`` over ``ramp`` updates."""
    if update < warmup:
        return 0.0
    return tau * min(1.0, (update - warmup + 1) / max(ramp, 1))


@dataclass
class ACTOutput:
    output: Tensor  # (B, ...) sum_n p_n y_n
    hidden: Tensor  # (B, H) sum_n p_n s_n
    halting: Halting
    state: Any  # the step function's state after the last step run (halted examples kept running)


class AdaptiveComputation(nn.Module):
    """A halting unit plus the ACT loop around any step function.

    ``step_fn(state, n) -> (state, y (B, ...), s (B, hidden_size))`` runs step n (0-based) for the
    whole batch; ``s`` feeds the halting unit. Examples that halted keep being computed (batched)
    but get zero weight; the loop ends when all have halted or at ``max_steps``.
    """

    def __init__(self, hidden_size: int, eps: float = 0.01, max_steps: int = 10, initial_steps: float = 3.0) -> None:
        super().__init__()
        self.eps, self.max_steps = eps, max_steps
        self.halt = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.halt.weight)  # every input starts at the same, known number of steps
        nn.init.constant_(self.halt.bias, halting_bias_for(initial_steps))

    def halting_prob(self, s: Tensor) -> Tensor:
        """s (B, H) -> h (B,)."""
        return torch.sigmoid(self.halt(s)).squeeze(-1)

    def forward(self, step_fn: Callable[[Any, int], tuple[Any, Tensor, Tensor]], state: Any,
                batch_size: int) -> ACTOutput:
        halter = Halter(batch_size, self.eps, self.max_steps, device=self.halt.bias.device)
        output = hidden = None
        n = 0
        while not halter.done:
            state, y, s = step_fn(state, n)
            p = halter.step(self.halting_prob(s))
            py = p.view(-1, *([1] * (y.dim() - 1))) * y
            output = py if output is None else output + py
            ps = p.unsqueeze(-1) * s
            hidden = ps if hidden is None else hidden + ps
            n += 1
        assert output is not None and hidden is not None  # the halter takes at least one step
        return ACTOutput(output, hidden, halter.result(), state)
