"""The warm start is a plain function of a task and a seed."""

from __future__ import annotations

import torch

import amalg
from amalg.core.engine import EngineConfig, UnrollEngine
from amalg.core.seeds import derive_seed, generator_at
from amalg.core.warm_start import warm_start


def test_the_warm_start_needs_no_engine_and_is_what_the_engine_uses():
    task = amalg.create("task", "digits_mlp")
    params, index = warm_start(task, seed=4, steps=10, lr=0.01)
    assert index == 10
    student, scheme = amalg.create("student", "rnnprop"), amalg.create("scheme", "none")
    engine = UnrollEngine(task, student, [], [], scheme, EngineConfig(warmup_steps=10))
    same, _ = engine.warm_start(4)
    assert all(torch.equal(params[key], same[key]) for key in params)
    fresh = task.init_params(torch.Generator().manual_seed(4))
    assert any(not torch.equal(params[key], fresh[key]) for key in params)


def test_addressed_generators_depend_on_every_part_of_the_address():
    draws = {
        address: float(torch.rand((), generator=generator_at(*address)))
        for address in [(0, "train", 1), (0, "train", 2), (1, "train", 1), (0, "validation", 1),
                        (0, "estimator", 1, 0), (0, "estimator", 1, 1)]
    }  # fmt: skip
    assert len(set(draws.values())) == len(draws)
    assert derive_seed(0, "train", 1) == derive_seed(0, "train", 1)
