"""Graph-free fast paths compiled by ``torch.compile``, with the eager path as fallback.

A student's per-coordinate update is some 80 element-wise passes over every tensor when run
eagerly, each its own kernel; a teacher's foreach path is one pass per operation of its rule
(AddSign's, some 16). Written element-wise for a compiler (for a student: no feature matrix,
the network unit by unit), inductor fuses a rule into a few loops: several times faster on
large tensors (``benchmarks/RESULTS.md``), after seconds of compilation per batch of shapes
(less when inductor's on-disk cache has it). That pays over a long training run, not in a
short one, so it is opt-in (:meth:`UpdateRule.use_compiler <amalg.core.interfaces.
UpdateRule.use_compiler>`, ``amalg.optim``'s ``compile=True``) and only ever replaces a path
that keeps no autograd graph.

Shapes are static: each batch of tensor shapes (and dtypes, :func:`batches`) compiles once
and is reused for every later step, which is what an optimizer stepping the same model sees;
what changes from step to step (the step count, a scheduled learning rate) enters as a
tensor, so it never recompiles. Where no compiler works (no C++ compiler for inductor's CPU
code, a Python torch.compile does not support) the first call warns once and every call
after it returns None, and the caller runs its eager path.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import torch

from amalg.core.errors import AmalgError

__all__ = [
    "BATCH_ELEMENTS",
    "BATCH_TENSORS",
    "HOIST_ELEMENTS",
    "RECOMPILE_LIMIT",
    "Compiled",
    "CompilerUnavailableWarning",
    "NoCompiledPathError",
    "batched",
    "batches",
    "bias_correction_op",
    "each_batch",
    "failures",
    "forget",
    "hoisting",
    "hoisting_on",
    "with_compiled_path",
    "writable",
]

RECOMPILE_LIMIT = 256
"""Shapes one compiled function may specialise to. torch's default (8) suits a function
called on one shape; an optimizer calls it on every distinct parameter shape of a model."""

BATCH_TENSORS = 16
"""Most tensors one compiled call updates: inductor's compilation grows with the graph."""

BATCH_ELEMENTS = 1 << 20
"""Most elements one compiled call updates; a larger tensor has a call of its own."""

HOIST_ELEMENTS = 1 << 16
"""The size above which a tensor's bias correction is computed once per call
(:func:`hoisting`) rather than inline in its loop."""

Result = TypeVar("Result")


def batches(sizes: Sequence[int]) -> list[list[int]]:
    """The tensors (by their element counts ``sizes``) one compiled call each updates
    together, as lists of positions: a tensor of more than :data:`BATCH_ELEMENTS` alone,
    the others in order, up to :data:`BATCH_TENSORS` and :data:`BATCH_ELEMENTS` to a call.

    Each compiled call costs some 50-100 us of Python (dynamo's guards, the wrapper) whatever
    its size, as much as the kernel of a tensor of a few thousand elements: one call per
    tensor made a small model's compiled step a third slower, and a small model's step is
    one call. A model of repeated blocks repeats its batches' shapes, so they compile once
    and are reused.
    """
    alone = [[index] for index, size in enumerate(sizes) if size > BATCH_ELEMENTS]
    packed: list[list[int]] = []
    total = 0
    for index, size in enumerate(sizes):
        if size > BATCH_ELEMENTS:
            continue
        if not packed or len(packed[-1]) == BATCH_TENSORS or total + size > BATCH_ELEMENTS:
            packed.append([])
            total = 0
        packed[-1].append(index)
        total += size
    return alone + packed


def each_batch(groups: Sequence[list[str]], call: Callable[[list[str]], bool]) -> list[str]:
    """``call(names)`` for each batch of names in order until one returns False (its
    compilation failed; every later one would too): the names left, in order, for the
    caller's eager path (none when every call ran; all of them when the first failed)."""
    for position, names in enumerate(groups):
        if not call(names):
            return [name for later in groups[position:] for name in later]
    return []


