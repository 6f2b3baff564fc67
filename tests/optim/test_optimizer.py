"""amalg.optim's RuleOptimizer: every rule as a torch.optim.Optimizer, stepping in place what
the functional rule computes, with torch's conventions (groups, schedulers, state dicts,
closures, parameters without gradients)."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

import amalg
import amalg.optim
from amalg.core.compiled import failures
from amalg.core.registry import get_registry
from amalg.optim import OptimizerUsageError, RuleOptimizer

STUDENTS = [info.name for info in get_registry().components("student")]
X, Y = (
    torch.randn(32, 5, generator=torch.Generator().manual_seed(1)),
    torch.randn(32, 2, generator=torch.Generator().manual_seed(2)),
)


def model(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).to(dtype)


def train(net: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(X.to(net[0].weight.dtype)), Y.to(net[0].weight.dtype))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def student(name: str) -> amalg.core.interfaces.Student:
    rule = amalg.create("student", name)
    rule.reset_parameters(torch.Generator().manual_seed(3))
    return rule


def functional(rule, net: nn.Module, steps: int) -> dict[str, torch.Tensor]:
    """The rule's own unroll on the same problem: the reference every optimizer must match."""
    names = [name for name, _ in net.named_parameters()]
    params = {str(i): p.detach().clone() for i, p in enumerate(net.parameters())}
    state = rule.init(params)
    for step in range(steps):
        leaves = [value.clone().requires_grad_() for value in params.values()]
        out = torch.func.functional_call(net, dict(zip(names, leaves, strict=True)), (X,))
        grads = torch.autograd.grad(nn.functional.mse_loss(out, Y), leaves)
        with torch.no_grad():
            delta, state = rule.update(dict(zip(params, grads, strict=True)), state, params, step)
            params = rule.apply(params, delta)
    return params


@pytest.mark.parametrize("name", STUDENTS)
def test_each_student_as_an_optimizer_steps_as_its_functional_rule(name):
    rule = student(name)
    reference = functional(rule, model(), steps=6)
    net = model()
    train(net, RuleOptimizer(net.parameters(), rule, warmup=0), steps=6)
    for index, param in enumerate(net.parameters()):
        torch.testing.assert_close(param.detach(), reference[str(index)], rtol=1e-6, atol=1e-7)


def test_each_teacher_as_an_optimizer_steps_as_its_functional_rule(tmp_path):
    for info in get_registry().components("teacher"):
        config = info.component.example_config(tmp_path / info.name)
        rule = amalg.create("teacher", info.name, **config)
        reference = functional(rule, model(), steps=5)
        net = model()
        train(net, amalg.optim.Teacher(info.name, net.parameters(), **config), steps=5)
        for index, param in enumerate(net.parameters()):
            torch.testing.assert_close(
                param.detach(), reference[str(index)], rtol=1e-6, atol=1e-7, msg=info.name
            )


@pytest.mark.parametrize(
    ("name", "config", "reference"),
    [
        ("sgd", {"lr": 0.05}, lambda p: torch.optim.SGD(p, lr=0.05)),
        ("adam", {"lr": 0.01, "eps": 1e-8}, lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-8)),
        # eps sits inside the root in amalg, outside in torch: a tiny eps inside, none outside.
        ("rmsprop", {"lr": 0.01, "beta2": 0.99, "eps": 1e-30, "bias_correction": False},
         lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=0.0)),
    ],
)  # fmt: skip
def test_sgd_adam_and_rmsprop_train_an_nn_module_as_torch_optim_does(name, config, reference):
    ours, theirs = model(), model()
    train(ours, amalg.optim.Teacher(name, ours.parameters(), **config), steps=30)
    train(theirs, reference(theirs.parameters()), steps=30)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["rnnprop", "small_fc_lopt", "nn_adam", "adam"])
def test_a_state_dict_round_trip_mid_training_resumes_identically(name):
    def build(net):
        if name == "adam":
            return amalg.optim.Teacher("adam", net.parameters(), lr=0.01, warmup=2)
        return RuleOptimizer(net.parameters(), student(name), warmup=2)

    whole = model()
    whole_optimizer = build(whole)
    train(whole, whole_optimizer, steps=8)

    first = model()
    optimizer = build(first)
    train(first, optimizer, steps=4)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    second = model()
    second.load_state_dict(saved["model"])
    resumed = build(second)
    resumed.load_state_dict(saved["optimizer"])
    train(second, resumed, steps=4)
    for a, b in zip(whole.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_groups_lr_scales_a_students_step_so_schedulers_work():
    nets = [model(), model()]
    rule = student("small_fc_lopt")
    full = RuleOptimizer(nets[0].parameters(), rule, warmup=0)
    half = RuleOptimizer(nets[1].parameters(), rule, warmup=0)
    scheduler = torch.optim.lr_scheduler.StepLR(half, step_size=1, gamma=0.5)
    before = [p.detach().clone() for p in nets[1].parameters()]
    train(nets[0], full, 1)
    train(nets[1], half, 1)  # lr 1.0: the same first step
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b)
    scheduler.step()
    assert half.param_groups[0]["lr"] == 0.5
    before = [p.detach().clone() for p in nets[0].parameters()]
    train(nets[0], full, 1)
    train(nets[1], half, 1)
    for a, b, start in zip(nets[0].parameters(), nets[1].parameters(), before, strict=True):
        torch.testing.assert_close(b - start, 0.5 * (a - start))


