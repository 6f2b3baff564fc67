"""The coordinate-wise LSTM's fast step equals its equations, chunked or not."""

from __future__ import annotations

import torch

import amalg
from amalg.core.functional import chunk_rows
from amalg.plugins.students._lstm import GPU_ROWS, ROWS, lstm_step, run_lstm, simple_lstm_step


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


def test_chunks_are_sized_for_the_device_the_work_is_on() -> None:
    # The meta device stands for a GPU here: anything but the CPU takes the large chunks.
    assert chunk_rows(torch.empty(3), ROWS, GPU_ROWS) == ROWS
    assert chunk_rows(torch.empty(3, device="meta"), ROWS, GPU_ROWS) == GPU_ROWS
    assert GPU_ROWS > 16 * ROWS
