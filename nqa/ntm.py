"""A Neural Turing Machine (Graves, Wayne & Danihelka 2014) built only from :mod:`nqa.attention`.

It exists to prove the shared addressing maths on the task it was born on (the copy task,
``training/copy_task.py``) before the Neural Programmer relies on it.

Layout, smallest to largest:
    ``AddressParams`` / ``squash_address``  the one place where raw head outputs get their activations
    ``ReadHead`` / ``WriteHead``            a Linear from the controller output to those raw values
    ``NTMState``                            memory, head weights, last reads, controller state
    ``NTM``                                 LSTM controller + heads; ``step`` is pure in the state

The memory is never an attribute of the module: ``step(x, state) -> (y, new_state)`` takes and
returns it, so a batch of sequences, truncated backprop or inspection of the weights needs no reset.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nqa import attention


@dataclass
class NTMConfig:
    input_size: int
    output_size: int
    controller_size: int = 100
    memory_slots: int = 128  # N
    memory_width: int = 20  # M
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1  # shifts -1, 0, +1
    # Constant memory init (Collier & Beel 2018 found it trains fastest); tiny but non-zero so the
    # first content lookups see equal similarities instead of 0/0.
    memory_init: float = 1e-6
    # Raw head outputs are clipped to +-20 (also Collier & Beel): keeps beta/gamma from exploding early.
    clip_head_outputs: float = 20.0


@dataclass
class AddressParams:
    """Squashed addressing parameters of one head for one step (all (B, .))."""

    key: Tensor  # (B, M)
    beta: Tensor  # (B, 1) >= 0, key strength
    g: Tensor  # (B, 1) in (0, 1), interpolation gate
    s: Tensor  # (B, 2K+1) distribution over shifts -K..K
    gamma: Tensor  # (B, 1) >= 1, sharpening


def address_size(width: int, shift_range: int) -> int:
    """Number of raw controller outputs one head needs for (k, beta, g, s, gamma)."""
    return width + 1 + 1 + (2 * shift_range + 1) + 1


def squash_address(raw: Tensor, width: int, shift_range: int) -> AddressParams:
    """Raw head outputs (B, address_size) -> AddressParams, with every activation applied here."""
    k, beta, g, s, gamma = torch.split(raw, [width, 1, 1, 2 * shift_range + 1, 1], dim=-1)
    return AddressParams(
        key=torch.tanh(k),
        beta=F.softplus(beta),
        g=torch.sigmoid(g),
        s=torch.softmax(s, dim=-1),
        gamma=1 + F.softplus(gamma),
    )


class ReadHead(nn.Module):
    """Turns the controller output into addressing parameters, then reads."""

    def __init__(self, controller_size: int, cfg: NTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.fc = nn.Linear(controller_size, address_size(cfg.memory_width, cfg.shift_range))

    def params(self, h: Tensor) -> AddressParams:
        raw = self.fc(h).clamp(-self.cfg.clip_head_outputs, self.cfg.clip_head_outputs)
        return squash_address(raw, self.cfg.memory_width, self.cfg.shift_range)

    def forward(self, h: Tensor, memory: Tensor, w_prev: Tensor) -> tuple[Tensor, Tensor]:
        """h (B, C), memory (B, N, M), w_prev (B, N) -> (read vector (B, M), weights (B, N))."""
        p = self.params(h)
        w = attention.address(memory, w_prev, p.key, p.beta, p.g, p.s, p.gamma)
        return attention.read(memory, w), w


class WriteHead(ReadHead):
    """A read head's addressing plus erase (sigmoid) and add (tanh) vectors."""

    def __init__(self, controller_size: int, cfg: NTMConfig) -> None:
        super().__init__(controller_size, cfg)
        self.erase_add = nn.Linear(controller_size, 2 * cfg.memory_width)

    def forward(self, h: Tensor, memory: Tensor, w_prev: Tensor) -> tuple[Tensor, Tensor]:
        """h (B, C), memory (B, N, M), w_prev (B, N) -> (new memory (B, N, M), weights (B, N))."""
        p = self.params(h)
        w = attention.address(memory, w_prev, p.key, p.beta, p.g, p.s, p.gamma)
        erase, add = self.erase_add(h).chunk(2, dim=-1)
        return attention.write(memory, w, torch.sigmoid(erase), torch.tanh(add)), w


