"""A trained optimizer as a teacher walks exactly the trajectory of the student it loads, at
the parameters' dtype, and a path that holds none is one line."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.core.errors import AmalgError
from amalg.core.run_folder import RunFolder
from amalg.testing.problems import mlp, unroll


@pytest.fixture
def saved(tmp_path):
    student = amalg.create("student", "rnnprop", hidden=4, layers=1)
    student.reset_parameters(torch.Generator().manual_seed(5))
    folder = RunFolder(tmp_path / "run")
    folder.save_optimizer("rnnprop", student.config.model_dump(mode="json"), student.state_dict())
    return folder.path, student


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_it_walks_the_loaded_students_trajectory(saved, dtype):
    path, student = saved
    teacher = amalg.create("teacher", "trained", path=str(path))
    params, loss = mlp(dtype)
    ours = unroll(teacher, params, loss, 10)
    theirs = unroll(student.to(dtype), params, loss, 10)
    assert all(ours[key].dtype == dtype for key in ours)
    assert all(torch.allclose(ours[key], theirs[key], rtol=0, atol=0) for key in params)


def test_its_updates_carry_no_graph_and_it_has_no_learning_rate(saved):
    path, _ = saved
    teacher = amalg.create("teacher", "trained", path=str(path / "optimizer"))
    params, _ = mlp()
    grads = {key: torch.ones_like(value) for key, value in params.items()}
    delta, _ = teacher.update(grads, teacher.init(params), params, 0)
    assert not any(value.requires_grad for value in delta.values())
    assert "lr" not in teacher.hyperparameters


def test_a_path_without_a_trained_optimizer_is_one_line(tmp_path):
    with pytest.raises(AmalgError, match="no trained optimizer in"):
        amalg.create("teacher", "trained", path=str(tmp_path))
    with pytest.raises(AmalgError, match="path"):
        amalg.create("teacher", "trained")


def test_it_loads_an_optimizer_file_as_it_loads_the_run(saved, tmp_path):
    from amalg.core.optimizer_file import OptimizerCard, write_optimizer_file

    path, student = saved
    card = OptimizerCard(amalg_version="test", name="mine", student="rnnprop",
                         config=student.config.model_dump(mode="json"))  # fmt: skip
    file = write_optimizer_file(tmp_path / "mine.safetensors", card, student.state_dict())
    params, loss = mlp()
    from_file = unroll(amalg.create("teacher", "trained", path=str(file)), params, loss, 5)
    from_run = unroll(amalg.create("teacher", "trained", path=str(path)), params, loss, 5)
    assert all(torch.equal(from_file[key], from_run[key]) for key in params)
