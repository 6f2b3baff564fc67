"""small_fc_lopt (Metz et al. 2022): a 197-parameter per-parameter MLP learned optimizer."""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor, nn

from amalg.core.compiled import Compiled, batched, each_batch, writable
from amalg.core.config import ComponentConfig
from amalg.core.functional import Params, State, graph_wanted, unflatten
from amalg.core.interfaces import Student
from amalg.plugins.students._features import exponential_step, folded_step, unit_second_moment
from amalg.plugins.students._small_fc_fused import tensor_steps, tensor_updates

TIMESCALES = (1, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
FEATURES = 28 + len(TIMESCALES)
"""Per coordinate: parameter, gradient, 3 momenta, second moment, 3 momenta * rsqrt(v),
rsqrt(v), 3 Adafactor-normalised gradients, 3 row and 3 column statistics, their 6 rsqrt, 3
Adafactor-normalised momenta (28, each normalised over its tensor), and 11 time features."""
COMPILED = Compiled(tensor_updates, "small_fc_lopt's update", cpp_wrapper=True)
"""The compiled update of a batch of tensors, shared by every small_fc_lopt (a pure
function)."""
STEPPED = Compiled(tensor_steps, "small_fc_lopt's step", cpp_wrapper=True)
"""The compiled step of a batch of tensors for an optimizer: the parameters and the donated
state written in place."""


class SmallFcLoptConfig(ComponentConfig):
    hidden: int = Field(4, ge=1, le=1024, description="Units of each of the 2 hidden layers.")
    momentum_decays: tuple[float, float, float] = Field(
        (0.9, 0.99, 0.999), description="Initial decays of the 3 momenta (meta-learned)."
    )
    rms_decay: float = Field(
        0.999, gt=0, lt=1, description="Initial decay of the second moment (meta-learned)."
    )
    adafactor_decays: tuple[float, float, float] = Field(
        (0.9, 0.99, 0.999),
        description="Initial decays of the 3 Adafactor accumulators (meta-learned).",
    )
    step_scale: float = Field(1e-3, gt=0, description="lambda_1: the step is l1 d exp(l2 m).")
    magnitude_scale: float = Field(1e-3, gt=0, description="lambda_2 of the step.")
    eps: float = Field(1e-8, gt=0, description="Numerical stability term.")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def factored_dims(shape: torch.Size) -> tuple[int, int] | None:
    """The two largest dimensions (rows, columns) Adafactor factors over; None below rank 2."""
    if len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda d: (shape[d], d))
    return order[-2], order[-1]


