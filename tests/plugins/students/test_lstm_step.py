"""The fast LSTM step: with a graph, one autograd node with the graph-free pass's values and
the equations' gradients."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.plugins.students._lstm import lstm_weights, run_lstm, simple_lstm_step
from amalg.plugins.students._lstm_step import lstm_forward, lstm_step_autograd


def _setup(count: int, layers: int, dtype: torch.dtype = torch.float64):
    student = amalg.create("student", "rnnprop", layers=layers).to(dtype)
    student.reset_parameters(torch.Generator().manual_seed(layers))
    generator = torch.Generator().manual_seed(count)
    x = torch.randn(count, 2, generator=generator, dtype=dtype)
    h = torch.randn(layers, count, 20, generator=generator, dtype=dtype)
    c = torch.randn(layers, count, 20, generator=generator, dtype=dtype)
    return student, [t.requires_grad_() for t in (x, h, c)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("count", [50, 1898])
def test_the_node_computes_the_graph_free_pass_bit_for_bit(dtype, count):
    student, (x, h, c) = _setup(count, 2, dtype)
    node = lstm_step_autograd(lstm_weights(student, 2), 2, x, h, c)
    plain = lstm_forward(lstm_weights(student, 2), 2, x, h, c)[:3]
    for a, b in zip(node, plain, strict=True):
        assert torch.equal(a, b)


# Which outputs the loss reads: the others' upstream gradients are None.
USES = {"all": (1, 1, 1), "output only": (1, 0, 0), "cells only": (0, 0, 1), "states": (0, 1, 1)}


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("uses", list(USES))
def test_the_backward_pass_gives_the_equations_gradients(layers, uses):
    student, inputs = _setup(30, layers)
    wanted = [*inputs, *lstm_weights(student, layers)]
    weights = torch.tensor(USES[uses], dtype=torch.float64)

    def loss(out, hs, cs):
        return (
            weights[0] * out.sin().sum()
            + weights[1] * (hs * 1.3).cos().sum()
            + weights[2] * (cs**2).sum()
        )

    # Outputs the loss does not read stay out of the graph (None upstream gradients).
    def read(outputs):
        return loss(*(t if w else t.detach() for t, w in zip(outputs, weights, strict=True)))

    got = torch.autograd.grad(read(lstm_step_autograd(wanted[3:], layers, *inputs)), wanted)
    want = torch.autograd.grad(
        read(simple_lstm_step(student, layers, *inputs)), wanted, allow_unused=True
    )
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(
            a, torch.zeros_like(a) if b is None else b, rtol=1e-10, atol=1e-12
        )


def test_the_node_passes_gradcheck():
    student, (x, h, c) = _setup(4, 2)
    weights = [w.detach().clone().requires_grad_() for w in lstm_weights(student, 2)]

    def step(x, h, c, *weights):
        return lstm_step_autograd(list(weights), 2, x, h, c)

    assert torch.autograd.gradcheck(step, (x, h, c, *weights))


def test_it_is_differentiated_once_and_says_so_if_asked_twice():
    student, (x, h, c) = _setup(5, 2)
    weights = lstm_weights(student, 2)
    out, _, _ = lstm_step_autograd(weights, 2, x, h, c)
    (grad,) = torch.autograd.grad(out.pow(2).sum(), [weights[0]], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


def test_run_lstm_takes_the_node_where_a_graph_is_wanted():
    student, (x, h, c) = _setup(10, 2)
    out, _, _ = run_lstm(student, 2, x, h, c)
    assert "LSTMStep" in type(out.grad_fn).__name__
    with torch.no_grad():
        assert run_lstm(student, 2, x, h, c)[0].grad_fn is None


def test_the_weights_must_match_the_layers():
    student, (x, h, c) = _setup(3, 2)
    with pytest.raises(ValueError, match="2 layers take 6 weights, not 3"):
        lstm_step_autograd(lstm_weights(student, 1), 2, x, h, c)
