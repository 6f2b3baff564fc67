"""The unroll engine: the one place that walks a trajectory.

Huang et al. 2022, Section 3 and Appendix A (Algorithm 1), Appendix C.3. A trajectory starts
from freshly initialised task parameters, takes ``warmup_steps`` SGD steps (lr 0.01), then
the student and every imitation target walk side by side from that point on the same
batches, in truncations. Within a truncation the student's steps stay in the autograd graph
of its meta-parameters phi; the targets' do not (they do not depend on phi). At a
truncation's end everything is detached: the next truncation starts from plain values.

Per truncation of T steps from theta_0, with f_t the task loss of theta_t on its batch:

    meta[t]    = log(f_t + eps) - log(f_0 + eps)                       t = 1..T
    d[t, k]    = log(mean((theta_P,t - theta_k,t)^2) / 2 + eps)        per target k

which the scheme reduces to the meta-objective. By default the student's gradient inputs are
detached (the first-order meta-gradient of Andrychowicz et al. 2016), so the meta-backward
runs through the student's updates and the task losses but not through second derivatives;
``second_order=true`` keeps them, and the truncation's meta-gradient is then exact.

Random scaling (Lv et al. 2017): with ``random_scaling = r > 0`` the student optimises
f(s * x) for a per-coordinate s = exp(U(-r, r)) drawn per trajectory: it sees gradients
s * g and its update is applied as theta -= s * delta. The targets see clean gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from amalg.core.config import ComponentConfig
from amalg.core.evaluation import validation_metrics
from amalg.core.functional import Params, State, step_generator, tree_leaves, tree_map
from amalg.core.interfaces import (
    AmalgamationScheme,
    Student,
    Task,
    TruncationLosses,
    TruncationResult,
    UpdateRule,
)

__all__ = ["EngineConfig", "UnrollEngine", "UnrollState", "detach", "is_finite"]

VALIDATION_CHECKS = 10


class EngineConfig(ComponentConfig):
    warmup_steps: int = Field(100, ge=0, description="SGD steps before the optimizers take over.")
    warmup_lr: float = Field(0.01, gt=0, description="Learning rate of the warmup SGD steps.")
    random_scaling: float = Field(
        3.0, ge=0, description="r: the student's coordinates are scaled by exp(U(-r, r)); 0: off."
    )
    log_eps: float = Field(1e-10, gt=0, description="eps inside the meta-loss and imitation logs.")
    second_order: bool = Field(
        False,
        description="Differentiate through the student's gradient inputs too (exact, slower).",
    )


@dataclass(frozen=True)
class UnrollState:
    """Where a trajectory is: plain (detached) values, so a truncation can be replayed."""

    student: Params
    student_state: State
    targets: tuple[Params, ...]
    target_states: tuple[State, ...]
    scale: Params | None
    data_seed: int
    index: int
    """The next batch's index in the task's train stream for ``data_seed``."""
    step: int
    """Optimizer steps taken since the warmup."""


def detach(tree: Any) -> Any:
    return tree_map(lambda value: value.detach() if isinstance(value, Tensor) else value, tree)


def is_finite(tree: Any) -> bool:
    return all(
        bool(torch.isfinite(leaf).all()) for leaf in tree_leaves(tree) if isinstance(leaf, Tensor)
    )


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class UnrollEngine:
    """Walks trajectories of ``student`` and ``targets`` on ``task``."""

    def __init__(
        self,
        task: Task,
        student: Student,
        targets: Sequence[UpdateRule],
        target_names: Sequence[str],
        scheme: AmalgamationScheme,
        config: EngineConfig,
    ) -> None:
        self.task = task
        self.student = student
        self.targets = tuple(targets)
        self.target_names = tuple(target_names)
        self.scheme = scheme
        self.config = config

    # -- trajectories ------------------------------------------------------------------

    def warm_start(self, seed: int) -> tuple[Params, int]:
        """Initial parameters for trajectory ``seed`` after the SGD warmup, and the index of
        the first batch after it."""
        params = self.task.init_params(_seeded(seed))
        for index in range(self.config.warmup_steps):
            batch = self.task.batch_at("train", seed, index)
            _, grads = self.task.gradient(params, batch, generator=step_generator(seed, index))
            params = {k: (v - self.config.warmup_lr * grads[k]).detach() for k, v in params.items()}
        return params, self.config.warmup_steps

    def start(self, seed: int) -> UnrollState:
        """A new trajectory: warm start, the student's scaling, fresh optimizer states."""
        params, index = self.warm_start(seed)
        scale = None
        if self.config.random_scaling > 0:
            generator = _seeded(seed + 1)
            r = self.config.random_scaling
            scale = {
                key: torch.exp((torch.rand(value.shape, generator=generator) * 2 - 1) * r).to(value)
                for key, value in params.items()
            }
        return UnrollState(
            student=params,
            student_state=self.student.init(params),
            targets=tuple(params for _ in self.targets),
            target_states=tuple(target.init(params) for target in self.targets),
            scale=scale,
            data_seed=seed,
            index=index,
            step=0,
        )

    def _student_step(
        self,
        phi: Params,
        grads: Params,
        state: State,
        params: Params,
        scale: Params | None,
        step: int,
    ) -> tuple[Params, State]:
        seen = grads if scale is None else {k: g * scale[k] for k, g in grads.items()}
        inputs = params if scale is None else {k: v / scale[k] for k, v in params.items()}
        delta, state = torch.func.functional_call(self.student, phi, (seen, state, inputs, step))
        if scale is not None:
            delta = {key: value * scale[key] for key, value in delta.items()}
        return {key: value - delta[key] for key, value in params.items()}, state

    def _distance(self, student: Params, target: Params) -> Tensor:
        squared = sum(((student[k] - target[k].detach()) ** 2).sum() for k in student)
        count = sum(value.numel() for value in student.values())
        return torch.log(squared / count / 2 + self.config.log_eps)

    def truncation(self, length: int, alpha: float) -> Any:
        """The truncation function of ``length`` steps with imitation weight ``alpha``."""

        def run(phi: Params, start: UnrollState) -> TruncationResult:
            return self._run(phi, start, length, alpha)

        return run

    def _run(self, phi: Params, start: UnrollState, length: int, alpha: float) -> TruncationResult:
        task, eps = self.task, self.config.log_eps
        params = {key: value.detach().requires_grad_() for key, value in start.student.items()}
        state = start.student_state
        targets, target_states = list(start.targets), list(start.target_states)
        losses: list[Tensor] = []
        distances: list[Tensor] = []
        base = None
        for t in range(length):
            batch = task.batch_at("train", start.data_seed, start.index + t)
            step = start.step + t
            second_order = self.config.second_order
            noise = step_generator(start.data_seed, start.index + t)
            loss, grads = task.gradient(
                params, batch, generator=noise, retain_graph=True, create_graph=second_order
            )
            if t == 0:
                base = loss.detach()
            else:
                losses.append(loss)
            if not second_order:
                grads = {key: grad.detach() for key, grad in grads.items()}
            params, state = self._student_step(phi, grads, state, params, start.scale, step)
            for k, target in enumerate(self.targets):
                noise = step_generator(start.data_seed, start.index + t)
                _, target_grads = task.gradient(targets[k], batch, generator=noise)
                with torch.no_grad():
                    delta, target_states[k] = target.update(
                        target_grads, target_states[k], targets[k], step
                    )
                    targets[k] = target.apply(targets[k], delta)
            if self.targets:
                distances.append(torch.stack([self._distance(params, p) for p in targets]))
        final = task.loss(params, task.batch_at("train", start.data_seed, start.index + length))
        losses.append(final)
        assert base is not None
        meta = torch.log(torch.stack(losses) + eps) - torch.log(base + eps)
        table = torch.stack(distances) if distances else meta.new_zeros(length, 0)
        objective = self.scheme.objective(TruncationLosses(meta, table, self.target_names), alpha)
        end = UnrollState(
            student=detach(params),
            student_state=detach(state),
            targets=tuple(targets),
            target_states=tuple(target_states),
            scale=start.scale,
            data_seed=start.data_seed,
            index=start.index + length,
            step=start.step + length,
        )
        logs = {
            "meta_loss": meta.mean().detach(),
            "imitation": table.mean(dim=0).detach(),
            "loss": final.detach(),
            "finite": torch.tensor(bool(torch.isfinite(objective)) and is_finite(end.student)),
        }
        return TruncationResult(objective=objective, end=end, logs=logs)

    # -- validation ----------------------------------------------------------------------

    def validate(self, phi: Params, seeds: Sequence[int], length: int) -> float:
        """How well the student trains the task: over fresh ``length``-step trajectories (no
        scaling, no imitation, no graph), the log of the best loss on the task's validation
        split, checked ``VALIDATION_CHECKS`` times along the way, averaged over ``seeds``.
        Lower is better; a diverged trajectory counts as +inf."""
        checks = {round(length * (i + 1) / VALIDATION_CHECKS) for i in range(VALIDATION_CHECKS)}
        results = []
        for seed in seeds:
            start = replace(self.start(seed), scale=None)
            params, state = start.student, start.student_state
            best = math.inf
            for t in range(length):
                batch = self.task.batch_at("train", seed, start.index + t)
                noise = step_generator(seed, start.index + t)
                loss, grads = self.task.gradient(params, batch, generator=noise)
                if not math.isfinite(float(loss.detach())):
                    best = math.inf
                    break
                with torch.no_grad():
                    params, state = self._student_step(phi, grads, state, params, None, t)
                if t + 1 in checks:
                    value = validation_metrics(self.task, params)["loss"]
                    if not math.isfinite(value):
                        best = math.inf
                        break
                    best = min(best, value)
            results.append(
                math.log(best + self.config.log_eps) if math.isfinite(best) else math.inf
            )
        return sum(results) / len(results)
