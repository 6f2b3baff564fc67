"""Building blocks of update rules: ``with_gradient`` gives a known gradient to a value."""

from __future__ import annotations

import pytest
import torch

from amalg.core.functional import with_gradient


def test_a_value_with_a_known_gradient_is_the_value_forward_and_the_gradient_backward():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, dtype=torch.float64, requires_grad=True)

    def f(a, b):
        return (a.sin() ** 2).sum() + (b**3).sum()

    with torch.no_grad():
        value = f(x, y)
    grads = torch.autograd.grad(f(x, y), [x, y])
    known = with_gradient(value, [x, y], list(grads))
    assert torch.equal(known.detach(), value)
    # Through a downstream function: the chain rule sees f's true gradient.
    got = torch.autograd.grad(torch.log(known) * 3, [x, y])
    want = torch.autograd.grad(torch.log(f(x, y)) * 3, [x, y])
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, rtol=1e-12)


def test_a_value_with_a_known_gradient_needs_one_gradient_per_input_and_a_scalar():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="one gradient per input"):
        with_gradient(torch.tensor(1.0), [x], [])
    with pytest.raises(ValueError, match=r"a scalar value, not one of shape \(2,\)"):
        with_gradient(torch.ones(2), [x], [torch.ones(2)])


def test_a_value_with_its_own_freed_graph_backpropagates_through_the_known_gradient_only():
    # A task's loss after its gradient was taken: its graph's buffers are freed.
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    loss = (x.exp() * x).sum()
    (grad,) = torch.autograd.grad(loss, [x])
    y = x * 2  # the parameters as a function of what the meta-gradient is taken against
    known = with_gradient(loss, [y], [grad])
    known.backward()  # a plain backward(), not autograd.grad: it must not reach loss's graph
    assert torch.allclose(x.grad, 2 * grad)
