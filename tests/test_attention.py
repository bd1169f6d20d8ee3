"""nqa.attention against hand-computed values, gradcheck, masks, NaN traps, bfloat16, extreme sharpness."""
from __future__ import annotations

import doctest
import math

import pytest
import torch

from nqa import attention as A

torch.set_num_threads(1)


def t(*rows, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype)


# ---------------------------------------------------------------- hand-computed values


def test_doctests():
    assert doctest.testmod(A).failed == 0


def test_masked_softmax_values_and_all_masked_row():
    logits = t([0.0, math.log(3.0), 7.0], [1.0, 2.0, 3.0])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    out = A.masked_softmax(logits, mask)
    assert torch.allclose(out[0], t(0.25, 0.75, 0.0))
    assert torch.equal(out[1], torch.zeros(3, dtype=torch.float64))


def test_masked_softmax_other_dim_and_neg_inf():
    logits = t([0.0, float("-inf")], [0.0, float("-inf")])
    out = A.masked_softmax(logits, dim=0)
    assert torch.allclose(out[:, 0], t(0.5, 0.5)) and torch.equal(out[:, 1], torch.zeros(2, dtype=torch.float64))


def test_cosine_similarity_by_hand_and_zero_vectors():
    memory = t([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])  # (1, 3, 2)
    key = t([2.0, 0.0])
    sim = A.similarity(memory, key, "cosine")
    assert torch.allclose(sim, t([1.0, 1 / math.sqrt(2), 0.0]), atol=1e-6)
    assert torch.allclose(A.similarity(memory, key, "dot"), t([2.0, 2.0, 0.0]))
    zero_key = A.similarity(memory, torch.zeros(1, 2, dtype=torch.float64))
    assert torch.equal(zero_key, torch.zeros(1, 3, dtype=torch.float64))


