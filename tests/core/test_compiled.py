"""Compiled fast paths: compiled where a compiler works, None (and one warning) where none
does, and a student then runs its eager path."""

from __future__ import annotations

import warnings

import pytest
import torch

import amalg
from amalg.core import compiled as compiled_module
from amalg.core import functional
from amalg.core.compiled import (
    BATCH_ELEMENTS,
    BATCH_TENSORS,
    HOIST_ELEMENTS,
    Compiled,
    CompilerUnavailableWarning,
    batched,
    batches,
    bias_correction_op,
    each_batch,
    failures,
    forget,
    with_compiled_path,
)
from amalg.core.interfaces import _teacher_compiled
from amalg.plugins.students import small_fc_lopt
from amalg.plugins.teachers.signs import AddSign


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


def test_an_element_wise_teacher_runs_its_eager_path_where_compiling_failed(monkeypatch):
    failed = Compiled(_teacher_compiled.compiled_rule(AddSign).function, "addsign's update")
    failed.failure = "no compiler (test)"
    monkeypatch.setitem(_teacher_compiled._COMPILED, AddSign, failed)
    teacher = amalg.create("teacher", "addsign")
    params = {"w": torch.randn(4, 3), "b": torch.randn(3)}
    grads = {key: torch.randn_like(value) for key, value in params.items()}
    expected, _ = teacher.update(grads, teacher.init(params), params, 2)
    actual, _ = teacher.use_compiler().update(grads, teacher.init(params), params, 2)
    for key in params:
        assert torch.equal(actual[key], expected[key])


def test_the_rules_with_a_compiled_path():
    assert with_compiled_path("student") == ["small_fc_lopt"]
    teachers = with_compiled_path("teacher")
    assert {"adam", "addsign", "nadamw", "powersign", "sgd"} <= set(teachers)
    assert "trained" not in teachers  # a saved student: not an element-wise rule


