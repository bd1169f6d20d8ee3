"""ACT: the halting rule by hand, weights sum to 1, step limit, ponder gradient, the wrapper, a demo smoke run."""
from __future__ import annotations

import doctest
import json

import pytest
import torch

from nqa import act
from nqa.act import AdaptiveComputation, Halter, halting_bias_for, halting_weights, tau_schedule
from training import act_demo

torch.set_num_threads(1)


def test_doctests():
    assert doctest.testmod(act).failed == 0


@pytest.mark.parametrize(
    "h, eps, limit, weights, n, r",
    [
        # 0.2 + 0.5 < 0.99; + 0.9 crosses at step 3: p = (0.2, 0.5, R = 0.3)
        ([0.2, 0.5, 0.9, 0.9], 0.01, None, [0.2, 0.5, 0.3, 0.0], 3, 0.3),
        # halts at once: N = 1, R = 1 (h_1 itself is not used as a weight)
        ([0.995, 0.1, 0.1], 0.01, None, [1.0, 0.0, 0.0], 1, 1.0),
        # eps matters: 0.5 + 0.49 = 0.99 >= 1 - 0.01 halts at step 2 ...
        ([0.5, 0.49, 0.9], 0.01, None, [0.5, 0.5, 0.0], 2, 0.5),
        # ... but not with eps = 0.001
        ([0.5, 0.49, 0.9], 0.001, None, [0.5, 0.49, 0.01], 3, 0.01),
        # step limit: tiny h never crosses; step 4 halts with R = 1 - 0.03
        ([0.01] * 6, 0.01, 4, [0.01, 0.01, 0.01, 0.97, 0.0, 0.0], 4, 0.97),
        # never crosses within T and no limit: the last column halts
        ([0.1, 0.1], 0.01, None, [0.1, 0.9], 2, 0.9),
    ],
)
def test_halting_by_hand(h, eps, limit, weights, n, r):
    out = halting_weights(torch.tensor([h], dtype=torch.float64), eps=eps, max_steps=limit)
    assert torch.allclose(out.weights, torch.tensor([weights], dtype=torch.float64))
    assert out.steps.item() == n
    assert out.remainder.item() == pytest.approx(r)
    assert out.ponder.item() == pytest.approx(n + r)
    assert out.mask.sum().item() == n


def test_random_weights_sum_to_one_and_respect_limit():
    g = torch.Generator().manual_seed(0)
    h = torch.rand(64, 12, generator=g) ** 3  # many small h: exercises the limit
    for limit in (1, 3, 12):
        out = halting_weights(h, max_steps=limit)
        assert torch.allclose(out.weights.sum(1), torch.ones(64))
        assert (out.weights >= 0).all() and (out.steps <= limit).all() and (out.steps >= 1).all()
        assert (out.weights[:, limit:] == 0).all()
        assert (out.weights * ~out.mask == 0).all()


def test_halter_matches_the_batched_rule():
    g = torch.Generator().manual_seed(1)
    h = torch.rand(32, 8, generator=g)
    ref = halting_weights(h, eps=0.05, max_steps=6)
    halter = Halter(32, eps=0.05, max_steps=6)
    while not halter.done:
        halter.step(h[:, halter.t])
    got = halter.result()
    assert torch.equal(got.steps, ref.steps)
    assert torch.allclose(got.weights, ref.weights[:, : got.weights.shape[1]])
    assert torch.allclose(got.ponder, ref.ponder)
    with pytest.raises(act.ACTError):
        Halter(2, max_steps=1).result()  # nobody has halted yet


def test_ponder_gradient_flows_through_the_remainder_only():
    h = torch.tensor([[0.2, 0.5, 0.9, 0.9]], requires_grad=True)
    halting_weights(h).ponder.sum().backward()
    # ponder = N + 1 - h_1 - h_2: d/dh = -1 before the halting step, 0 at and after it
    assert torch.equal(h.grad, torch.tensor([[-1.0, -1.0, 0.0, 0.0]]))


