"""The coordinate-wise LSTM's fast step equals its equations, chunked or not."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.plugins.students import _lstm
from amalg.plugins.students._lstm import ROWS, lstm_step, run_lstm, simple_lstm_step


def _inputs(count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(count, 2, generator=generator, dtype=torch.float64)
    h = torch.randn(2, count, 20, generator=generator, dtype=torch.float64)
    c = torch.randn(2, count, 20, generator=generator, dtype=torch.float64)
    return x, h, c


def test_the_fast_step_equals_the_equations_and_passes_the_same_gradient() -> None:
    student = amalg.create("student", "rnnprop").double()
    x, h, c = _inputs(50)
    fast, simple = lstm_step(student, 2, x, h, c), simple_lstm_step(student, 2, x, h, c)
    for a, b in zip(fast, simple, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    phi = [p for p in student.parameters() if p.requires_grad]
    grads = [
        torch.autograd.grad(sum(t.sum() for t in out), phi, allow_unused=True)
        for out in (fast, simple)
    ]
    for a, b in zip(*grads, strict=True):
        if a is not None or b is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_without_a_graph_chunks_give_the_whole_step() -> None:
    student = amalg.create("student", "rnnprop").double()
    x, h, c = _inputs(50)
    with torch.no_grad():
        whole = lstm_step(student, 2, x, h, c)
        chunked = run_lstm(student, 2, x, h, c, rows=7)
    for a, b in zip(chunked, whole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_a_step_that_keeps_a_graph_is_not_chunked() -> None:
    student = amalg.create("student", "rnnprop").double()
    out, h, _ = run_lstm(student, 2, *_inputs(50), rows=7)
    assert out.grad_fn is not None and h.grad_fn is not None
    assert "CopySlices" not in type(out.grad_fn).__name__


@pytest.mark.parametrize(("device", "chunks"), [("cpu", 3), ("meta", 1)])
def test_chunks_are_sized_by_the_device(monkeypatch, device: str, chunks: int) -> None:
    # The meta device stands for a GPU (shapes only): off the CPU, 3 x ROWS coordinates of
    # 20-unit gates fit in one chunk; on the CPU they take three.
    sizes: list[int] = []

    def counted(*args):
        sizes.append(args[2].shape[0])
        return lstm_step(*args)

    monkeypatch.setattr(_lstm, "lstm_step", counted)
    student = amalg.create("student", "rnnprop").double().to(device)
    with torch.no_grad():
        out, _, _ = run_lstm(student, 2, *(t.to(device) for t in _inputs(3 * ROWS)))
    assert len(sizes) == chunks and sum(sizes) == 3 * ROWS and out.shape[0] == 3 * ROWS
