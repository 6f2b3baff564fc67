"""Meta-steps over several trajectories (meta_optimizer.batch), and the same run spread over
worker processes with torch.distributed: rank 0 alone writes, the result is the single
process's."""

from __future__ import annotations

import copy
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from amalg.core.run_folder import RunFolder
from amalg.core.training.build import build_run
from amalg.core.training.trainer import Trainer, _average
from amalg.core.training.workers import SOLO, Workers

from .test_trainer import TINY, PoisonEveryOther, claimed


def _batched(batch: int, trajectories: int = 3) -> dict:
    values = copy.deepcopy(TINY)
    values["strategy"]["config"]["trajectories"] = trajectories
    values["meta_optimizer"] = {"batch": batch}
    return values


def _phi(parts) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in parts.student.named_parameters()}


def test_the_average_is_summed_in_order_and_one_meta_gradient_is_kept_as_it_is() -> None:
    one = {"w": torch.tensor([1.0, 2.0])}
    assert _average([one])["w"] is one["w"]
    two = {"w": torch.tensor([3.0, 6.0])}
    assert torch.equal(_average([one, two])["w"], torch.tensor([2.0, 4.0]))


def test_a_batch_takes_one_meta_step_per_truncation_of_its_trajectories(tmp_path) -> None:
    config, parts = build_run(_batched(batch=2))
    trainer = Trainer(config, parts, claimed(config, tmp_path))
    steps = []
    original = trainer.learner.step
    trainer.learner.step = lambda grads: steps.append(grads) or original(grads)
    trainer.train()
    # 3 trajectories of 4 truncations in batches of 2 and 1: 4 + 4 meta-steps, not 12.
    assert len(steps) == 8
    with (trainer.folder.path / "summary.csv").open() as file:
        [row] = list(csv.DictReader(file))
    assert int(row["trajectories"]) == 3 and int(row["nonfinite"]) == 0


def test_the_batch_changes_the_training_and_is_saved_only_when_set(tmp_path) -> None:
    results = []
    for batch in (1, 2):
        config, parts = build_run(_batched(batch=batch))
        Trainer(config, parts, claimed(config, tmp_path / str(batch))).train()
        results.append(_phi(parts))
        assert ("batch" in config.model_dump()["meta_optimizer"]) == (batch != 1)
    assert any(not torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_a_non_finite_trajectory_leaves_the_batch_and_the_others_go_on(tmp_path) -> None:
    config, parts = build_run(_batched(batch=2, trajectories=2))
    parts.by_kind["estimator"]["tbptt"] = PoisonEveryOther(parts.estimator)
    folder = claimed(config, tmp_path)
    trainer = Trainer(config, parts, folder)
    trainer.train()
    assert all(torch.isfinite(p).all() for p in parts.student.parameters())
    with (folder.path / "summary.csv").open() as file:
        [row] = list(csv.DictReader(file))
    # The second trajectory's first truncation is poisoned: it leaves; the first one keeps
    # walking alone, its every other call poisoned in turn.
    assert int(row["nonfinite"]) == 2


def test_workers_deal_out_positions_round_robin() -> None:
    assert SOLO.mine(3) == [0, 1, 2] and SOLO.gather("x") == ["x"] and SOLO.share(5) == 5
    assert Workers(rank=1, size=2).mine(5) == [1, 3]
    assert not Workers(rank=1, size=2).main


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [
        sys.executable, "-m", "amalg", "run", "--teacher", "adam", "--scheme", "imitation",
        "--strategy", "repeat", "--no-tune", "--set", "meta_optimizer.batch=2",
        "--set", "engine.warmup_steps=5",
        "--set", "strategy.repeat.periods=1", "--set", "strategy.repeat.unrolls=[10]",
        "--set", "strategy.repeat.truncation=5", "--set", "strategy.repeat.trajectories=4",
        "--set", "strategy.repeat.validation_unroll=6",
        "--set", "strategy.repeat.validation_trajectories=3",
        "--set", "evaluation.horizon=5", "--set", "evaluation.seeds=1",
        "--out", str(out), *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_worker_processes_give_the_single_process_run_bitwise(tmp_path) -> None:
    single, spread = _run(tmp_path / "one"), _run(tmp_path / "two", "--workers", "2")
    assert single.returncode == 0, single.stderr
    assert spread.returncode == 0, spread.stderr
    one, two = RunFolder(tmp_path / "one"), RunFolder(tmp_path / "two")
    files = sorted(p.relative_to(one.path) for p in one.path.rglob("*") if p.is_file())
    assert [p for p in files if p.parts[0] == "checkpoints"]
    for relative in files:
        if relative.parts[0] in ("checkpoints", "log", "optimizer") or relative.name in (
            "summary.csv",
            "config.json",
        ):
            assert (one.path / relative).read_bytes() == (two.path / relative).read_bytes(), (
                relative
            )


def test_workers_that_cannot_share_the_batch_are_refused_in_one_line(tmp_path) -> None:
    result = _run(tmp_path / "run", "--workers", "3")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "meta_optimizer.batch=3" in result.stderr
    assert not (tmp_path / "run").exists()
