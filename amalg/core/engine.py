"""The unroll engine: the one place that walks a trajectory.

Huang et al. 2022, Section 3 and Appendix A (Algorithm 1), Appendix C.3. A trajectory starts
from the warm start (:func:`amalg.core.warm_start.warm_start`: fresh task parameters after
``warmup_steps`` SGD steps at lr 0.01), then the student and every teacher walk side by side
from that point on the same batches, in truncations. Within a truncation the student's steps
stay in the autograd graph of its meta-parameters phi; the teachers' do not (they do not
depend on phi). At a truncation's end everything is detached: the next truncation starts
from plain values.

Per truncation of T steps from theta_0, with f_t the task loss of theta_t on its batch:

    meta[t]    = log(f_t + eps) - log(f_0 + eps)                       t = 1..T
    d[t, k]    = log(mean((theta_P,t - theta_k,t)^2) / 2 + eps)        per teacher k

which the scheme reduces to the meta-objective. With ``clip_meta_loss`` each term is clipped at
0 (the loss at the truncation's start) and a NaN term counts as 0.

By default the student's gradient inputs are detached (the first-order meta-gradient of
Andrychowicz et al. 2016), so the meta-backward runs through the student's updates and the
task losses but not through second derivatives;
``second_order=true`` keeps them, and the truncation's meta-gradient is then exact.

A student may ask for a per-coordinate scale during meta-training
(:meth:`Student.training_scale`; RNNProp's random scaling, Lv et al. 2017): it then
optimises f(s * x), sees gradients s * g and its update is applied as theta -= s * delta.
The teachers see clean gradients.

A run's perturbation (Section 4.2) is applied here, to meta-training truncations only: the
weight perturbation ``phi~`` is computed from the truncation's start (its draws seeded by
that start, its adversarial steps replaying the truncation from it) and the truncation runs
at ``phi~``; an input perturbation changes the gradients the student sees, seeded by each
step's address. Validation never perturbs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from amalg.core.analysis.evaluation import validation_metrics
from amalg.core.config import MAX_STEPS, ComponentConfig
from amalg.core.functional import (
    Params,
    State,
    flatten,
    graph_wanted,
    step_generator,
    tree_leaves,
    tree_map,
    with_gradient,
)
from amalg.core.interfaces import (
    AmalgamationScheme,
    Batch,
    Perturbation,
    Student,
    Task,
    TruncationFn,
    TruncationLog,
    TruncationLosses,
    TruncationResult,
    UpdateRule,
)
from amalg.core.seeds import generator_at
from amalg.core.warm_start import warm_start

__all__ = ["EngineConfig", "UnrollEngine", "UnrollState", "detach", "is_finite"]

VALIDATION_CHECKS = 10


class EngineConfig(ComponentConfig):
    warmup_steps: int = Field(
        100, ge=0, le=MAX_STEPS, description="SGD steps before the optimizers take over."
    )
    warmup_lr: float = Field(0.01, gt=0, description="Learning rate of the warmup SGD steps.")
    log_eps: float = Field(1e-10, gt=0, description="eps inside the meta-loss and imitation logs.")
    second_order: bool = Field(
        False,
        description="Differentiate through the student's gradient inputs too (exact, slower).",
    )
    clip_meta_loss: bool = Field(
        False,
        description="Clip each step's loss at the truncation's starting loss, NaN to that clip "
        "(Metz et al. 2022; for ES and PES).",
    )

    @classmethod
    def quick(cls) -> dict[str, Any]:
        return {"warmup_steps": 20}


@dataclass(frozen=True)
class UnrollState:
    """Where a trajectory is: plain (detached) values, so a truncation can be replayed."""

    student: Params
    student_state: State
    teachers: tuple[Params, ...]
    teacher_states: tuple[State, ...]
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


def _relative(psi: Params, phi: Params) -> float:
    """``||psi|| / ||phi||`` over all tensors together (inf for a zero phi moved)."""
    moved = math.sqrt(sum(float((value.double() ** 2).sum()) for value in psi.values()))
    size = math.sqrt(sum(float((value.double() ** 2).sum()) for value in phi.values()))
    return moved / size if size > 0 else (0.0 if moved == 0 else math.inf)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class UnrollEngine:
    """Walks trajectories of ``student`` and ``teachers`` on ``task``."""

    def __init__(
        self,
        task: Task,
        student: Student,
        teachers: Sequence[UpdateRule],
        teacher_labels: Sequence[str],
        scheme: AmalgamationScheme,
        config: EngineConfig,
        perturbation: Perturbation | None = None,
    ) -> None:
        if len(teachers) != len(teacher_labels):
            raise ValueError("one label per teacher")
        self.task = task
        self.student = student
        self.teachers = tuple(teachers)
        self.teacher_labels = tuple(teacher_labels)
        self.scheme = scheme
        self.config = config
        self.perturbation = perturbation

    # -- trajectories ------------------------------------------------------------------

    def warm_start(self, seed: int) -> tuple[Params, int]:
        """The run's warm start for trajectory ``seed`` (see :func:`warm_start`)."""
        return warm_start(self.task, seed, self.config.warmup_steps, self.config.warmup_lr)

    def start(self, seed: int, scaled: bool = True) -> UnrollState:
        """A new trajectory: warm start, the student's scaling (when ``scaled`` and the
        student asks for one), fresh optimizer states."""
        params, index = self.warm_start(seed)
        # The scale's generator is addressed by the trajectory (seed + 1 since the first
        # release: the same runs give the same numbers).
        scale = self.student.training_scale(params, _seeded(seed + 1)) if scaled else None
        return UnrollState(
            student=params,
            student_state=self.student.init(params),
            teachers=tuple(params for _ in self.teachers),
            teacher_states=tuple(teacher.init(params) for teacher in self.teachers),
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

    def _distances(self, student: Params, teachers: Sequence[Params]) -> Tensor:
        """``log(mean squared distance / 2 + eps)`` from the student to each teacher, over
        every coordinate at once (one vector each, in the student's key order: a few
        operations a teacher whatever the number of tensors)."""
        flat = flatten(student)
        count = flat.numel()
        logs = []
        for teacher in teachers:
            other = flatten({key: teacher[key] for key in student}).detach()
            squared = ((flat - other) ** 2).sum()
            logs.append(torch.log(squared / count / 2 + self.config.log_eps))
        return torch.stack(logs)

    def _loss_and_gradient(
        self, params: Params, batch: Batch, generator: torch.Generator
    ) -> tuple[Tensor, Params]:
        """The task's loss at the student's ``params`` on ``batch``, differentiable in
        ``params`` (so in phi), and the gradient the student is fed: detached unless
        ``second_order``.

        First order, for a task whose oracle is the loss's own gradient, the oracle runs
        without a graph and the loss enters the meta-objective through
        :func:`~amalg.core.functional.with_gradient`: its backward pass reuses the gradient
        instead of a second pass through the task's activations, which are then not kept
        (the same meta-gradient to rounding, in less time and memory). Second order, or for
        an oracle that is not the loss's gradient (DP-SGD's clipped, noisy one), the loss's
        graph is kept and differentiated again."""
        task, second_order = self.task, self.config.second_order
        if second_order or not task.exact_gradient:
            loss, grads = task.gradient(
                params, batch, generator=generator, retain_graph=True, create_graph=second_order
            )
            if not second_order:
                grads = {key: grad.detach() for key, grad in grads.items()}
            return loss, grads
        loss, grads = task.gradient(detach(params), batch, generator=generator)
        if graph_wanted(*params.values()):
            keys = list(params)
            loss = with_gradient(loss, [params[k] for k in keys], [grads[k] for k in keys])
        return loss, grads

    def truncation(self, length: int, alpha: float) -> TruncationFn:
        """The truncation function of ``length`` steps with imitation weight ``alpha``: a
        pure function of ``(phi, start)``, perturbed when the run has a perturbation."""

        def run(phi: Params, start: UnrollState) -> TruncationResult:
            return self._run(phi, start, length, alpha)

        if self.perturbation is None:
            return run
        perturbation = self.perturbation

        def perturbed(phi: Params, start: UnrollState) -> TruncationResult:
            clean = {key: value.detach() for key, value in phi.items()}

            def objective(values: Params) -> Tensor:
                with torch.enable_grad():  # ascent steps differentiate even under ES
                    return run(values, start).objective

            generator = generator_at(start.data_seed, "perturbation", start.index)
            tilde = perturbation.perturb(clean, objective, generator)
            psi = {key: (tilde[key] - clean[key]).detach() for key in phi}
            # psi is a constant of the truncation: the meta-gradient at phi~ applies to phi.
            result = run({key: phi[key] + psi[key] for key in phi}, start)
            return replace(result, log=replace(result.log, perturbation=_relative(psi, clean)))

        return perturbed

    def _run(self, phi: Params, start: UnrollState, length: int, alpha: float) -> TruncationResult:
        task, eps = self.task, self.config.log_eps
        params = {key: value.detach().requires_grad_() for key, value in start.student.items()}
        state = start.student_state
        teachers, teacher_states = list(start.teachers), list(start.teacher_states)
        losses: list[Tensor] = []
        distances: list[Tensor] = []
        base: Tensor | None = None
        for t in range(length):
            index = start.index + t
            batch = task.batch_at("train", start.data_seed, index)
            step = start.step + t
            loss, grads = self._loss_and_gradient(
                params, batch, step_generator(start.data_seed, index)
            )
            if base is None:
                base = loss.detach()
            else:
                losses.append(loss)
            if self.perturbation is not None:
                noise = generator_at(start.data_seed, "inputs", index)
                grads = self.perturbation.perturb_inputs(grads, noise)
            params, state = self._student_step(phi, grads, state, params, start.scale, step)
            for k, teacher in enumerate(self.teachers):
                noise = step_generator(start.data_seed, index)
                _, teacher_grads = task.gradient(teachers[k], batch, generator=noise)
                with torch.no_grad():
                    if t == 0:  # the start's tensors: a replay reads them again
                        delta, teacher_states[k] = teacher.update(
                            teacher_grads, teacher_states[k], teachers[k], step
                        )
                        teachers[k] = teacher.apply(teachers[k], delta)
                    else:  # this truncation's own: written in place, no copies
                        teacher_states[k] = teacher.step_in_place(
                            teacher_grads, teacher_states[k], teachers[k], step
                        )
            if self.teachers:
                distances.append(self._distances(params, teachers))
        final = task.loss(params, task.batch_at("train", start.data_seed, start.index + length))
        losses.append(final)
        if base is None:
            raise ValueError("a truncation takes at least one step")
        meta = torch.log(torch.stack(losses) + eps) - torch.log(base + eps)
        if self.config.clip_meta_loss:
            # A diverging or NaN step counts as no progress, not as an unbounded loss: ES and
            # PES differences stay finite (Metz et al. 2022, Appendix D.1).
            meta = torch.nan_to_num(meta.clamp(max=0.0), nan=0.0)
        table = torch.stack(distances) if distances else meta.new_zeros(length, 0)
        objective = self.scheme.objective(TruncationLosses(meta, table, self.teacher_labels), alpha)
        end = UnrollState(
            student=detach(params),
            student_state=detach(state),
            teachers=tuple(teachers),
            teacher_states=tuple(teacher_states),
            scale=start.scale,
            data_seed=start.data_seed,
            index=start.index + length,
            step=start.step + length,
        )
        log = TruncationLog(
            meta_loss=float(meta.detach().mean()),
            imitation=tuple(float(value) for value in table.detach().mean(dim=0)),
            loss=float(final.detach()),
            finite=bool(torch.isfinite(objective.detach())) and is_finite(end.student),
            observed=self.student.observe(end.student_state, end.student),
        )
        return TruncationResult(objective=objective, end=end, log=log)

    # -- validation ----------------------------------------------------------------------

    def validate(self, phi: Params, seeds: Sequence[int], length: int) -> float:
        """How well the student trains the task: over fresh ``length``-step trajectories (no
        scaling, no imitation, no perturbation, no graph), the log of the best loss on the
        task's validation split, checked ``VALIDATION_CHECKS`` times along the way, averaged
        over ``seeds``. Lower is better; a diverged trajectory counts as +inf."""
        results = self.validation_losses(phi, seeds, length)
        return sum(results) / len(results)

    def validation_losses(self, phi: Params, seeds: Sequence[int], length: int) -> list[float]:
        """:meth:`validate`'s value of each trajectory, one per seed (workers split them)."""
        checks = {round(length * (i + 1) / VALIDATION_CHECKS) for i in range(VALIDATION_CHECKS)}
        results = []
        for seed in seeds:
            start = self.start(seed, scaled=False)
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
        return results