@dataclass
class NTMState:
    memory: Tensor  # (B, N, M)
    read_weights: list[Tensor]  # per read head (B, N)
    write_weights: list[Tensor]  # per write head (B, N)
    reads: list[Tensor]  # last read vector per read head (B, M)
    controller: tuple[Tensor, Tensor]  # LSTM (h, c), each (B, C)


@dataclass
class NTMTrace:
    """Head weights over a whole sequence, for plots like the paper's figures 6 and 7."""

    read_weights: list[Tensor] = field(default_factory=list)  # T x (B, N), first read head
    write_weights: list[Tensor] = field(default_factory=list)  # T x (B, N), first write head


class NTM(nn.Module):
    """LSTM controller with read and write heads over an external memory."""

    def __init__(self, cfg: NTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        reads_size = cfg.read_heads * cfg.memory_width
        self.controller = nn.LSTMCell(cfg.input_size + reads_size, cfg.controller_size)
        self.read_heads = nn.ModuleList(ReadHead(cfg.controller_size, cfg) for _ in range(cfg.read_heads))
        self.write_heads = nn.ModuleList(WriteHead(cfg.controller_size, cfg) for _ in range(cfg.write_heads))
        self.out = nn.Linear(cfg.controller_size + reads_size, cfg.output_size)
        # Learned initial read vectors and controller state; initial weights focus on slot 0.
        self.read0 = nn.Parameter(torch.randn(cfg.read_heads, cfg.memory_width) * 0.01)
        self.h0 = nn.Parameter(torch.zeros(cfg.controller_size))
        self.c0 = nn.Parameter(torch.zeros(cfg.controller_size))

    def initial_state(self, batch_size: int) -> NTMState:
        cfg, dev = self.cfg, self.h0.device
        memory = torch.full((batch_size, cfg.memory_slots, cfg.memory_width), cfg.memory_init, device=dev)
        focus = torch.zeros(batch_size, cfg.memory_slots, device=dev)
        focus[:, 0] = 1.0
        return NTMState(
            memory=memory,
            read_weights=[focus.clone() for _ in range(cfg.read_heads)],
            write_weights=[focus.clone() for _ in range(cfg.write_heads)],
            reads=[self.read0[i].expand(batch_size, -1) for i in range(cfg.read_heads)],
            controller=(self.h0.expand(batch_size, -1), self.c0.expand(batch_size, -1)),
        )

    def step(self, x: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        """One time step: x (B, input_size) -> (output logits (B, output_size), new state).

        Order as in the paper: the controller sees the input and the previous reads; heads write,
        then read the updated memory; the output sees the controller and the new reads.
        """
        h, c = self.controller(torch.cat([x, *state.reads], dim=-1), state.controller)
        memory = state.memory
        write_weights = []
        for head, w_prev in zip(self.write_heads, state.write_weights):
            memory, w = head(h, memory, w_prev)
            write_weights.append(w)
        reads, read_weights = [], []
        for head, w_prev in zip(self.read_heads, state.read_weights):
            r, w = head(h, memory, w_prev)
            reads.append(r)
            read_weights.append(w)
        y = self.out(torch.cat([h, *reads], dim=-1))
        return y, NTMState(memory, read_weights, write_weights, reads, (h, c))

    def forward(
        self, xs: Tensor, state: NTMState | None = None, trace: NTMTrace | None = None
    ) -> tuple[Tensor, NTMState]:
        """xs (T, B, input_size) -> (logits (T, B, output_size), final state). Fills ``trace`` if given."""
        state = state if state is not None else self.initial_state(xs.shape[1])
        ys = []
        for x in xs:
            y, state = self.step(x, state)
            ys.append(y)
            if trace is not None:
                trace.read_weights.append(state.read_weights[0].detach())
                trace.write_weights.append(state.write_weights[0].detach())
        return torch.stack(ys), state