def writable(tensor: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """``tensor`` (a parameter's own or its state's), given a trailing axis of size 1 (a
    view: the same storage) where ``param`` is 0-dimensional, for a compiled function that
    writes into it: torch.compile drops in-place writes to 0-dimensional float64 CPU inputs
    (torch 2.13), which it takes for scalars."""
    return tensor.unsqueeze(-1) if param.dim() == 0 else tensor


def batched(tensors: Mapping[str, torch.Tensor]) -> list[list[str]]:
    """:func:`batches` of named tensors, as lists of their names."""
    keys = list(tensors)
    sizes = [tensor.numel() for tensor in tensors.values()]
    return [[keys[index] for index in batch] for batch in batches(sizes)]


_HOISTING = False


def hoisting_on() -> bool:
    """Whether :func:`hoisting` is on (read while dynamo traces: each setting is a graph)."""
    return _HOISTING


@contextlib.contextmanager
def hoisting(enabled: bool) -> Iterator[None]:
    """Within it, a compiled :func:`~amalg.core.functional.bias_correction` is
    :func:`bias_correction_op`, computed once per call, instead of inline arithmetic.

    Inductor computes the scalar arithmetic a loop reads inside the loop's body, once per
    vector of elements, and a ``pow`` there (libm, which it compiles with errno kept, so the
    C++ compiler cannot hoist it) cost compiled Adam half its time on 1M parameters. An
    operation inductor cannot see into costs some 30 us a call, though, more than the inline
    power over a small tensor: a caller turns it on for a large one, inside the traced
    function (dynamo follows the context, so one call can hoist for its large tensor only).
    """
    global _HOISTING
    before, _HOISTING = _HOISTING, enabled
    try:
        yield
    finally:
        _HOISTING = before


@torch.library.custom_op("amalg::bias_correction", mutates_args=())
def bias_correction_op(decay: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """``1 - decay ** (step + 1)``, an operation inductor does not look into (:func:`hoisting`)."""
    return 1 - decay ** (step + 1)


@bias_correction_op.register_fake
def _(decay: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    dtype = torch.promote_types(decay.dtype, step.dtype)
    return torch.empty((), dtype=dtype, device=decay.device)


class CompilerUnavailableWarning(UserWarning):
    """torch.compile could not compile a fast path here; the eager path runs instead (or, for
    inductor's C++ wrapper alone, its Python wrapper)."""


class NoCompiledPathError(AmalgError):
    """A compiled path was asked of a rule that has none."""

    def __init__(self, kind: str, name: str, having: list[str]) -> None:
        which = f" (the {kind}s that do: {', '.join(having)})" if having else ""
        super().__init__(
            f"{kind} {name!r} has no compiled path{which}: run it without compile, on its "
            "eager path"
        )


def with_compiled_path(kind: str) -> list[str]:
    """The registered components of ``kind`` (teacher, student) that have a compiled path,
    by name."""
    from amalg.core.registry import get_registry

    found = get_registry().components(kind)
    return sorted(info.name for info in found if getattr(info.component, "compiled_path", False))


_FAILED: dict[int, tuple[str, str]] = {}
"""Every :class:`Compiled` that could not compile, by id: its purpose and why."""


def failures() -> dict[str, str]:
    """Why each compiled path that failed in this process did, by purpose (empty where
    every compilation worked): a check of a compiled path skips rather than compare the
    eager path with itself."""
    return dict(_FAILED.values())


def forget(compiled: Compiled[Any]) -> None:
    """Take ``compiled``'s failure off the record (a test that failed it on purpose)."""
    _FAILED.pop(id(compiled), None)


def _on_cpu(args: Sequence[Any]) -> bool:
    """Whether the first tensor in ``args`` (nested in lists, tuples and dicts) is on the CPU."""
    device = _first_device(args)
    return device is not None and device.type == "cpu"


def _first_device(values: Any) -> torch.device | None:
    if isinstance(values, torch.Tensor):
        return values.device
    if isinstance(values, Mapping):
        values = values.values()
    elif not isinstance(values, list | tuple):
        return None
    for value in values:
        device = _first_device(value)
        if device is not None:
            return device
    return None


def _reason(error: Exception) -> str:
    """One line saying why a compilation failed."""
    lines = str(error).strip().splitlines()
    # The exception's first line only names the backend; the reason is the next one.
    return " ".join(lines[:2]) if lines else type(error).__name__


class Compiled(Generic[Result]):
    """``function`` through ``torch.compile`` (inductor, static shapes, one graph), or None
    where it cannot be compiled.

    Calling it compiles on first use of each shape. A compiler failure (inductor's
    ``BackendCompilerFailed``, or a torch.compile that refuses this Python) or more than
    :data:`RECOMPILE_LIMIT` shapes is reported once as a :class:`CompilerUnavailableWarning`
    naming ``purpose``, and from then on every call returns None at once. Any other error,
    a rule dynamo cannot trace included, is a bug in ``function`` and propagates.

    ``cpp_wrapper``: on the CPU, inductor's C++ wrapper calls the compiled kernels, where
    Python would allocate the graph's intermediate buffers one by one: it pays for a graph
    of many buffers called often (small_fc_lopt's step: about 0.1 ms of 1.5 on a 118k MLP)
    and costs more compilation. A call on another device compiles without it (the setting
    counts where a shape compiles). Where it fails to compile, the call compiles again
    without it before anything counts as a failure, and this function does without it from
    then on: where that works, one :class:`CompilerUnavailableWarning` says so and
    :attr:`wrapper_failure` keeps why.
    """

    def __init__(
        self, function: Callable[..., Result], purpose: str, cpp_wrapper: bool = False
    ) -> None:
        self.function = function
        self.purpose = purpose
        self.cpp_wrapper = cpp_wrapper
        self.failure: str | None = None
        self.wrapper_failure: str | None = None
        self._compiled: Callable[..., Result] | None = None
        # dynamo's and inductor's config patches, made once: patch() defines a new class at
        # every call.
        self._limit: Any = None
        self._wrapper: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Result | None:
        if self.failure is not None:
            return None
        from torch import _dynamo  # only once something is compiled: a slow import

        if self._compiled is None:
            try:
                self._compiled = torch.compile(self.function, dynamic=False, fullgraph=True)
            except RuntimeError as error:  # torch.compile refuses this Python or platform
                self._fail(error)
                return None
            self._limit = _dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT)
            from torch._inductor import config as inductor

            self._wrapper = inductor.patch(cpp_wrapper=True)
        wrapped = self.cpp_wrapper and _on_cpu(args)
        try:
            with self._limit, self._wrapper if wrapped else contextlib.nullcontext():
                return self._compiled(*args, **kwargs)
        except _dynamo.exc.BackendCompilerFailed as error:  # no working compiler
            if wrapped:  # perhaps the C++ wrapper's alone: the Python one may still work
                self.cpp_wrapper = False
                result = self(*args, **kwargs)
                if self.failure is None:  # it did: say what the C++ wrapper's failure costs
                    self.wrapper_failure = _reason(error)
                    warnings.warn(
                        f"inductor's C++ wrapper cannot compile {self.purpose} here "
                        f"({self.wrapper_failure}); its Python wrapper runs instead (same "
                        "results, a little slower)",
                        CompilerUnavailableWarning,
                        stacklevel=2,
                    )
                return result
            self._fail(error)
            return None
        except _dynamo.exc.FailOnRecompileLimitHit:  # fullgraph: dynamo will not run it eagerly
            self._fail(
                RuntimeError(
                    f"more than {RECOMPILE_LIMIT} distinct batches of shapes, the most one "
                    "compiled function specialises to"
                )
            )
            return None

    def _fail(self, error: Exception) -> None:
        self.failure = _reason(error)
        _FAILED[id(self)] = (self.purpose, self.failure)
        warnings.warn(
            f"torch.compile cannot compile {self.purpose} here ({self.failure}); the eager path "
            "runs instead (same results, slower)",
            CompilerUnavailableWarning,
            stacklevel=3,
        )
