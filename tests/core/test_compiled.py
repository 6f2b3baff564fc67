"""Compiled fast paths: compiled where a compiler works, None (and one warning) where none
does, and a student then runs its eager path."""

from __future__ import annotations

import warnings

import pytest
import torch

import amalg
from amalg.core.compiled import (
    Compiled,
    CompilerUnavailableWarning,
    failures,
    forget,
    students_with_compiled_path,
)
from amalg.plugins.students import small_fc_lopt


def scaled_norm(x: torch.Tensor, scale: float) -> torch.Tensor:
    return scale * (x * x + 1).rsqrt().sum()


@pytest.fixture
def no_compiler():
    """Inductor with a C++ compiler that does not exist, and no cached kernels to fall on
    (through torch's own config patches: setting these attributes directly leaves inductor's
    config broken for every later compilation in the process)."""
    import torch._inductor.config as inductor
    import torch.compiler.config as compiler

    with (
        inductor.patch({"cpp.cxx": ("no-such-c++-compiler",)}),
        compiler.patch(force_disable_caches=True),
    ):
        yield


def test_a_function_compiles_to_its_own_values():
    compiled = Compiled(scaled_norm, "a test function")
    x = torch.linspace(-2, 2, 7)
    assert torch.allclose(compiled(x, 3.0), scaled_norm(x, 3.0))
    assert compiled.failure is None


def test_without_a_compiler_it_warns_once_and_returns_none(no_compiler):
    compiled = Compiled(lambda x: (x * x).exp() + 1, "a test function")
    with pytest.warns(CompilerUnavailableWarning, match="cannot compile a test function.*C\\+\\+"):
        assert compiled(torch.ones(3)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compiled(torch.ones(3)) is None
    assert "compiler" in compiled.failure
    forget(compiled)  # failed on purpose: the checks of compiled paths must still run


def test_a_bug_in_the_function_is_not_taken_for_a_missing_compiler():
    def broken(x: torch.Tensor) -> torch.Tensor:
        return x @ torch.ones(5)  # shapes that do not match

    compiled = Compiled(broken, "a test function")
    with pytest.raises(Exception, match=r"size|shape|mismatch"):
        compiled(torch.ones(3))
    assert compiled.failure is None


def test_small_fc_lopt_runs_its_eager_path_where_compiling_failed(monkeypatch):
    failed = Compiled(small_fc_lopt.COMPILED.function, "small_fc_lopt's update")
    failed.failure = "no compiler (test)"
    monkeypatch.setattr(small_fc_lopt, "COMPILED", failed)
    student = amalg.create("student", "small_fc_lopt")
    params = {"w": torch.randn(4, 3), "b": torch.randn(3)}
    grads = {key: torch.randn_like(value) for key, value in params.items()}
    with torch.no_grad():
        expected, _ = student(grads, student.init(params), params, 2)
        actual, _ = student.use_compiler()(grads, student.init(params), params, 2)
    for key in params:
        assert torch.equal(actual[key], expected[key])


def test_a_failure_is_on_record_for_the_checks_that_need_a_compiler(no_compiler):
    compiled = Compiled(lambda x: x.sin() * 2, "another test function")
    with pytest.warns(CompilerUnavailableWarning):
        compiled(torch.ones(2))
    assert failures()["another test function"] == compiled.failure
    forget(compiled)
    assert "another test function" not in failures()


def test_the_students_with_a_compiled_path():
    assert students_with_compiled_path() == ["small_fc_lopt"]