def test_a_teachers_lr_is_its_learning_rate_under_a_scheduler():
    net = model()
    optimizer = amalg.optim.Teacher("sgd", net.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    train(net, optimizer, 1)
    scheduler.step()
    start = [p.detach().clone() for p in net.parameters()]
    optimizer.zero_grad()
    nn.functional.mse_loss(net(X), Y).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    optimizer.step()
    for param, before, grad in zip(net.parameters(), start, grads, strict=True):
        torch.testing.assert_close(param.detach(), before - 0.05 * grad)


def test_a_closure_is_called_once_per_step_and_its_loss_returned():
    net = model()
    optimizer = RuleOptimizer(net.parameters(), student("rnnprop"), warmup=1)
    calls = []

    def closure():
        calls.append(1)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(X), Y)
        loss.backward()
        return loss

    for step in range(3):
        loss = optimizer.step(closure)
        assert len(calls) == step + 1 and isinstance(loss, torch.Tensor)


def test_the_warmup_is_sgd_at_its_learning_rate_then_the_rule():
    net = model()
    optimizer = RuleOptimizer(net.parameters(), student("rnnprop"))
    assert optimizer.param_groups[0]["warmup"] == 100
    assert optimizer.param_groups[0]["warmup_lr"] == 0.01
    for _ in range(100):
        start = [p.detach().clone() for p in net.parameters()]
        optimizer.zero_grad()
        nn.functional.mse_loss(net(X), Y).backward()
        optimizer.step()
        for param, before in zip(net.parameters(), start, strict=True):
            torch.testing.assert_close(param.detach(), before - 0.01 * param.grad)
    assert "rule_state" not in optimizer.state[next(iter(net.parameters()))]
    train(net, optimizer, 1)
    assert "rule_state" in optimizer.state[next(iter(net.parameters()))]


@pytest.mark.parametrize("name", ["small_fc_lopt", "adam"])
def test_a_parameter_without_a_gradient_keeps_its_value_and_state(name):
    net = model()
    rule = student(name) if name != "adam" else amalg.create("teacher", "adam")
    optimizer = RuleOptimizer(net.parameters(), rule, warmup=0)
    train(net, optimizer, 2)
    frozen = net[2].bias
    value = frozen.detach().clone()
    state = optimizer.state_dict()["state"][0]["rule_state"]
    frozen.requires_grad_(False)
    frozen.grad = None
    train(net, optimizer, 2)
    assert torch.equal(frozen, value)
    after = optimizer.state_dict()["state"][0]["rule_state"]
    key = "3"  # the bias of the last layer: the fourth parameter
    own = after[key] if name != "adam" else {slot: after[slot][key] for slot in after}
    saved = state[key] if name != "adam" else {slot: state[slot][key] for slot in state}
    for slot in own:
        assert torch.equal(own[slot], saved[slot]), slot


def test_a_rule_with_one_state_over_all_parameters_needs_every_gradient():
    net = model()
    net[0].bias.requires_grad_(False)  # frozen before the first step: never tracked
    optimizer = RuleOptimizer(net.parameters(), student("rnnprop"), warmup=0)
    train(net, optimizer, 2)
    net[2].bias.requires_grad_(False)
    net[2].bias.grad = None
    with pytest.raises(OptimizerUsageError, match="one state across all its parameters"):
        train(net, optimizer, 1)