class SmallFcLopt(Student[SmallFcLoptConfig]):
    """small_fc_lopt: a tiny per-parameter MLP over momentum, RMS and Adafactor features.

    Metz et al. 2022, Section 2.2 and Appendix A. Per tensor, with learned decays beta
    (3 momenta m_k, a second moment v, 3 Adafactor accumulators), the features of each
    coordinate are the parameter, the gradient g, m_1..3, v, m_k / sqrt(v), 1 / sqrt(v + eps),
    the 3 Adafactor-normalised gradients g / sqrt(vhat_k), the tiled row and column statistics
    (3 each) and their 1 / sqrt, and the 3 Adafactor-normalised momenta m_k / sqrt(vhat_k):
    28 features, each scaled to a second moment of 1 over its tensor, then tanh(t / x) for x
    in 1, 3, 10, ..., 100k: 39 inputs. Adafactor keeps, at each decay, EMAs of the mean of g^2
    over the columns (rows r) and over the rows (columns c) of the tensor's two largest
    dimensions, vhat = r c / mean(r); a tensor of rank below 2 keeps a full EMA of g^2 (its row
    and column features are that EMA). An MLP 39-4-4-2 with ReLU gives a direction d and a
    magnitude m per coordinate, and the update is delta = l1 * d * exp(l2 * m), l1 = l2 = 1e-3.
    The 7 decays are meta-learned as offsets of their initial values in logit space:
    190 MLP weights + 7 = 197 meta-parameters.
    """

    name: ClassVar[str] = "small_fc_lopt"

    # Per coordinate the state is 4 accumulators (plus Adafactor's rows and columns); one
    # unrolled step keeps the 39 features, the MLP's activations and the features'
    # intermediates: at least 8 times the state.
    graph_ratio: ClassVar[float] = 8.0
    compiled_path: ClassVar[bool] = True

    def __init__(self, config: object = None, /, **fields: object) -> None:
        super().__init__(config, **fields)
        hidden = self.config.hidden
        self.w0 = nn.Parameter(torch.empty(FEATURES, hidden))
        self.b0 = nn.Parameter(torch.empty(hidden))
        self.w1 = nn.Parameter(torch.empty(hidden, hidden))
        self.b1 = nn.Parameter(torch.empty(hidden))
        self.w2 = nn.Parameter(torch.empty(hidden, 2))
        self.b2 = nn.Parameter(torch.empty(2))
        self.momentum_offsets = nn.Parameter(torch.zeros(3))
        self.rms_offset = nn.Parameter(torch.zeros(1))
        self.adafactor_offsets = nn.Parameter(torch.zeros(3))
        self.reset_parameters(torch.Generator().manual_seed(0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Haiku's Linear default: truncated normal weights of std 1 / sqrt(fan_in), zero
        biases; decay offsets 0 (the initial decays)."""
        with torch.no_grad():
            for weight in (self.w0, self.w1, self.w2):
                std = 1 / math.sqrt(weight.shape[0])
                nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std, generator=generator)
            for bias in (self.b0, self.b1, self.b2):
                bias.zero_()
            for offsets in (self.momentum_offsets, self.rms_offset, self.adafactor_offsets):
                offsets.zero_()

    def _decays(self) -> tuple[Tensor, Tensor, Tensor]:
        config = self.config
        base = self.momentum_offsets
        momentum = torch.sigmoid(
            base.new_tensor([_logit(d) for d in config.momentum_decays]) + self.momentum_offsets
        )
        rms = torch.sigmoid(base.new_tensor([_logit(config.rms_decay)]) + self.rms_offset)
        adafactor = torch.sigmoid(
            base.new_tensor([_logit(d) for d in config.adafactor_decays]) + self.adafactor_offsets
        )
        return momentum, rms, adafactor

    def init(self, params: Params) -> State:
        state: State = {}
        for key, value in params.items():
            dims = factored_dims(value.shape)
            slots = {
                "m": torch.zeros(3, *value.shape, dtype=value.dtype, device=value.device),
                "v": torch.zeros_like(value),
            }
            if dims is None:
                slots["full"] = torch.zeros(3, *value.shape, dtype=value.dtype, device=value.device)
            else:
                rows, cols = dims
                slots["rows"] = torch.zeros(3, *_reduced(value.shape, cols), dtype=value.dtype,
                                            device=value.device)  # fmt: skip
                slots["cols"] = torch.zeros(3, *_reduced(value.shape, rows), dtype=value.dtype,
                                            device=value.device)  # fmt: skip
            state[key] = slots
        return state

    def _raw_features(
        self,
        grad: Tensor,
        param: Tensor,
        slots: dict[str, Tensor],
        decays: tuple[Tensor, Tensor, Tensor],
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The 28 features of one tensor before normalisation, ``[28, coordinates]``, and
        its new slots."""
        eps = self.config.eps
        momentum, rms, adafactor = (d.to(grad.dtype) for d in decays)
        rms = rms.squeeze(0)  # a scalar: v keeps the shape of a 0-dimensional parameter
        shape = (3,) + (1,) * grad.dim()
        m = momentum.view(shape) * slots["m"] + (1 - momentum.view(shape)) * grad
        v = rms * slots["v"] + (1 - rms) * grad * grad
        squared = grad * grad + eps
        dims = factored_dims(grad.shape)
        new = {"m": m, "v": v}
        if dims is None:
            full = adafactor.view(shape) * slots["full"] + (1 - adafactor.view(shape)) * squared
            new["full"] = full
            row = col = vhat = full
        else:
            rows, cols = dims
            row_mean = squared.mean(dim=cols, keepdim=True)
            col_mean = squared.mean(dim=rows, keepdim=True)
            decay = adafactor.view(shape)
            row = decay * slots["rows"] + (1 - decay) * row_mean.unsqueeze(0)
            col = decay * slots["cols"] + (1 - decay) * col_mean.unsqueeze(0)
            new["rows"], new["cols"] = row, col
            vhat = row * col / row.mean(dim=rows + 1, keepdim=True)
        rsqrt_v = torch.rsqrt(v + eps)
        rsqrt_vhat = torch.rsqrt(vhat + eps)
        full_shape = (3, *grad.shape)
        # Row and column statistics stay factored until the concatenation tiles them.
        groups = [
            param.unsqueeze(0),
            grad.unsqueeze(0),
            m,
            v.unsqueeze(0),
            m * rsqrt_v,
            rsqrt_v.unsqueeze(0),
            grad * rsqrt_vhat,
            row.expand(full_shape),
            col.expand(full_shape),
            torch.rsqrt(row + eps).expand(full_shape),
            torch.rsqrt(col + eps).expand(full_shape),
            m * rsqrt_vhat,
        ]
        return torch.cat(groups).reshape(28, -1), new

    def _time(self, step: int, like: Tensor) -> Tensor:
        """The 11 time features of ``step``, ``tanh(step / x)`` for x in :data:`TIMESCALES`,
        on ``like``'s device and dtype."""
        return torch.tanh(step / self._timescales(like))

    def features(
        self, grad: Tensor, param: Tensor, slots: dict[str, Tensor], step: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The ``[coordinate, 39]`` inputs of one tensor and its new slots."""
        stacked, new = self._raw_features(grad, param, slots, self._decays())
        normalised = unit_second_moment(stacked)
        time = self._time(step, grad)
        inputs = torch.cat([normalised.T, time.expand(normalised.shape[1], -1)], dim=1)
        return inputs, new

    def simple_forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """The rule as the docstring states it: every coordinate's 39 inputs, then the MLP.
        The reference :meth:`forward` must equal (to float rounding)."""
        config = self.config
        inputs, new_state = [], {}
        for key, grad in grads.items():
            features, new_state[key] = self.features(grad, params[key], state[key], step)
            inputs.append(features.to(self.w0.dtype))
        x = torch.cat(inputs)
        x = torch.relu(x @ self.w0 + self.b0)
        x = torch.relu(x @ self.w1 + self.b1)
        out = x @ self.w2 + self.b2
        direction, magnitude = out[:, 0], out[:, 1]
        flat = exponential_step(direction, magnitude, config.step_scale, config.magnitude_scale)
        return unflatten(flat, grads), new_state

    def forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        """:meth:`simple_forward` without the ``[coordinate, 39]`` inputs: the normalisation
        and the time features fold into the first layer, the network runs feature-major, a
        tensor at a time, in chunks of coordinates when no graph is kept
        (:func:`~amalg.plugins.students._features.folded_step`). With :meth:`use_compiler`,
        an update that keeps no graph runs compiled instead
        (:func:`~amalg.plugins.students._small_fc_fused.tensor_update`)."""
        config = self.config
        chunked = not graph_wanted(*grads.values(), *self.parameters())
        if chunked and self.compiling:
            compiled = self._compiled_forward(grads, state, params, step)
            if compiled is not None:
                return compiled
        raw = functools.partial(self._raw_features, decays=self._decays())

        def head(x: Tensor) -> Tensor:
            x = torch.relu(torch.addmm(self.b1.unsqueeze(1), self.w1.T, torch.relu(x)))
            return torch.addmm(self.b2.unsqueeze(1), self.w2.T, x)

        return folded_step(
            grads, state, params, raw,
            (self.w0, self.b0, self._time(step, self.w0)), head,
            (0, 1, config.step_scale, config.magnitude_scale),
            chunked=chunked,
        )  # fmt: skip

    def step_in_place(
        self, grads: Params, state: State, params: Params, step: int, scale: float = 1.0
    ) -> State:
        """With :meth:`use_compiler` and no graph, through :data:`STEPPED`: the parameters
        and the new state (``state``, donated) written in the compiled loops."""
        if self.compiling and not graph_wanted(*grads.values(), *self.parameters()):
            done = self._compiled_step(grads, state, params, step, scale)
            if done is not None:
                return done
        return super().step_in_place(grads, state, params, step, scale)

    def _compiled_arguments(self, step: int) -> tuple[tuple[object, ...], tuple[float, ...]]:
        """What every compiled call shares: the decays, the network, this step's time
        features; and the constants."""
        config = self.config
        shared = (
            self._graph_free_decays(),
            (self.w0, self.b0, self.w1, self.b1, self.w2, self.b2),
            self._time(step, self.w0),
        )
        return shared, (config.eps, config.step_scale, config.magnitude_scale)

    def _graph_free_decays(self) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`_decays` without a graph, computed again only when an offset's values,
        dtype or device differ from the last call's: an optimizer's steps would otherwise
        spend some 20 us each on the same seven sigmoids. Keyed by the values themselves, not
        by versions or addresses, which some writes leave as they were (fused optimizers,
        ``.data``, a flat buffer the parameters view). Off the CPU, where reading the values
        would wait for the device, it computes them every time."""
        offsets = (self.momentum_offsets, self.rms_offset, self.adafactor_offsets)
        if any(o.device.type != "cpu" for o in offsets):
            with torch.no_grad():
                return self._decays()
        config = self.config
        key = (
            tuple((o.dtype, tuple(o.detach().tolist())) for o in offsets),
            (config.momentum_decays, config.rms_decay, config.adafactor_decays),
        )
        cached = self.__dict__.get("_decays_cache")
        if cached is None or cached[0] != key:
            with torch.no_grad():
                cached = (key, self._decays())
            self.__dict__["_decays_cache"] = cached
        return cached[1]

    def _timescales(self, like: Tensor) -> Tensor:
        """:data:`TIMESCALES` on ``like``'s device and dtype, made once (not at every step)."""
        cached = self.__dict__.get("_timescales_cache")
        if cached is None or (cached.device, cached.dtype) != (like.device, like.dtype):
            cached = like.detach().new_tensor(TIMESCALES)
            self.__dict__["_timescales_cache"] = cached
        return cached

    @staticmethod
    def _batch(
        names: list[str], grads: Params, state: State, params: Params, writes: bool
    ) -> tuple[list[Tensor], list[Tensor], list[dict[str, Tensor]], list[object]]:
        """One compiled call's own arguments: the batch's gradients, parameters, states and
        factored dimensions (:func:`~amalg.core.compiled.writable` for a call that writes
        into the parameters and states)."""
        if writes and any(params[name].dim() == 0 for name in names):

            def given(tensor: Tensor, name: str) -> Tensor:
                return writable(tensor, params[name])

            own = [given(grads[name], name) for name in names]
            return (
                own,
                [given(params[name], name) for name in names],
                [{k: given(v, name) for k, v in state[name].items()} for name in names],
                [factored_dims(grad.shape) for grad in own],
            )
        own = [grads[name] for name in names]
        return (
            own,
            [params[name] for name in names],
            [state[name] for name in names],
            [factored_dims(grad.shape) for grad in own],
        )

    def _compiled_forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State] | None:
        """:meth:`forward` without a graph through :data:`COMPILED`, a batch of tensors to a
        call (:func:`~amalg.core.compiled.batches`), or None where it cannot compile."""
        shared, constants = self._compiled_arguments(step)
        delta: Params = {}
        new_state: State = {}

        def one(names: list[str]) -> bool:
            own, values, states, dims = self._batch(names, grads, state, params, False)
            out = COMPILED(own, values, states, *shared, dims, constants)
            if out is None:
                return False
            for name, (value, slots) in zip(names, out, strict=True):
                delta[name], new_state[name] = value, slots
            return True

        return None if each_batch(batched(grads), one) else (delta, new_state)

    def _compiled_step(
        self, grads: Params, state: State, params: Params, step: int, scale: float
    ) -> State | None:
        """:meth:`step_in_place` through :data:`STEPPED`, or None (nothing written) where it
        cannot compile; should a later batch fail, the rest take the default
        ``step_in_place`` (through :meth:`forward`), once."""
        shared, constants = self._compiled_arguments(step)
        factor = None if scale == 1.0 else torch.tensor(scale, dtype=torch.float64)

        def one(names: list[str]) -> bool:
            own, values, states, dims = self._batch(names, grads, state, params, True)
            return STEPPED(own, values, states, *shared, dims, constants, factor) is not None

        rest = each_batch(batched(grads), one)
        if rest and len(rest) == len(grads):
            return None
        if rest:
            state.update(
                super().step_in_place(
                    {name: grads[name] for name in rest},
                    {name: state[name] for name in rest},
                    {name: params[name] for name in rest},
                    step,
                    scale,
                )
            )
        return state


def _reduced(shape: torch.Size, dim: int) -> list[int]:
    return [1 if d == dim else size for d, size in enumerate(shape)]