def test_collapse_trap_halting_at_step_one_gets_no_gradient():
    """Why the bias starts negative: once every input halts at step 1, p = (1, 0, ...) whatever h is,
    so neither the task loss nor the ponder cost sends any gradient to the halting unit."""
    h = torch.tensor([[0.995, 0.3, 0.3]], requires_grad=True)
    out = halting_weights(h)
    (out.weights * torch.tensor([[1.0, 5.0, 9.0]])).sum().add(out.ponder.sum()).backward()
    assert torch.equal(h.grad, torch.zeros(1, 3))


def test_initial_bias_is_negative_and_gives_the_asked_steps():
    assert halting_bias_for(3.0) < 0 and halting_bias_for(1.5) > 0
    model = AdaptiveComputation(hidden_size=4, initial_steps=4.0)
    assert torch.allclose(model.halting_prob(torch.randn(5, 4)), torch.full((5,), 0.25))
    with pytest.raises(act.ACTError):
        halting_bias_for(1.0)


def test_tau_schedule():
    assert tau_schedule(0, 0.01, warmup=10, ramp=10) == 0.0
    assert tau_schedule(9, 0.01, warmup=10, ramp=10) == 0.0
    assert tau_schedule(14, 0.01, warmup=10, ramp=10) == pytest.approx(0.005)
    assert tau_schedule(1000, 0.01, warmup=10, ramp=10) == 0.01


def test_wrapper_weights_outputs_by_step_and_halts_per_example():
    """y_n = n; the hidden vector drives h: example 0 halts at once, example 1 runs to the limit."""
    model = AdaptiveComputation(hidden_size=1, max_steps=5, initial_steps=2.0)
    with torch.no_grad():
        model.halt.weight.fill_(1.0)
        model.halt.bias.zero_()
    hidden = torch.tensor([[10.0], [-20.0]])  # sigmoid: ~1 and ~0
    calls = []

    def step(state, n):
        calls.append(n)
        return state + 1, torch.full((2, 3), float(n)), hidden

    out = model(step, torch.zeros(2), batch_size=2)
    assert out.halting.steps.tolist() == [1, 5] and calls == [0, 1, 2, 3, 4]
    assert torch.allclose(out.output[0], torch.zeros(3))  # weight 1 on step 0
    assert out.output[1, 0].item() == pytest.approx(4.0, abs=1e-6)  # ~all weight on the last step
    assert torch.allclose(out.halting.weights.sum(1), torch.ones(2))
    assert out.state.tolist() == [5.0, 5.0]


def test_wrapper_stops_when_everyone_halted():
    model = AdaptiveComputation(hidden_size=2, max_steps=50, initial_steps=1.001)  # h ~ 1: one step
    out = model(lambda s, n: (s, torch.ones(3, 1), torch.zeros(3, 2)), None, batch_size=3)
    assert out.halting.weights.shape == (3, 1)


def test_act_demo_smoke_run(capsys, tmp_path):
    act_demo.main(["--max-updates", "30", "--eval-per-level", "8", "--max-difficulty", "4", "--slots", "6",
                   "--log-every", "10", "--out", str(tmp_path)])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    steps = result["mean_steps_per_difficulty"]
    assert sorted(steps) == ["1", "2", "3", "4"] and all(1 <= s <= 12 for s in steps.values())
    assert result["updates"] == 30
    assert (tmp_path / "act_steps.png").stat().st_size > 1000


@pytest.mark.slow
def test_act_demo_learns_steps_that_grow_with_difficulty(capsys, tmp_path):
    """The real claim (about 2 CPU minutes): the learned steps grow with the target offset."""
    act_demo.main(["--seed", "1", "--out", str(tmp_path)])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["steps_grow_with_difficulty"], result
    assert max(result["bit_error_rate_per_difficulty"].values()) < 0.05
