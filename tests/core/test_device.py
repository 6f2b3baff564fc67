"""Where a run computes: devices are checked in one line, a task on a device moves what it
makes, and a run through that plumbing is the run itself. Meta-training, evaluation and
``amalg.optim`` on the GPU are compared with the CPU where torch sees one; on CPU-only
machines the same tests compare two CPU runs bit for bit (``checks.agree``)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import amalg
import amalg.optim
from amalg.cli import app
from amalg.core.device import (
    CHUNK_BYTES,
    DeviceError,
    OnDevice,
    chunk_rows,
    on_device,
    resolve_device,
    to_device,
)
from amalg.core.training.build import build_run
from amalg.core.training.trainer import Trainer
from amalg.testing import checks
from amalg.testing.problems import TARGET

from .training.test_trainer import TINY, claimed

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")


@pytest.fixture(autouse=True)
def _float32_without_tf32():
    """cuDNN's convolutions (and, where enabled, matrix products) default to TF32 on recent
    GPUs, 1e-3 relative: the CPU comparisons below need float32 as the CPU computes it."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_cpu_is_always_there_and_other_names_are_refused_in_one_line() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("tpu", "cuda:x", "", "mps"):
        with pytest.raises(DeviceError) as raised:
            resolve_device(name)
        assert "\n" not in str(raised.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_so_and_what_to_do() -> None:
    with pytest.raises(DeviceError, match="sees no CUDA device here; run with --device cpu"):
        resolve_device("cuda")


def test_a_task_on_a_device_moves_parameters_and_batches_and_is_itself_otherwise() -> None:
    task = amalg.create("task", "digits_cnn")
    assert on_device(task, torch.device("cpu")) is task
    moved = OnDevice(task, torch.device("cpu"))
    assert moved.name == task.name and moved.config == task.config
    assert moved.batches_per_epoch("train") == task.batches_per_epoch("train")
    generator = torch.Generator
    params = moved.init_params(generator().manual_seed(3))
    expected = task.init_params(generator().manual_seed(3))
    assert all(torch.equal(params[k], expected[k]) for k in expected)
    batch = moved.batch_at("train", 1, 2)
    assert all(torch.equal(a, b) for a, b in zip(batch, task.batch_at("train", 1, 2), strict=True))
    assert to_device({"a": [torch.ones(1)], "b": 3}, torch.device("cpu"))["b"] == 3


def test_chunks_are_small_on_the_cpu_and_bounded_by_memory_elsewhere() -> None:
    assert chunk_rows(torch.empty(3), 100, width=8) == 100
    elsewhere = torch.empty(3, device="meta")  # stands for a GPU: shapes only
    assert chunk_rows(elsewhere, 100, width=8) == CHUNK_BYTES // 32
    assert chunk_rows(elsewhere.double(), 100, width=8) == CHUNK_BYTES // 64
    assert chunk_rows(elsewhere, 100, width=CHUNK_BYTES) == 100  # never below the CPU's


def _trained(task_wrapper=None):
    config, parts = build_run(copy.deepcopy(TINY))
    if task_wrapper is not None:
        parts.by_kind["task"] = {key: task_wrapper(t) for key, t in parts.by_kind["task"].items()}
    return config, parts


def test_a_run_through_the_device_plumbing_is_the_run_itself(tmp_path) -> None:
    phis = []
    for index, wrapper in enumerate((None, lambda t: OnDevice(t, torch.device("cpu")))):
        config, parts = _trained(wrapper)
        Trainer(config, parts, claimed(config, tmp_path / str(index))).train()
        phis.append({k: v.detach() for k, v in parts.student.named_parameters()})
    assert all(torch.equal(phis[0][k], phis[1][k]) for k in phis[0])


@pytest.mark.parametrize("estimator", ["tbptt", "pes"])
def test_meta_training_on_the_device_agrees_with_the_cpu(tmp_path, estimator: str) -> None:
    """Every random draw (phi's reset, ES/PES noise) is made on the CPU and moved, so a
    device run follows the CPU run to float rounding."""
    values = {**TINY, "estimator": {"name": estimator}}
    phis = []
    for index, device in enumerate(("cpu", TARGET)):
        config, parts = build_run(copy.deepcopy(values), device=device)
        assert next(parts.student.parameters()).device.type == device
        Trainer(config, parts, claimed(config, tmp_path / str(index))).train()
        phis.append({k: v.detach().cpu() for k, v in parts.student.named_parameters()})
    checks.agree(phis[1], phis[0], TARGET, rtol=1e-3, atol=1e-5)


def _rules() -> list[tuple[str, str]]:
    students = [("student", info.name) for info in amalg.list_components("student")]
    return [*students, ("teacher", "adam"), ("teacher", "addsign"), ("teacher", "nadamw")]


@pytest.mark.parametrize(("kind", "name"), _rules())
def test_amalg_optim_steps_device_parameters_as_it_steps_cpu_ones(kind: str, name: str) -> None:
    results = []
    for device in ("cpu", TARGET):
        torch.manual_seed(0)
        model = torch.nn.Linear(20, 3).to(device)
        rule = amalg.create(kind, name)
        if kind == "student":
            rule.reset_parameters(torch.Generator().manual_seed(2))
        optimizer = amalg.optim.RuleOptimizer(model.parameters(), rule, warmup=2)
        inputs = torch.randn(64, 20, generator=torch.Generator().manual_seed(1)).to(device)
        for _ in range(5):
            optimizer.zero_grad()
            model(inputs).square().mean().backward()
            optimizer.step()
        results.append([p.detach().cpu() for p in model.parameters()])
    checks.agree(results[1], results[0], TARGET, rtol=1e-4, atol=1e-6)


def _evaluate(device: str, out) -> dict[str, torch.Tensor]:
    result = CliRunner().invoke(app, [
        "evaluate", "adam@0.05", "rnnprop-mean-digits", "small_fc_lopt-pes-digits",
        "--task", "digits_mlp", "--repeats", "1", "--steps", "12", "--every", "6",
        "--warmup-steps", "3", "--device", device,
        "--out", str(out), "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3
    curves = {}
    for path in sorted(out.rglob("curves.npz")):
        with np.load(path) as arrays:
            where = path.parent.relative_to(out)
            curves.update(
                {f"{where}/{k}": torch.from_numpy(arrays[k]) for k in arrays if k != "time"}
            )
    return curves


def test_an_evaluation_on_the_device_agrees_with_the_cpu_one(tmp_path) -> None:
    on_cpu, there = _evaluate("cpu", tmp_path / "cpu"), _evaluate(TARGET, tmp_path / "there")
    assert on_cpu.keys() == there.keys() and len(on_cpu) > 20
    checks.agree(there, on_cpu, TARGET, rtol=1e-4, atol=1e-6)


@CUDA
def test_amalg_run_on_cuda_end_to_end(tmp_path) -> None:
    """The command a user types: it finishes and writes its folder (no CPU run to compare:
    the tests above do that)."""
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [
        "run", "--teacher", "adam", "--teacher", "rmsprop", "--scheme", "minmax", "--quick",
        "--device", "cuda", "--out", str(tmp_path / "run"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("summary.csv", "evaluation.csv", "optimizer/weights.pt"):
        assert (tmp_path / "run" / name).is_file(), name
    assert "device" not in json.loads((tmp_path / "run" / "config.json").read_text())
