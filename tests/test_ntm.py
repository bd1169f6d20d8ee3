"""The NTM: head wiring, explicit state, gradients, checkpoint round trip, and a copy-task smoke run."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from nqa.ntm import NTM, NTMConfig, NTMTrace, address_size, squash_address
from training import copy_task

torch.set_num_threads(1)


def small_ntm(**kw) -> NTM:
    torch.manual_seed(0)
    return NTM(NTMConfig(input_size=5, output_size=4, controller_size=16, memory_slots=10, memory_width=6, **kw))


def test_squash_address_ranges():
    raw = torch.randn(7, address_size(6, 1)) * 3
    p = squash_address(raw, width=6, shift_range=1)
    assert p.key.shape == (7, 6) and p.key.abs().max() <= 1
    assert (p.beta >= 0).all() and ((p.g > 0) & (p.g < 1)).all() and (p.gamma >= 1).all()
    assert p.s.shape == (7, 3) and torch.allclose(p.s.sum(-1), torch.ones(7))


def test_head_with_saturated_outputs_moves_focus_by_one_slot():
    """g -> 0 (keep the previous location), s -> +1, gamma large: the head just steps forward."""
    model = small_ntm()
    head = model.read_heads[0]
    with torch.no_grad():
        head.fc.weight.zero_()
        bias = torch.zeros(address_size(6, 1))
        bias[6] = 0.0  # beta (irrelevant once g = 0)
        bias[7] = -20.0  # g
        bias[8:11] = torch.tensor([-20.0, -20.0, 20.0])  # s over (-1, 0, +1)
        bias[11] = 20.0  # gamma = 1 + softplus(20)
        head.fc.bias.copy_(bias)
    memory = torch.randn(2, 10, 6)
    w_prev = torch.nn.functional.one_hot(torch.tensor([3, 9]), 10).float()
    r, w = head(torch.zeros(2, 16), memory, w_prev)
    assert torch.equal(w.argmax(-1), torch.tensor([4, 0]))  # circular: 9 -> 0
    assert torch.allclose(w, torch.roll(w_prev, 1, -1), atol=1e-5)
    assert torch.allclose(r, memory[torch.arange(2), torch.tensor([4, 0])], atol=1e-4)


def test_step_is_pure_in_the_state():
    model = small_ntm(read_heads=2, write_heads=1)
    state = model.initial_state(3)
    before = state.memory.clone()
    y, new = model.step(torch.randn(3, 5), state)
    assert y.shape == (3, 4)
    assert torch.equal(state.memory, before)  # the old state is untouched
    assert not torch.equal(new.memory, before)  # the write changed the new one
    assert len(new.reads) == 2 and new.reads[0].shape == (3, 6)
    for w in new.read_weights + new.write_weights:
        assert torch.allclose(w.sum(-1), torch.ones(3), atol=1e-5)
    assert not any(isinstance(v, torch.Tensor) and v.dim() == 3 for v in vars(model).values())


def test_forward_trace_and_gradients_reach_every_parameter():
    model = small_ntm()
    trace = NTMTrace()
    ys, final = model(torch.randn(6, 2, 5), trace=trace)
    assert ys.shape == (6, 2, 4) and len(trace.read_weights) == 6 and trace.write_weights[0].shape == (2, 10)
    ys.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_copy_task_batch_layout():
    x, y = copy_task.make_batch(3, 4, torch.Generator().manual_seed(0))
    assert x.shape == (9, 3, 9) and y.shape == (4, 3, 8)
    assert torch.equal(x[:4, :, :8], y) and (x[4, :, 8] == 1).all() and (x[5:] == 0).all()
    assert copy_task.bit_errors(torch.where(y > 0, 5.0, -5.0), y).sum() == 0


def test_copy_task_smoke_run(tmp_path, capsys):
    """A few seconds of training end to end: JSON last line, plots, a checkpoint that reloads."""
    out = tmp_path / "copy"
    copy_task.main(["--max-batches", "25", "--threads", "1", "--compile", "0", "--controller-size", "32",
                    "--memory-slots", "64", "--eval-sequences", "4", "--eval-len", "5", "--eval-long-min", "6",
                    "--eval-long-max", "7", "--max-len", "4", "--out", str(out), "--log-every", "10"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["batches"] == 25
    assert 0 <= result["bit_errors_per_sequence_len5"] <= 5 * 8
    assert 0 <= result["bit_errors_per_sequence_len6_7"] <= 7 * 8
    assert (out / "copy_len5.png").stat().st_size > 1000 and (out / "copy_len7.png").exists()
    cfg = json.loads((out / "config.json").read_text())
    model = NTM(NTMConfig(**cfg["ntm"]))
    model.load_state_dict(load_file(str(out / "model.safetensors")))
    x, _ = copy_task.make_batch(2, 3, torch.Generator().manual_seed(0))
    assert torch.isfinite(model(x)[0]).all()


def test_copy_task_rejects_unknown_flags():
    with pytest.raises(SystemExit):
        copy_task.parse_args(["--no-such-flag", "1"])


@pytest.mark.slow
def test_copy_task_seed1_learns_the_algorithm(tmp_path, capsys):
    """Seed 1 finds write-shift-read at ~2.7k batches (deterministic: same numbers on every rerun);
    2-3 CPU minutes on one thread."""
    copy_task.main(["--seed", "1", "--threads", "1", "--max-batches", "3200", "--minutes", "30",
                    "--out", str(tmp_path)])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["curriculum_reached"] == 20 and result["restarts"] == 0
    assert result["bit_errors_per_sequence_len20"] <= 1.0