def test_sparse_gradients_are_refused_with_one_line():
    embedding = nn.Embedding(10, 3, sparse=True)
    optimizer = amalg.optim.Teacher("adam", embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(OptimizerUsageError, match="sparse"):
        optimizer.step()


def test_a_student_follows_the_dtype_of_the_parameters():
    net = model(torch.float64)
    optimizer = RuleOptimizer(net.parameters(), student("small_fc_lopt"), warmup=1)
    losses = train(net, optimizer, 5)
    assert all(p.dtype == torch.float64 for p in net.parameters())
    assert all(torch.isfinite(torch.tensor(losses)))


def test_a_group_mixing_dtypes_is_refused():
    with pytest.raises(OptimizerUsageError, match="its own group"):
        RuleOptimizer(
            [torch.zeros(2, requires_grad=True), torch.zeros(2, dtype=torch.float64)],
            student("rnnprop"),
        )


@pytest.mark.parametrize(
    "bad", [{"lr": -1.0}, {"lr": float("nan")}, {"warmup": -1}, {"warmup_lr": -0.1}]
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(OptimizerUsageError):
        RuleOptimizer(model().parameters(), student("rnnprop"), **bad)


def test_a_teacher_given_directly_keeps_its_own_learning_rate():
    parameter = nn.Parameter(torch.ones(3))
    optimizer = RuleOptimizer([parameter], amalg.create("teacher", "sgd", lr=1e-3), warmup=0)
    assert optimizer.param_groups[0]["lr"] == 1e-3
    parameter.grad = torch.ones(3)
    optimizer.step()
    torch.testing.assert_close(parameter.detach(), torch.full((3,), 1 - 1e-3))


def test_a_parameter_frozen_from_the_start_gets_no_state_until_it_has_a_gradient():
    net = model()
    net[0].weight.requires_grad_(False)
    optimizer = amalg.optim.Teacher("adam", net.parameters(), lr=0.01)
    train(net, optimizer, 2)
    state = optimizer.state_dict()["state"][0]["rule_state"]
    assert set(state["m"]) == {"1", "2", "3"}  # parameter 0 is frozen: no moments for it
    net[0].weight.requires_grad_(True)
    train(net, optimizer, 1)
    state = optimizer.state_dict()["state"][0]["rule_state"]
    assert set(state["m"]) == {"0", "1", "2", "3"}
    assert torch.equal(state["m"]["0"], 0.1 * net[0].weight.grad)  # its first moment: one step


def test_a_group_added_later_is_checked_like_the_first():
    optimizer = RuleOptimizer(model().parameters(), student("rnnprop"))
    with pytest.raises(OptimizerUsageError, match="its own group"):
        optimizer.add_param_group(
            {"params": [torch.zeros(2, requires_grad=True), torch.zeros(2, dtype=torch.float64)]}
        )
    with pytest.raises(OptimizerUsageError, match="lr must be"):
        optimizer.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": -5.0})
    with pytest.raises(OptimizerUsageError, match="warmup must be"):
        optimizer.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "warmup": True})
    assert len(optimizer.param_groups) == 1


def test_compile_steps_parameters_as_the_eager_student_does():
    # Shapes and dtype of the student contract's problem: the kernels it compiled serve here.
    rule = student("small_fc_lopt").double()
    generator = torch.Generator().manual_seed(4)
    start = [torch.randn(4, 5, generator=generator, dtype=torch.float64) for _ in range(2)]
    start += [torch.randn(3, generator=generator, dtype=torch.float64)]
    runs = []
    for compile in (False, True):
        weight, bias = nn.Parameter(start[0].clone()), nn.Parameter(start[2].clone())
        optimizer = RuleOptimizer([weight, bias], rule, warmup=0, compile=compile)
        assert optimizer.rule.compiling is compile and not rule.compiling  # a copy compiles
        for _ in range(3):
            optimizer.zero_grad()
            ((weight @ start[1].T).square().mean() + bias.exp().sum()).backward()
            optimizer.step()
        runs.append([weight.detach(), bias.detach()])
    if failures():  # the eager path ran twice: nothing compiled to compare
        pytest.skip(f"no working compiler here: {failures()}")
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (lambda: student("rnnprop"), "student 'rnnprop' has no compiled path .*small_fc_lopt"),
        (
            lambda: amalg.create("teacher", "sgd"),
            r"teacher 'sgd' has no compiled path \(the teachers that do: adam, addsign,",
        ),
    ],
)
def test_compile_is_refused_in_one_line_for_a_rule_without_a_compiled_path(
    rule, message, monkeypatch
):
    # sgd stands for a teacher (a plugin's, say) that does not declare a compiled path.
    from amalg.plugins.teachers.sgd import SGD

    monkeypatch.setattr(SGD, "compiled_path", False)
    with pytest.raises(OptimizerUsageError, match=f"compile=True: {message}"):
        RuleOptimizer(model().parameters(), rule(), compile=True)


def test_a_compiled_teacher_steps_as_the_eager_one_and_a_schedule_does_not_recompile():
    from torch._dynamo.utils import counters

    runs, graphs = [], []
    for compile in (False, True):
        net = model(torch.float64)
        optimizer = amalg.optim.Teacher(
            "nadamw", net.parameters(), lr=0.01, compile=compile, horizon=6, warmup_fraction=0.3
        )
        # A new learning rate at every step: it enters the compiled rule as a tensor.
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
        for _ in range(4):
            train(net, optimizer, 1)
            schedule.step()
            if compile:
                graphs.append(counters["stats"]["unique_graphs"])
        runs.append([p.detach() for p in net.parameters()])
    if failures():  # the eager path ran twice: nothing compiled to compare
        pytest.skip(f"no working compiler here: {failures()}")
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-9, atol=1e-12)
    assert graphs[1:] == graphs[:1] * 3  # compiled at the first step only


def test_the_tracked_mask_is_read_again_when_a_checkpoint_is_loaded_into_it_in_place():
    # Decoded once per mask, not per step; a checkpoint loaded into the same tensor (as
    # torch.distributed.checkpoint does) changes its version, and the names follow.
    net = model(torch.float32)
    optimizer = amalg.optim.Teacher("adam", net.parameters(), lr=0.01)
    mask = torch.tensor([1.0, 0.0, 0.0])
    assert optimizer._tracked(mask) == ["0"]
    mask[2] = 1.0
    assert optimizer._tracked(mask) == ["0", "2"]