def test_content_address_by_hand():
    memory = t([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    key = t([1.0, 0.0])
    w = A.content_address(memory, key, beta=t([2.0]), similarity="cosine")
    e = torch.exp(t(2.0, 0.0, -2.0))  # beta * cos = 2, 0, -2
    assert torch.allclose(w[0], e / e.sum(), atol=1e-6)
    masked = A.content_address(memory, key, t([2.0]), mask=torch.tensor([[False, True, True]]))
    e = torch.exp(t(0.0, -2.0))
    assert masked[0, 0] == 0 and torch.allclose(masked[0, 1:], e / e.sum(), atol=1e-6)


def test_content_address_beta_zero_is_uniform_and_beta_shapes_agree():
    memory = torch.randn(2, 5, 3, dtype=torch.float64)
    key = torch.randn(2, 3, dtype=torch.float64)
    assert torch.allclose(A.content_address(memory, key, 0.0), torch.full((2, 5), 0.2, dtype=torch.float64))
    beta = t(1.5, 3.0)
    assert torch.allclose(A.content_address(memory, key, beta), A.content_address(memory, key, beta.unsqueeze(1)))


def test_interpolate_by_hand():
    w, w_prev = t([1.0, 0.0, 0.0]), t([0.0, 0.0, 1.0])
    assert torch.allclose(A.interpolate(w, w_prev, t([0.25])), t([0.25, 0.0, 0.75]))


def test_shift_circular_by_hand():
    w = t([0.1, 0.2, 0.3, 0.4])
    # s over offsets (-1, 0, +1): +1 moves weight from slot i to i+1, wrapping
    assert torch.allclose(A.shift(w, t([0.0, 0.0, 1.0])), t([0.4, 0.1, 0.2, 0.3]))
    assert torch.allclose(A.shift(w, t([1.0, 0.0, 0.0])), t([0.2, 0.3, 0.4, 0.1]))
    mixed = A.shift(w, t([0.5, 0.0, 0.5]))
    assert torch.allclose(mixed, 0.5 * t([0.2, 0.3, 0.4, 0.1]) + 0.5 * t([0.4, 0.1, 0.2, 0.3]))


def test_shift_not_circular_zero_fill_and_mask():
    w = t([0.1, 0.2, 0.3, 0.4])
    assert torch.allclose(A.shift(w, t([0.0, 0.0, 1.0]), circular=False), t([0.0, 0.1, 0.2, 0.3]))  # next
    assert torch.allclose(A.shift(w, t([1.0, 0.0, 0.0]), circular=False), t([0.2, 0.3, 0.4, 0.0]))  # previous
    # a 3-row table padded to 4: "next" of the last real row falls onto padding and is dropped
    mask = torch.tensor([[True, True, True, False]])
    assert torch.allclose(A.shift(w, t([0.0, 0.0, 1.0]), circular=False, mask=mask), t([0.0, 0.1, 0.2, 0.0]))


def test_shift_wider_range_and_batch_rows_independent():
    w = torch.eye(5, dtype=torch.float64)[:2]  # rows focused on slots 0 and 1
    s = torch.zeros(2, 5, dtype=torch.float64)  # offsets -2..2
    s[0, 4] = 1.0  # +2
    s[1, 0] = 1.0  # -2
    out = A.shift(w, s)
    assert out[0].argmax() == 2 and out[1].argmax() == 4
    shared = A.shift(w, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))  # one s for the whole batch
    assert torch.equal(shared, torch.roll(w, 1, -1))


def test_shift_by_matches_ops_semantics():
    rows = t([1.0, 0.0, 1.0])[0]
    assert torch.equal(A.shift_by(rows, 1, circular=False), t([0.0, 1.0, 0.0])[0])  # next: i-1 in s
    assert torch.equal(A.shift_by(rows, -1, circular=False), t([0.0, 1.0, 0.0])[0])  # previous: i+1 in s
    assert torch.equal(A.shift_by(rows, 5, circular=False), torch.zeros(3, dtype=torch.float64))


def test_sharpen_by_hand():
    w = t([0.5, 0.25, 0.25, 0.0])
    assert torch.allclose(A.sharpen(w, t([2.0])), t([2 / 3, 1 / 6, 1 / 6, 0.0]))
    assert torch.allclose(A.sharpen(w, 1.0), w)


def test_read_write_by_hand():
    memory = t([[1.0, 1.0], [2.0, 2.0]])
    w = t([0.5, 0.0])
    new = A.write(memory, w, erase=t([1.0, 0.0]), add=t([4.0, 0.0]))
    assert torch.allclose(new, t([[0.5 * 1 + 2.0, 1.0], [2.0, 2.0]]))
    assert torch.equal(memory, t([[1.0, 1.0], [2.0, 2.0]]))  # not modified in place
    assert torch.allclose(A.read(new, t([0.5, 0.5])), t([2.25, 1.5]))


def test_dot_and_additive_attention_by_hand():
    q = t([1.0, 0.0])
    keys = t([[2.0, 0.0], [0.0, 2.0]])
    scores = A.dot_scores(q, keys)
    assert torch.allclose(scores, t([2 / math.sqrt(2), 0.0]))
    w = A.dot_attention(q, keys, mask=torch.tensor([[False, True]]))
    assert torch.equal(w, t([0.0, 1.0]))
    v = torch.tensor([1.0, -1.0], dtype=torch.float64)
    add = A.additive_scores(q, keys, v)  # v · tanh(q + k)
    assert torch.allclose(add, t([math.tanh(3.0) - 0.0, math.tanh(1.0) - math.tanh(2.0)]))
    assert torch.allclose(A.additive_attention(q, keys, v).sum(-1), t(1.0))


def test_pointer_softmax_variable_lengths_and_empty_set():
    scores = t([1.0, 1.0, 5.0], [0.0, 0.0, 0.0], [3.0, 1.0, 2.0])
    out = A.pointer_softmax(scores, lengths=torch.tensor([2, 0, 3]))
    assert torch.allclose(out[0], t(0.5, 0.5, 0.0))
    assert torch.equal(out[1], torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(out[2], torch.softmax(scores[2], -1))
    cold = A.pointer_softmax(scores[2:], temperature=0.01)
    assert torch.allclose(cold, t(1.0, 0.0, 0.0))
    with pytest.raises(A.AttentionError):
        A.pointer_softmax(scores, temperature=0.0)


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(A.AttentionError):
        A.similarity(torch.zeros(1, 3, 2), torch.zeros(1, 4))
    with pytest.raises(A.AttentionError):
        A.shift(torch.zeros(1, 4), torch.zeros(1, 2))
    with pytest.raises(A.AttentionError):
        A.shift(torch.zeros(2, 4), torch.zeros(3, 3))
    with pytest.raises(A.AttentionError):
        A.similarity(torch.zeros(1, 3, 2), torch.zeros(1, 2), "euclid")
    with pytest.raises(ValueError):  # AttentionError is a ValueError
        A.masked_softmax(torch.zeros(2, 3), torch.ones(4, 3, dtype=torch.bool))


# ---------------------------------------------------------------- gradients


def _inputs(b=2, n=5, w=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    memory = torch.randn(b, n, w, generator=g, dtype=torch.float64, requires_grad=True)
    key = torch.randn(b, w, generator=g, dtype=torch.float64, requires_grad=True)
    return memory, key, g


def test_gradcheck_addressing_chain():
    memory, key, g = _inputs()
    w_prev = torch.softmax(torch.randn(2, 5, generator=g, dtype=torch.float64), -1).requires_grad_()
    beta = torch.rand(2, 1, generator=g, dtype=torch.float64).add(0.5).requires_grad_()
    gate = torch.rand(2, 1, generator=g, dtype=torch.float64).requires_grad_()
    s = torch.softmax(torch.randn(2, 3, generator=g, dtype=torch.float64), -1).requires_grad_()
    gamma = torch.rand(2, 1, generator=g, dtype=torch.float64).add(1.0).requires_grad_()
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    for circular in (True, False):
        def f(m, k, wp, b_, g_, s_, gm, circular=circular):
            return A.address(m, wp, k, b_, g_, s_, gm, mask=mask, circular=circular)
        assert torch.autograd.gradcheck(f, (memory, key, w_prev, beta, gate, s, gamma))


@pytest.mark.parametrize("kind", ["cosine", "dot"])
def test_gradcheck_content_address_with_all_masked_row(kind):
    memory, key, _ = _inputs()
    mask = torch.tensor([[True, False, True, True, False], [False] * 5])
    beta = torch.tensor([[2.0], [1.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m, k, b_: A.content_address(m, k, b_, mask, kind), (memory, key, beta))


def test_gradcheck_attention_and_pointer():
    memory, key, g = _inputs()
    v = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, False, True, True], [True, False, False, False, False]])
    assert torch.autograd.gradcheck(lambda q, k, v_: A.additive_attention(q, k, v_, mask), (key, memory, v))
    assert torch.autograd.gradcheck(lambda q, k: A.dot_attention(q, k, mask), (key, memory))
    scores = torch.randn(2, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: A.pointer_softmax(x, lengths=torch.tensor([3, 0])), (scores,))


def test_gradcheck_write_read():
    memory, key, g = _inputs()
    w = torch.softmax(torch.randn(2, 5, generator=g, dtype=torch.float64), -1).requires_grad_()
    erase = torch.rand(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda m, w_, e, a: A.read(A.write(m, w_, e, a), w_), (memory, w, erase, key))


# ---------------------------------------------------------------- NaN traps


def test_no_nan_zero_vectors_gamma_on_zeros_all_masked():
    memory = torch.zeros(2, 4, 3, requires_grad=True)
    key = torch.zeros(2, 3, requires_grad=True)
    beta = torch.ones(2, 1, requires_grad=True)
    gamma = torch.full((2, 1), 3.0, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [False] * 4])
    wc = A.content_address(memory, key, beta, mask)
    assert torch.allclose(wc[0], torch.tensor([0.5, 0.5, 0.0, 0.0])) and torch.equal(wc[1], torch.zeros(4))
    shifted = A.shift(torch.tensor([[0.0, 0.0, 0.0, 1.0], [0.0] * 4]), torch.tensor([[0.0, 0.0, 1.0]] * 2),
                      circular=False)  # the only weight falls off the end: an all-zero row
    out = A.sharpen(shifted + 0 * wc, gamma)
    assert torch.equal(out, torch.zeros(2, 4))
    (wc.sum() + out.sum() + A.sharpen(wc, gamma).sum()).backward()
    for p in (memory, key, beta, gamma):
        assert torch.isfinite(p.grad).all()


def test_sharpen_gradient_wrt_gamma_finite_with_zero_weights():
    w = torch.tensor([[0.7, 0.3, 0.0]], dtype=torch.float64, requires_grad=True)
    gamma = torch.tensor([[2.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w_, g_: A.sharpen(w_ + 0, g_), (w, gamma))
    A.sharpen(w, gamma)[0, 0].backward()
    assert torch.isfinite(w.grad).all() and torch.isfinite(gamma.grad).all()


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_dtypes(dtype):
    memory, key, g = _inputs(b=3, n=16, w=8)
    memory, key = memory.detach().to(dtype), key.detach().to(dtype)
    w_prev = torch.softmax(torch.randn(3, 16, generator=g), -1).to(dtype)
    ones = torch.ones(3, 1, dtype=dtype)
    s = torch.tensor([[0.1, 0.8, 0.1]] * 3, dtype=dtype)
    mask = torch.ones(3, 16, dtype=torch.bool)
    mask[2] = False
    w = A.address(memory, w_prev, key, 5 * ones, 0.5 * ones, s, 2 * ones, mask=mask)
    ref = A.address(memory.double(), w_prev.double(), key.double(), 5 * ones.double(), 0.5 * ones.double(),
                    s.double(), 2 * ones.double(), mask=mask)
    assert w.dtype == dtype and torch.isfinite(w).all()
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert torch.allclose(w.double(), ref, atol=tol)
    assert torch.equal(w[2].float(), torch.zeros(16))
    att = A.additive_attention(key, memory, torch.ones(8, dtype=dtype), mask)
    assert att.dtype == dtype and torch.allclose(att[:2].float().sum(-1), torch.ones(2), atol=tol)


# ---------------------------------------------------------------- soft vs exact at extreme sharpness


def test_extreme_sharpness_gives_exact_argmax():
    """beta = gamma = 100: the soft chain equals the exact (hard) lookup + shift, as one-hot vectors."""
    g = torch.Generator().manual_seed(3)
    b, n, w = 8, 32, 10
    memory = torch.randn(b, n, w, generator=g)
    target = torch.randint(0, n, (b,), generator=g)
    key = memory[torch.arange(b), target] + 0.05 * torch.randn(b, w, generator=g)  # noisy copy of a row
    hundred = torch.full((b, 1), 100.0)
    exact_content = torch.nn.functional.one_hot(A.similarity(memory, key).argmax(-1), n).float()
    wc = A.content_address(memory, key, hundred)
    assert torch.allclose(A.sharpen(wc, hundred), exact_content, atol=1e-4)
    # full chain with g = 1 (pure content), a shift of +1 and gamma = 100
    s = torch.tensor([[0.05, 0.15, 0.8]]).expand(b, 3)
    soft = A.address(memory, torch.zeros(b, n), key, hundred, torch.ones(b, 1), s, hundred)
    exact = torch.roll(exact_content, 1, dims=-1)
    assert torch.allclose(soft, exact, atol=1e-4)
    # sharpening a near-uniform row does not underflow to zeros
    near_uniform = torch.full((1, 128), 1 / 128) + torch.linspace(0, 1e-4, 128)
    sharp = A.sharpen(near_uniform, 100.0)
    assert sharp.argmax() == 127 and torch.isclose(sharp.sum(), torch.tensor(1.0))
