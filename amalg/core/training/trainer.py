"""Meta-training: the strategy's periods of trajectories, the estimator's meta-gradients
applied by the meta-learner, validation, checkpoints and best reloads.

Everything random is drawn from generators addressed by ``(seed, purpose, counters)``
(:mod:`amalg.core.seeds`), so the same config and seed give the same numbers, and a run
resumed from a checkpoint (written at every period's end) continues exactly as if it had
never stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from amalg.core.engine import UnrollEngine, is_finite
from amalg.core.functional import Params
from amalg.core.interfaces import Period, TruncationLog
from amalg.core.run_folder import RunFolder, RunFolderError
from amalg.core.runconfig import RunSettings
from amalg.core.seeds import derive_seed, generator_at
from amalg.core.training.build import Components
from amalg.core.training.checkpoint import Checkpoint, LearnerState, fingerprint
from amalg.core.training.events import (
    EventSink,
    PeriodFinished,
    RunStarted,
    TrajectoryFinished,
    TruncationDiscarded,
)
from amalg.core.training.meta_learner import MetaLearner
from amalg.core.training.progress import PeriodSummary, Progress, mean_or_nan
from amalg.core.training.workers import SOLO, Workers

__all__ = ["Trainer", "build_engine"]


def build_engine(config: RunSettings, components: Components) -> UnrollEngine:
    """The unroll engine of a run: its task, student, teachers, scheme and perturbation."""
    return UnrollEngine(
        components.task,
        components.student,
        components.teachers,
        components.teacher_labels,
        components.scheme,
        config.engine,
        components.perturbation,
    )


@dataclass
class _PeriodLogs:
    """What a period's trajectories produced."""

    truncations: list[TruncationLog] = field(default_factory=list)
    discarded: int = 0
    last: dict[int, TruncationLog] = field(default_factory=dict)
    """Each trajectory's last kept truncation, by its position in the period."""


@dataclass(frozen=True)
class _Estimate:
    """One trajectory's truncation, as workers exchange it (grads None: not finite)."""

    trajectory: int
    grads: Params | None
    log: TruncationLog


def _average(grads: list[Params]) -> Params:
    """The mean meta-gradient, summed in trajectory order (the same on every worker); a
    single one is returned as it is."""
    if len(grads) == 1:
        return grads[0]
    return {key: sum((g[key] for g in grads[1:]), grads[0][key]) / len(grads) for key in grads[0]}


