"""The optimal-choice network of Huang et al. 2022: soft per-coordinate choices among a pool
of teachers."""

from __future__ import annotations

from typing import Any, ClassVar, Self, cast

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params, State, flatten, unflatten
from amalg.core.interfaces import Student, UpdateRule
from amalg.plugins.students._lstm import add_lstm, glorot, reset_lstm, run_lstm


class PoolMember(ComponentConfig):
    """One teacher of the pool: a registered teacher with its config."""

    name: str = Field(min_length=1, description="A registered teacher.")
    label: str | None = Field(None, min_length=1, description="Tells two uses of one apart.")
    config: dict[str, Any] = Field(default_factory=dict, description="The teacher's config.")

    @property
    def key(self) -> str:
        return self.label or self.name


SMALL_POOL = [PoolMember(name="adam"), PoolMember(name="rmsprop")]


class ChoiceConfig(ComponentConfig):
    pool: list[PoolMember] = Field(
        default_factory=lambda: list(SMALL_POOL),
        min_length=2,
        max_length=32,
        description="The teachers chosen among (--scheme choice: the run's tuned teachers).",
    )
    hidden: int = Field(20, ge=1, le=1024, description="LSTM units per layer.")
    layers: int = Field(2, ge=1, le=8, description="Stacked LSTM layers.")
    time_scale: float = Field(2000.0, gt=0, description="The time input is step / time_scale.")
    max_rank: int = Field(
        4, ge=1, le=8, description="Tensor ranks one-hot encoded; higher ranks count as this."
    )

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        keys = [member.key for member in self.pool]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"pool names {', '.join(repeated)} twice; give each use a label")
        return self


class Choice(Student[ChoiceConfig]):
    """Optimal choice: a coordinate-wise LSTM that softly chooses among teachers' updates.

    Huang et al. 2022, Section 3.3 and Appendix C.1.2. For every coordinate at step t, with
    delta_j the learning-rate-scaled update of pool teacher j (each teacher runs on its own
    state, part of this optimizer's state), the inputs are (delta_1, ..., delta_J, t / 2000,
    one-hot(rank of the coordinate's tensor)); a 2-layer LSTM of 20 units shared by all
    coordinates (RNNProp's cell), then

        c = softmax(dense(h)) over the J teachers,    delta = sum_j c_j delta_j

    The soft choice c of the last step is kept in the state (``weights``, ``[coordinate,
    teacher]``) and :meth:`observe` reports its mean per teacher and tensor rank. In the
    ``choice`` scheme this network is meta-trained on the meta-loss alone and then serves as
    the single imitation target of the student (eq. 4).
    """

    name: ClassVar[str] = "choice"

    # The LSTM keeps RNNProp's graph per coordinate; the pool's moments enlarge the state
    # without entering the graph, so the ratio is lower than RNNProp's (floor for 32 teachers).
    graph_ratio: ClassVar[float] = 1.5

    def __init__(self, config: object = None, /, **fields: object) -> None:
        super().__init__(config, **fields)
        from amalg.core.registry import get_registry

        registry = get_registry()
        self.pool: tuple[UpdateRule[Any], ...] = tuple(
            cast(UpdateRule[Any], registry.create("teacher", member.name, **member.config))
            for member in self.config.pool
        )
        self.labels = tuple(member.key for member in self.config.pool)
        config_ = self.config
        inputs = len(self.pool) + 1 + config_.max_rank + 1
        add_lstm(self, inputs, config_.hidden, config_.layers)
        self.dense_kernel = nn.Parameter(torch.empty(config_.hidden, len(self.pool)))
        self.dense_bias = nn.Parameter(torch.empty(len(self.pool)))
        self.reset_parameters(torch.Generator().manual_seed(0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Keras' defaults, as RNNProp: Glorot-uniform kernels, orthogonal recurrent kernels,
        forget-gate bias 1, zero dense bias (so every teacher starts with an equal share)."""
        reset_lstm(self, self.config.hidden, self.config.layers, generator)
        with torch.no_grad():
            glorot(self.dense_kernel, generator)
            self.dense_bias.zero_()

    def init(self, params: Params) -> State:
        size = sum(value.numel() for value in params.values())
        reference = next(iter(params.values()))
        dtype, device = reference.dtype, reference.device
        cells = torch.zeros(
            self.config.layers, size, self.config.hidden, dtype=dtype, device=device
        )
        share = torch.full((size, len(self.pool)), 1 / len(self.pool), dtype=dtype, device=device)
        return {
            "teachers": tuple(teacher.init(params) for teacher in self.pool),
            "h": cells,
            "c": cells.clone(),
            "weights": share,
        }

    def _ranks(self, grads: Params, like: Tensor) -> Tensor:
        """One-hot tensor rank per coordinate, ``[coordinate, max_rank + 1]``."""
        top = self.config.max_rank
        ranks = torch.cat(
            [
                torch.full((value.numel(),), min(value.dim(), top), dtype=torch.long)
                for value in grads.values()
            ]
        ).to(like.device)
        return nn.functional.one_hot(ranks, top + 1).to(like.dtype)

    def forward(
        self, grads: Params, state: State, params: Params, step: int
    ) -> tuple[Params, State]:
        updates, teacher_states = [], []
        for teacher, teacher_state in zip(self.pool, state["teachers"], strict=True):
            delta, new_state = teacher.update(grads, teacher_state, params, step)
            updates.append(flatten({key: delta[key] for key in grads}))
            teacher_states.append(new_state)
        table = torch.stack(updates, dim=1).to(self.dense_kernel.dtype)
        time = table.new_full((table.shape[0], 1), step / self.config.time_scale)
        x = torch.cat([table, time, self._ranks(grads, table)], dim=1)
        x, h, c = run_lstm(self, self.config.layers, x, state["h"], state["c"])
        weights = torch.softmax(x @ self.dense_kernel + self.dense_bias, dim=1)
        flat = (weights * table).sum(dim=1)
        delta = unflatten(flat, grads)
        new_state = {"teachers": tuple(teacher_states), "h": h, "c": c, "weights": weights}
        return delta, new_state

    def observe(self, state: State, params: Params) -> dict[str, float]:
        """The mean share of each teacher in the last step's choice, over all coordinates
        (``choice/<teacher>``) and over the coordinates of each tensor rank
        (``choice/<teacher>/rank<r>``)."""
        weights = state["weights"].detach().double()
        ranks = torch.cat(
            [
                torch.full((value.numel(),), value.dim(), dtype=torch.long)
                for value in params.values()
            ]
        ).to(weights.device)
        observed = {}
        for j, label in enumerate(self.labels):
            observed[f"choice/{label}"] = float(weights[:, j].mean())
            for rank in sorted(set(ranks.tolist())):
                share = weights[ranks == rank, j].mean()
                observed[f"choice/{label}/rank{rank}"] = float(share)
        return observed
