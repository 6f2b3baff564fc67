"""amalg.optim.load: a trained student from a run folder, an optimizer file or a pretrained
name, retracing the engine's evaluation step for step in a plain training loop."""

from __future__ import annotations

import pytest
import torch

import amalg
import amalg.optim
from amalg.core.analysis.evaluation import evaluate_repeat
from amalg.core.optimizer_file import OptimizerCard, OptimizerFileError, write_optimizer_file
from amalg.core.run_folder import RunFolder
from amalg.core.warm_start import warm_start


def saved_student(folder, name="rnnprop"):
    student = amalg.create("student", name)
    student.reset_parameters(torch.Generator().manual_seed(5))
    RunFolder(folder).save_optimizer(name, student.config.model_dump(), student.state_dict())
    return student


@pytest.mark.parametrize("name", ["rnnprop", "small_fc_lopt"])
def test_a_loaded_student_retraces_the_evaluation_step_for_step(tmp_path, name):
    student = saved_student(tmp_path / "run", name)
    task = amalg.create("task", "digits_mlp")
    seed, warmup, horizon = 3, 7, 12
    curves = evaluate_repeat(
        task, student, lambda s: warm_start(task, s, warmup, 0.01), seed, horizon, every=horizon
    )
    params = {
        key: value.clone().requires_grad_()
        for key, value in task.init_params(torch.Generator().manual_seed(seed)).items()
    }
    optimizer = amalg.optim.load(tmp_path / "run", params.values(), warmup=warmup)
    losses = []
    for index in range(warmup + horizon):
        optimizer.zero_grad()
        loss = task.loss(params, task.batch_at("train", seed, index))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[warmup:] == curves.batch_loss[0].tolist()


def test_an_optimizer_file_loads_with_its_card(tmp_path):
    student = amalg.create("student", "small_fc_lopt")
    card = OptimizerCard(amalg_version=amalg.__version__, name="mine", student="small_fc_lopt",
                         config=student.config.model_dump(mode="json"))  # fmt: skip
    path = write_optimizer_file(tmp_path / "mine.safetensors", card, student.state_dict())
    parameter = torch.nn.Parameter(torch.randn(4, 3))
    optimizer = amalg.optim.load(path, [parameter], warmup=0)
    assert optimizer.card == card
    parameter.grad = torch.randn(4, 3)
    before = parameter.detach().clone()
    optimizer.step()
    assert not torch.equal(before, parameter)


def test_an_unknown_source_names_the_pretrained_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OptimizerFileError, match="no run folder, optimizer file or pretrained"):
        amalg.optim.load("no-such-optimizer", [torch.nn.Parameter(torch.zeros(2))])


def test_every_shipped_pretrained_optimizer_loads_and_steps_a_model_of_another_shape():
    cards = amalg.optim.pretrained()
    assert {"rnnprop-mean-digits", "small_fc_lopt-pes-digits"} <= set(cards)
    for name, card in cards.items():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(7, 11), torch.nn.ReLU(), torch.nn.Linear(11, 3))
        optimizer = amalg.optim.load(name, net.parameters(), warmup=2)
        x, y = torch.randn(16, 7), torch.randint(0, 3, (16,))
        losses = []
        for _ in range(6):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        assert all(torch.isfinite(torch.tensor(losses))), name
        assert card.training is not None and card.training.task == "digits_cnn", name


def test_teacher_takes_its_config_and_refuses_an_unknown_name():
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = amalg.optim.Teacher("powersign", [parameter], lr=0.3, beta1=0.5)
    assert optimizer.param_groups[0]["lr"] == 0.3 and optimizer.param_groups[0]["warmup"] == 0
    assert optimizer.rule.config.beta1 == 0.5
    with pytest.raises(amalg.AmalgError, match="addsign"):
        amalg.optim.Teacher("addsing", [parameter])