def test_batches_keep_large_tensors_alone_and_pack_the_others_in_order():
    big = BATCH_ELEMENTS + 1
    assert batches([]) == []
    assert batches([big, 10, big, 20, 30]) == [[0], [2], [1, 3, 4]]
    assert batches([BATCH_ELEMENTS // 2 + 1] * 3) == [[0], [1], [2]]
    many = batches([1] * (BATCH_TENSORS + 1))
    assert [len(batch) for batch in many] == [BATCH_TENSORS, 1]
    sizes = [5, big, 7, 9, big, 3]
    assert sorted(index for batch in batches(sizes) for index in batch) == list(range(6))
    named = {"w": torch.zeros(big), "b": torch.zeros(3), "k": torch.zeros(2, 2)}
    assert batched(named) == [["w"], ["b", "k"]]


def test_each_batch_stops_at_the_first_failed_call_and_names_what_is_left():
    groups = [["a", "b"], ["c"], ["d", "e"]]
    seen: list[list[str]] = []
    assert each_batch(groups, lambda names: seen.append(names) is None) == []
    assert seen == groups
    assert each_batch(groups, lambda names: names != ["c"]) == ["c", "d", "e"]
    assert each_batch(groups, lambda names: False) == ["a", "b", "c", "d", "e"]
    assert each_batch([], lambda names: False) == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tanh_compiled_is_tanh(dtype):
    x = torch.cat(
        [
            torch.linspace(-30, 30, 601, dtype=dtype),
            torch.tensor([0.0, 1e-30, -1e-12, 1e-6, 19.99, 20.0, 25.0, -1e4], dtype=dtype),
        ]
    )
    compiled = Compiled(functional.tanh, "tanh")
    got = compiled(x)
    if got is None:
        pytest.skip(f"no working compiler here: {compiled.failure}")
    # Within epsilon in absolute terms (not relative ones near 0: 1 - e cancels there).
    tiny = torch.finfo(dtype).eps
    torch.testing.assert_close(got, torch.tanh(x), rtol=4 * tiny, atol=tiny)
    assert torch.equal(functional.tanh(x), torch.tanh(x))  # eagerly, torch's own


def test_the_hoisted_bias_correction_is_the_bias_correction():
    decay = torch.tensor(0.999, dtype=torch.float64)
    for step in (0, 1, 7, 1000):
        count = torch.tensor(float(step), dtype=torch.float64)
        hoisted = bias_correction_op(decay, count)
        assert hoisted.item() == pytest.approx(functional.bias_correction(0.999, step), rel=1e-15)


@pytest.mark.parametrize(
    ("name", "fields", "dtype", "tolerance"),
    [
        ("adam", {}, torch.float32, 1e-6),
        ("nadamw", {"horizon": 6, "warmup_fraction": 0.3, "min_lr_mult": 0.1}, torch.float64, 1e-9),
    ],
)
def test_a_large_tensor_compiled_beside_a_small_one_matches_the_eager_path(
    name, fields, dtype, tolerance
):
    # One call: the large tensor's bias correction hoisted out of its loop (an operation
    # inductor cannot see into), the small one's inline, and NAdamW's schedule as a tensor.
    generator = torch.Generator().manual_seed(0)
    params = {"big": torch.randn(HOIST_ELEMENTS + 16, generator=generator, dtype=dtype)}
    params["small"] = torch.randn(3, 5, generator=generator, dtype=dtype)
    runs = []
    for compile in (False, True):
        teacher = amalg.create("teacher", name, **fields).use_compiler(compile)
        state, seen, current = teacher.init(params), [], params
        for step in range(8):  # through the schedule's warmup and decay
            grads = {k: torch.randn(v.shape, generator=torch.Generator().manual_seed(step),
                                    dtype=dtype) for k, v in params.items()}  # fmt: skip
            with torch.no_grad():
                delta, state = teacher.update(grads, state, current, step)
            current = teacher.apply(current, delta)
            seen.append((delta, state))
        runs.append(seen)
    if failures():
        pytest.skip(f"no working compiler here: {failures()}")
    torch.testing.assert_close(runs[1], runs[0], rtol=tolerance, atol=tolerance * 1e-3)


def test_more_shapes_than_the_recompile_limit_warn_once_and_run_eagerly(monkeypatch):
    monkeypatch.setattr(compiled_module, "RECOMPILE_LIMIT", 1)
    compiled = Compiled(lambda x: x.cos() + 1, "a shape-hungry function")
    if compiled(torch.ones(2)) is None:
        pytest.skip(f"no working compiler here: {compiled.failure}")
    with pytest.warns(CompilerUnavailableWarning, match="more than 1 distinct batches"):
        assert compiled(torch.ones(3)) is None
    assert compiled(torch.ones(2)) is None  # from then on, the eager path
    forget(compiled)


def _problem(dtype=torch.float64):
    generator = torch.Generator().manual_seed(0)
    params = {"big": torch.randn(HOIST_ELEMENTS + 16, generator=generator, dtype=dtype)}
    params["small"] = torch.randn(3, 5, generator=generator, dtype=dtype)
    grads = {k: torch.randn(v.shape, generator=generator, dtype=dtype) for k, v in params.items()}
    return params, grads


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_compiled_step_in_place_writes_what_the_eager_one_does(scale):
    params, grads = _problem()
    runs = []
    for compile in (False, True):
        teacher = amalg.create("teacher", "addsign").use_compiler(compile)
        current = {key: value.clone() for key, value in params.items()}
        state = donated = teacher.init(current)
        with torch.no_grad():
            for step in range(3):
                state = teacher.step_in_place(grads, state, current, step, scale)
        # The new state is written into the donated tensors, in the rule's loop when compiled.
        assert all(state[s][k] is donated[s][k] for s in state for k in state[s])
        runs.append((current, state))
    if failures():
        pytest.skip(f"no working compiler here: {failures()}")
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-9, atol=1e-12)


def test_a_compiled_step_that_fails_halfway_steps_the_rest_eagerly_and_nothing_twice(monkeypatch):
    # The first batch is written by the compiled rule; the second batch's call fails (a
    # compiler that gives up on a new shape): that batch must take the eager path, once.
    calls = []

    def halfway(*args):
        calls.append(args)
        return _teacher_compiled._rules_applied(*args) if len(calls) == 1 else None

    monkeypatch.setitem(_teacher_compiled._APPLIED, AddSign, halfway)
    monkeypatch.setattr(compiled_module, "BATCH_ELEMENTS", HOIST_ELEMENTS)  # two calls
    params, grads = _problem()
    expected = {key: value.clone() for key, value in params.items()}
    teacher = amalg.create("teacher", "addsign")
    with torch.no_grad():
        want = teacher.step_in_place(grads, teacher.init(expected), expected, 0)
        got = teacher.use_compiler().step_in_place(grads, teacher.init(params), params, 0)
    assert len(calls) == 2
    torch.testing.assert_close((params, got), (expected, want), rtol=1e-12, atol=1e-15)


def test_small_fc_lopts_compiled_step_failing_halfway_steps_the_rest_eagerly_once(monkeypatch):
    # Like a teacher's: the first batch written by the compiled step (the donated state
    # written in place), the second batch's call fails and takes the eager path, once.
    calls, step = [], small_fc_lopt.STEPPED.function

    def halfway(*args):
        calls.append(args)
        return step(*args) if len(calls) == 1 else None

    monkeypatch.setattr(small_fc_lopt, "STEPPED", halfway)
    monkeypatch.setattr(compiled_module, "BATCH_ELEMENTS", 12)  # two calls
    generator = torch.Generator().manual_seed(3)
    params = {"w": torch.randn(4, 3, generator=generator), "b": torch.randn(5, generator=generator)}
    grads = {key: torch.randn(v.shape, generator=generator) for key, v in params.items()}
    expected = {key: value.clone() for key, value in params.items()}
    student = amalg.create("student", "small_fc_lopt")
    with torch.no_grad():
        want = student.step_in_place(grads, student.init(expected), expected, 2, 0.5)
        donated = student.init(params)
        got = student.use_compiler().step_in_place(grads, donated, params, 2, 0.5)
    assert len(calls) == 2
    assert got["w"]["m"] is donated["w"]["m"]  # the compiled batch wrote into the state
    torch.testing.assert_close((params, got), (expected, want), rtol=1e-5, atol=1e-7)


def test_the_cpp_wrapper_is_chosen_by_the_first_tensor_of_the_arguments():
    cpu = torch.zeros(1)
    meta = torch.zeros(1, device="meta")
    assert compiled_module._on_cpu(([], [None, (0, 1)], {"a": [cpu]}, meta))
    assert not compiled_module._on_cpu(([(0, 1)], {"m": meta}, cpu))
    assert not compiled_module._on_cpu((None, [], {}, 3.0))


def _wrapper_seen(monkeypatch, seen: list[bool]) -> None:
    """torch.compile's functions record whether inductor's C++ wrapper is on as they run."""
    import torch._inductor.config as inductor

    original = torch.compile

    def compile_spy(function, **kwargs):
        inner = original(function, **kwargs)

        def run(*args, **kw):
            seen.append(bool(inductor.cpp_wrapper))
            return inner(*args, **kw)

        return run

    monkeypatch.setattr(torch, "compile", compile_spy)


@pytest.mark.parametrize("wrapper", [True, False])
def test_a_cpu_call_compiles_with_the_cpp_wrapper_where_asked(monkeypatch, wrapper):
    import torch._inductor.config as inductor

    seen: list[bool] = []
    _wrapper_seen(monkeypatch, seen)
    compiled = Compiled(scaled_norm, "a test function", cpp_wrapper=wrapper)
    x = torch.randn(6 if wrapper else 7)  # a shape of its own: no graph of the other case
    assert torch.allclose(compiled(x, 2.0), scaled_norm(x, 2.0))
    assert seen == [wrapper] and not inductor.cpp_wrapper


def test_where_the_cpp_wrapper_fails_the_python_one_compiles(monkeypatch):
    import torch._inductor.config as inductor
    from torch._dynamo.exc import BackendCompilerFailed

    original = torch.compile

    def wrapper_fails(function, **kwargs):
        inner = original(function, **kwargs)

        def run(*args, **kw):
            if inductor.cpp_wrapper:
                raise BackendCompilerFailed(inner, RuntimeError("no C++ wrapper here"), None)
            return inner(*args, **kw)

        return run

    monkeypatch.setattr(torch, "compile", wrapper_fails)
    compiled = Compiled(scaled_norm, "a test function", cpp_wrapper=True)
    x = torch.randn(5)
    with pytest.warns(CompilerUnavailableWarning, match="C\\+\\+ wrapper") as caught:
        assert torch.allclose(compiled(x, 2.0), scaled_norm(x, 2.0))
    assert len(caught) == 1
    assert compiled.failure is None and not compiled.cpp_wrapper
    assert "no C++ wrapper here" in compiled.wrapper_failure
    assert "a test function" not in failures()


def test_without_a_compiler_the_cpp_wrapper_warns_once_and_returns_none(no_compiler):
    compiled = Compiled(lambda x: x.cos() + 1, "a wrapped test function", cpp_wrapper=True)
    with pytest.warns(CompilerUnavailableWarning) as caught:
        assert compiled(torch.ones(3)) is None
    assert len(caught) == 1 and "eager path" in str(caught[0].message)
    assert compiled.wrapper_failure is None
    assert failures()["a wrapped test function"] == compiled.failure
    forget(compiled)
