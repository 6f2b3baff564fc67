"""Where a run computes: devices are checked in one line, a task on a device moves what it
makes, and a run through that plumbing is the run itself. The CUDA checks run where torch
sees a GPU (the CPU-only test machines skip them)."""

from __future__ import annotations

import copy

import pytest
import torch

import amalg
import amalg.optim
from amalg.core.device import DeviceError, OnDevice, on_device, resolve_device, to_device
from amalg.core.training.build import build_run
from amalg.core.training.trainer import Trainer

from .training.test_trainer import TINY, claimed

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")


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


@CUDA
def test_a_run_on_cuda_agrees_with_the_cpu_run(tmp_path) -> None:
    phis = []
    for device in ("cpu", "cuda"):
        config, parts = build_run(copy.deepcopy(TINY), device=device)
        assert next(parts.student.parameters()).device.type == device
        Trainer(config, parts, claimed(config, tmp_path / device)).train()
        phis.append({k: v.detach().cpu() for k, v in parts.student.named_parameters()})
    for key in phis[0]:
        torch.testing.assert_close(phis[1][key], phis[0][key], rtol=1e-3, atol=1e-5)


@CUDA
@pytest.mark.parametrize("name", ["rnnprop", "small_fc_lopt"])
def test_amalg_optim_steps_cuda_parameters_as_it_steps_cpu_ones(name: str) -> None:
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = torch.nn.Linear(20, 3).to(device)
        optimizer = amalg.optim.RuleOptimizer(
            model.parameters(), amalg.create("student", name), warmup=2
        )
        inputs = torch.randn(64, 20, generator=torch.Generator().manual_seed(1)).to(device)
        for _ in range(5):
            optimizer.zero_grad()
            model(inputs).square().mean().backward()
            optimizer.step()
        results.append([p.detach().cpu() for p in model.parameters()])
    for cpu, cuda in zip(*results, strict=True):
        torch.testing.assert_close(cuda, cpu, rtol=1e-4, atol=1e-6)
