"""The first phase of a two-phase run (optimal choice, Huang et al. 2022 Section 3.3): a
policy over the run's teachers, meta-trained on the meta-loss alone into the run folder's
``policy/`` folder, then handed to the second phase as the student's single teacher.

The policy folder is a run folder of its own (config, checkpoints, summary, logs, the saved
policy), so a stop in either phase resumes exactly: a finished policy is loaded, not
retrained, and an unfinished one continues from its last checkpoint."""

from __future__ import annotations

from typing import Any

import torch

from amalg.core.component import Component
from amalg.core.interfaces import PolicyPhase, Student
from amalg.core.registry import Registry
from amalg.core.run_folder import Claim, RunFolder, RunFolderError, load_student
from amalg.core.runconfig import RunSettings
from amalg.core.training.build import Components, build_run
from amalg.core.training.events import EventSink, PhaseStarted
from amalg.core.training.trainer import Trainer
from amalg.core.training.workers import SOLO, Workers

__all__ = ["POLICY_FOLDER", "policy_values", "train_policy", "with_policy"]

POLICY_FOLDER = "policy"


def policy_values(config: RunSettings, phase: PolicyPhase) -> dict[str, Any]:
    """The config of the policy phase of ``config``: the same task, seed, engine, estimator
    and meta-optimizer; the policy student with the run's teachers as its pool (at the
    learning rates the run resolved); no teachers, no imitation, no perturbation, no
    held-out evaluation."""
    values = config.model_dump(mode="json")
    pool = [
        {"name": teacher.name, "label": teacher.label, "config": teacher.config}
        for teacher in config.choices("teacher")
    ]
    values.update(
        name=POLICY_FOLDER,
        student={"name": phase.student, "config": {**phase.student_config, "pool": pool}},
        teachers=[],
        scheme={"name": "none", "config": {}},
        strategy={"name": phase.strategy, "config": dict(phase.strategy_config)},
        perturbation=None,
    )
    values["evaluation"] = {**values["evaluation"], "tasks": []}
    return values


def train_policy(
    config: RunSettings,
    phase: PolicyPhase,
    folder: RunFolder,
    resume: bool,
    on_event: EventSink = lambda event: None,
    registry: Registry | None = None,
    workers: Workers = SOLO,
    device: torch.device | str = "cpu",
) -> Student:
    """The trained policy of ``config``'s run in ``folder``: loaded when its phase is done,
    else meta-trained (continuing its last checkpoint when ``resume``) and saved. Worker 0
    claims and writes the policy's folder; every worker trains and returns the policy."""
    settings, parts = build_run(policy_values(config, phase), registry, str(device))
    policy = RunFolder(folder.path / POLICY_FOLDER)
    pool = ", ".join(teacher.key for teacher in config.choices("teacher"))
    claim = None
    if workers.main:
        claim = policy.claim(settings.model_dump(mode="json"), resume=resume and policy.holds_run())
    claim = workers.share(claim)
    if claim is Claim.FINISHED:
        try:
            trained = load_student(policy.path, registry).to(parts.device)
        except RunFolderError as error:
            raise RunFolderError(
                f"{error}; delete {policy.result_path} and resume: the policy is saved again "
                "from its checkpoints"
            ) from None
        on_event(PhaseStarted(1, 2, f"the {phase.student} policy over {pool}: done, loaded"))
        return trained
    on_event(PhaseStarted(1, 2, f"meta-training the {phase.student} policy over {pool}"))
    trainer = Trainer(settings, parts, policy, on_event, workers)
    checkpoint = trainer.train(resume=claim is Claim.RESUME)
    if workers.main:
        choice = settings.choice("student")
        policy.save_optimizer(choice.name, choice.config, dict(parts.student.state_dict()))
        policy.write_result([], checkpoint)
    return parts.student


def with_policy(components: Components, phase: PolicyPhase, policy: Student) -> Components:
    """The run's components with the policy as the single teacher (for meta-training only:
    the final comparison keeps the run's teachers)."""
    teachers: dict[str, Component[Any]] = {phase.target: policy}
    return Components(by_kind={**components.by_kind, "teacher": teachers}, device=components.device)