class Trainer:
    """Meta-trains one run's student into its run folder."""

    def __init__(
        self,
        config: RunSettings,
        components: Components,
        folder: RunFolder,
        on_event: EventSink = lambda event: None,
        workers: Workers = SOLO,
    ) -> None:
        self.config = config
        self.parts = components
        self.folder = folder
        self.workers = workers
        self.emit = on_event if workers.main else lambda event: None
        self.engine = build_engine(config, components)
        self.learner = MetaLearner(components.student, config.meta_optimizer)
        self.teachers = tuple(components.teacher_labels)
        self.fingerprint = fingerprint(config.model_dump(mode="json"))

    def train(self, resume: bool = False) -> str:
        """Run the strategy's periods (from the last checkpoint when ``resume``); the name of
        the checkpoint the student now holds, the last stage's best."""
        latest = self.folder.latest_checkpoint() if resume else None
        progress = self._resume(latest) if latest else self._fresh()
        self.emit(RunStarted(resumed_from=latest, teachers=self.teachers))
        strategy = self.parts.strategy
        while (period := strategy.next_period(progress.strategy)) is not None:
            progress = self._period(period, progress)
        final = progress.final_checkpoint()
        if final is None:
            raise RunFolderError("the strategy ran no period: nothing was trained")
        return final

    def _fresh(self) -> Progress:
        self.learner.reset(generator_at(self.config.seed, "student"))
        return Progress(strategy=self.parts.strategy.start())

    def _load(self, name: str) -> Checkpoint:
        """A checkpoint of this run (one copied from another run is refused)."""
        checkpoint = self.folder.load_checkpoint(name)
        if checkpoint.run != self.fingerprint:
            raise RunFolderError(
                f"checkpoint {self.folder.checkpoint_path(name)} was written by another run "
                "(another config); remove it and every later checkpoint to go back to the "
                "period before it"
            )
        return checkpoint

    def _resume(self, name: str) -> Progress:
        checkpoint = self._load(name)
        self.learner.load(checkpoint.current, f"checkpoint {self.folder.checkpoint_path(name)}")
        # A stop after a later period's files but before its checkpoint: back to this one.
        if self.workers.main:
            self.folder.write_summary(checkpoint.progress.periods)
        return checkpoint.progress

    def _period(self, period: Period, progress: Progress) -> Progress:
        started = time.perf_counter()
        logs = _PeriodLogs()
        batch = self.config.meta_optimizer.batch
        for first in range(0, period.trajectories, batch):
            group = list(range(first, min(first + batch, period.trajectories)))
            self._group(period, progress.trajectories, group, logs)
            for trajectory in group:
                self._finished(period, trajectory, logs)
        seeds = [
            derive_seed(self.config.seed, "validation", i)
            for i in range(period.validation_trajectories)
        ]
        validation = self._validate(seeds, period.validation_unroll)
        strategy_state, decision = self.parts.strategy.record(progress.strategy, period, validation)
        imitation = np.asarray([log.imitation for log in logs.truncations], dtype=float)
        means = imitation.mean(axis=0) if len(imitation) else [float("nan")] * len(self.teachers)
        summary = PeriodSummary(
            stage=period.stage,
            period=period.period,
            unroll=period.unroll,
            truncation=period.truncation,
            trajectories=period.trajectories,
            alpha=period.alpha,
            meta_loss=mean_or_nan([log.meta_loss for log in logs.truncations]),
            imitation={
                label: float(value) for label, value in zip(self.teachers, means, strict=True)
            },
            validation=validation,
            new_best=decision.new_best,
            nonfinite=progress.nonfinite + logs.discarded,
            perturbation=None
            if self.parts.perturbation is None
            else mean_or_nan([log.perturbation for log in logs.truncations]),
        )
        ended = self.learner.state()
        progress = progress.after(summary, strategy_state, period.trajectories)
        best = progress.best.get(str(period.stage))
        if decision.reload_best and best is not None:
            self._reload(best, summary.checkpoint)
        if self.workers.main:
            self._write(summary, progress, logs, ended, started)
        self.emit(PeriodFinished(summary=summary, reloaded=decision.reload_best))
        return progress

    def _write(
        self,
        summary: PeriodSummary,
        progress: Progress,
        logs: _PeriodLogs,
        ended: LearnerState,
        started: float,
    ) -> None:
        """The period's records, then its checkpoint."""
        imitation = np.asarray([log.imitation for log in logs.truncations], dtype=float)
        # The checkpoint goes last: it is what a resume continues from, so everything the
        # period wrote must be on disk before it.
        self.folder.write_summary(progress.periods)
        self.folder.write_period_log(
            summary.checkpoint,
            [log.meta_loss for log in logs.truncations],
            imitation,
            self.teachers,
            None
            if self.parts.perturbation is None
            else [log.perturbation for log in logs.truncations],
            [log.observed for log in logs.truncations],
        )
        self.folder.save_checkpoint(
            summary.checkpoint, Checkpoint(self.fingerprint, progress, ended, self.learner.state())
        )
        self.folder.record_timing(summary.checkpoint, time.perf_counter() - started)

    def _finished(self, period: Period, trajectory: int, logs: _PeriodLogs) -> None:
        last = logs.last.get(trajectory)
        self.emit(
            TrajectoryFinished(
                stage=period.stage,
                period=period.period,
                trajectory=trajectory + 1,
                trajectories=period.trajectories,
                unroll=period.unroll,
                meta_loss=last.meta_loss if last else float("nan"),
                imitation=dict(zip(self.teachers, last.imitation, strict=True)) if last else {},
            )
        )

    def _group(self, period: Period, offset: int, group: list[int], logs: _PeriodLogs) -> None:
        """Trajectories ``group`` of ``period`` (positions; ``offset`` is the run's count of
        trajectories before the period) walked side by side: at each truncation, the mean of
        their meta-gradients is one meta-step. A trajectory whose truncation is not finite is
        discarded with the rest of it; a meta-step the learner refuses discards every
        trajectory that took part. Each worker walks its share of ``group``."""
        seed = self.config.seed
        estimator = self.parts.estimator
        truncation = self.engine.truncation(period.truncation, period.alpha)
        mine = [group[i] for i in self.workers.mine(len(group))]
        states = {}
        for trajectory in mine:
            counter = offset + trajectory
            start = self.engine.start(derive_seed(seed, "train", counter))
            generator = generator_at(seed, "estimator", counter)
            states[trajectory] = estimator.init(self.learner.phi, start, generator)
        alive = set(group)
        for index in range(period.unroll // period.truncation):
            local = []
            for trajectory in mine:
                if trajectory not in alive:
                    continue
                generator = generator_at(seed, "estimator", offset + trajectory, index)
                estimate = estimator.estimate(
                    self.learner.phi, truncation, states[trajectory], generator
                )
                finite = estimate.log.finite and is_finite(estimate.grads)
                grads = self._sendable(estimate.grads) if finite else None
                local.append(_Estimate(trajectory, grads, estimate.log))
                states[trajectory] = estimate.state
            gathered = [item for part in self.workers.gather(local) for item in part]
            gathered.sort(key=lambda item: item.trajectory)
            kept = [item for item in gathered if item.grads is not None]
            dropped = [item.trajectory for item in gathered if item.grads is None]
            if kept and not self.learner.step(
                self._received([cast(Params, i.grads) for i in kept])
            ):
                dropped += [item.trajectory for item in kept]
                kept = []
            for trajectory in dropped:
                alive.discard(trajectory)
                logs.discarded += 1
                self.emit(TruncationDiscarded(stage=period.stage, period=period.period))
            for item in kept:
                logs.truncations.append(item.log)
                logs.last[item.trajectory] = item.log
            if not alive:
                return

    def _sendable(self, grads: Params) -> Params:
        """A meta-gradient as workers exchange it: on the CPU (a pickled CUDA tensor would
        arrive on the sender's GPU); a single process keeps it where it is."""
        if self.workers.size == 1:
            return grads
        return {key: value.detach().cpu() for key, value in grads.items()}

    def _received(self, grads: list[Params]) -> Params:
        """The mean of gathered meta-gradients (computed where they arrived, the CPU for
        workers: the same on every worker), back on the run's device."""
        mean = _average(grads)
        if self.workers.size == 1:
            return mean
        return {key: value.to(self.parts.device) for key, value in mean.items()}

    def _validate(self, seeds: list[int], length: int) -> float:
        """The engine's validation (its mean over ``seeds``, summed in seed order), its
        trajectories dealt out to the workers."""
        if self.workers.size == 1:
            return self.engine.validate(self.learner.phi, seeds, length)
        mine = self.workers.mine(len(seeds))
        losses = self.engine.validation_losses(self.learner.phi, [seeds[i] for i in mine], length)
        gathered = self.workers.gather(list(zip(mine, losses, strict=True)))
        ordered = [loss for _, loss in sorted(pair for part in gathered for pair in part)]
        return sum(ordered) / len(ordered)

    def _reload(self, best: str, current: str) -> None:
        """Back to the stage's best period: its phi and its meta-optimizer moments."""
        if best == current:
            return
        checkpoint = self._load(best)
        self.learner.load(checkpoint.period_end, f"checkpoint {self.folder.checkpoint_path(best)}")
