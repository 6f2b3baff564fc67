"""The unroll engine: teachers walk their standalone trajectories, the tbptt meta-gradient
is the true gradient of a truncation, imitation of oneself sits at the eps floor."""

from __future__ import annotations

import math

import pytest
import torch

import amalg
from amalg.core.config import ComponentConfig
from amalg.core.device import OnDevice
from amalg.core.engine import EngineConfig, UnrollEngine
from amalg.core.functional import tree_map
from amalg.core.interfaces import Student, UpdateRule


def make_engine(task, student, teachers, scheme="minmax", **engine):
    names = [teacher.name for teacher in teachers]
    scheme = amalg.create("scheme", scheme)
    return UnrollEngine(task, student, teachers, names, scheme, EngineConfig(**engine))


def test_inside_the_engine_each_teacher_walks_its_standalone_trajectory():
    task = amalg.create("task", "digits_cnn")
    teachers = [amalg.create("teacher", "adam"), amalg.create("teacher", "rmsprop")]
    engine = make_engine(task, amalg.create("student", "rnnprop"), teachers, warmup_steps=5)
    start = engine.start(seed=11)
    phi = dict(engine.student.named_parameters())
    state = start
    for _ in range(2):
        state = engine.truncation(4, alpha=0.1)(phi, state).end
    for k, teacher in enumerate(teachers):
        params, index = engine.warm_start(11)
        assert index == 5
        opt_state = teacher.init(params)
        for step in range(8):
            _, grads = task.gradient(params, task.batch_at("train", 11, index + step))
            delta, opt_state = teacher.update(grads, opt_state, params, step)
            params = teacher.apply(params, delta)
        for key in params:
            assert torch.equal(state.teachers[k][key], params[key].detach())


def test_the_tbptt_meta_gradient_of_a_truncation_matches_finite_differences():
    task = amalg.create("task", "quadratic", dimension=6, dtype="float64")
    student = amalg.create("student", "rnnprop", hidden=3, layers=1).double()
    student.reset_parameters(torch.Generator().manual_seed(1))
    engine = make_engine(
        task, student, [amalg.create("teacher", "adam")], warmup_steps=3, second_order=True
    )
    start = engine.start(seed=4)
    truncation = engine.truncation(6, alpha=0.3)
    estimator = amalg.create("estimator", "tbptt")
    phi = {name: value.detach().clone() for name, value in student.named_parameters()}
    estimate = estimator.estimate(phi, truncation, estimator.init(phi, start, None), None)

    def objective(values):
        return float(truncation(values, start).objective.detach())

    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        direction = {
            k: torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in phi.items()
        }
        h = 1e-6
        plus = objective({k: v + h * direction[k] for k, v in phi.items()})
        minus = objective({k: v - h * direction[k] for k, v in phi.items()})
        numeric = (plus - minus) / (2 * h)
        analytic = sum(float((estimate.grads[k] * direction[k]).sum()) for k in phi)
        assert math.isclose(analytic, numeric, rel_tol=1e-5, abs_tol=1e-8), (analytic, numeric)


class SameAsStudent(UpdateRule):
    """A teacher that is the student itself, without scaling."""

    def __init__(self, student):
        self.student = student

    def init(self, params):
        return self.student.init(params)

    def update(self, grads, state, params, step):
        return self.student.update(grads, state, params, step)


def test_imitating_a_teacher_identical_to_the_student_gives_distance_at_the_eps_floor():
    task = amalg.create("task", "quadratic")
    student = amalg.create("student", "rnnprop", random_scaling=0.0)
    engine = UnrollEngine(
        task, student, [SameAsStudent(student)], ["itself"], amalg.create("scheme", "imitation"),
        EngineConfig(warmup_steps=2),
    )  # fmt: skip
    result = engine.truncation(5, alpha=1.0)(dict(student.named_parameters()), engine.start(3))
    assert result.log.imitation[0] == pytest.approx(math.log(1e-10), rel=1e-7)


class LinearStudent(Student):
    """A student with one meta-parameter: delta = rate * g; random scaling of r = 3 when
    ``scaled``."""

    name = "linear"
    config_class = ComponentConfig

    def __init__(self, scaled=True):
        super().__init__()
        self.rate = torch.nn.Parameter(torch.tensor(0.1))
        self.scaled = scaled

    def training_scale(self, params, generator):
        if not self.scaled:
            return None
        return {
            k: torch.exp((torch.rand(v.shape, generator=generator) * 2 - 1) * 3)
            for k, v in params.items()
        }

    def reset_parameters(self, generator):
        with torch.no_grad():
            self.rate.fill_(0.1)

    def init(self, params):
        return {}

    def forward(self, grads, state, params, step):
        return {key: self.rate * grad for key, grad in grads.items()}, state


def test_random_scaling_scales_the_students_gradients_in_and_its_update_out():
    task = amalg.create("task", "quadratic")
    student = LinearStudent()
    teachers = [amalg.create("teacher", "sgd", lr=0.1)]
    engine = make_engine(task, student, teachers, warmup_steps=0)
    start = engine.start(7)
    scale = start.scale["x"]
    assert scale.min() >= math.exp(-3) and scale.max() <= math.exp(3) and scale.std() > 0.5
    _, grads = task.gradient(start.student, ())
    end = engine.truncation(1, 0.1)(dict(student.named_parameters()), start).end
    # f(s * y) in y = x / s: the student sees s * g, and its step in y is s-scaled back to x.
    expected = start.student["x"] - 0.1 * scale * scale * grads["x"]
    torch.testing.assert_close(end.student["x"], expected)
    # The teacher sees the clean gradient.
    torch.testing.assert_close(end.teachers[0]["x"], start.student["x"] - 0.1 * grads["x"])
    assert make_engine(task, LinearStudent(scaled=False), teachers).start(7).scale is None
    assert engine.start(7, scaled=False).scale is None  # validation never scales


def test_validation_is_the_log_of_the_best_validation_split_loss_reached():
    from amalg.core.analysis.evaluation import validation_metrics

    task = amalg.create("task", "digits_mlp")
    student = amalg.create("student", "rnnprop")
    engine = make_engine(task, student, [], scheme="none", warmup_steps=10)
    # All-zero meta-parameters never move the parameters: the best is the warm start's loss.
    still = {name: torch.zeros_like(value) for name, value in student.named_parameters()}
    params, _ = engine.warm_start(5)
    expected = math.log(validation_metrics(task, params)["loss"] + 1e-10)
    assert engine.validate(still, [5], length=20) == pytest.approx(expected, rel=1e-6)
    moving = dict(student.named_parameters())
    assert math.isfinite(engine.validate(moving, [5, 6], length=20))


def test_a_truncation_ends_detached():
    task = amalg.create("task", "quadratic")
    student = amalg.create("student", "rnnprop")
    engine = make_engine(task, student, [amalg.create("teacher", "adam")], warmup_steps=2)
    result = engine.truncation(4, 0.1)(dict(student.named_parameters()), engine.start(0))
    assert result.objective.requires_grad
    end = result.end
    leaves = [*end.student.values(), *end.student_state.values(), *end.teachers[0].values()]
    assert all(leaf.grad_fn is None and not leaf.requires_grad for leaf in leaves)


def test_a_replayed_truncation_draws_the_same_dp_noise(mocked_datasets):
    task = amalg.create("task", "mnist_dp")
    student = amalg.create("student", "rnnprop")
    engine = make_engine(task, student, [amalg.create("teacher", "sgd")], warmup_steps=2)
    start = engine.start(1)
    phi = dict(student.named_parameters())
    one, two = (engine.truncation(3, 0.1)(phi, start).end for _ in range(2))
    for key in one.student:
        assert torch.equal(one.student[key], two.student[key])
        assert torch.equal(one.teachers[0][key], two.teachers[0][key])


def test_a_truncation_runs_without_a_graph_for_gradient_free_estimators():
    task = amalg.create("task", "digits_cnn")
    student = amalg.create("student", "rnnprop")
    engine = make_engine(task, student, [amalg.create("teacher", "adam")], warmup_steps=3)
    start = engine.start(2)
    phi = dict(student.named_parameters())
    with_graph = engine.truncation(4, 0.1)(phi, start)
    with torch.no_grad():  # how an ES estimator evaluates its perturbed phi
        without = engine.truncation(4, 0.1)(phi, start)
    assert float(without.objective) == pytest.approx(float(with_graph.objective.detach()))
    if without.objective.requires_grad:  # graphs of the task's own leaves, never of phi
        reach = torch.autograd.grad(without.objective, list(phi.values()), allow_unused=True)
        assert all(grad is None for grad in reach)
    for key, value in with_graph.end.student.items():
        assert torch.equal(without.end.student[key], value)


def test_clipped_meta_losses_never_exceed_the_truncation_start_nor_turn_nan():
    task = amalg.create("task", "quadratic", dimension=6, dtype="float64")

    def diverging():
        student = amalg.create("student", "rnnprop", hidden=2, layers=1, output_scale=50.0)
        student = student.double()
        student.reset_parameters(torch.Generator().manual_seed(3))
        return student

    plain = make_engine(task, diverging(), [], scheme="none")
    clipped = make_engine(task, diverging(), [], scheme="none", clip_meta_loss=True)
    phi = {k: v.detach().clone() for k, v in plain.student.named_parameters()}
    start = plain.start(0)
    assert float(plain.truncation(6, 0.0)(phi, start).objective.detach()) > 0  # diverging
    objective = clipped.truncation(6, 0.0)(phi, start).objective.detach()
    assert torch.isfinite(objective) and float(objective) <= 0


def _meta_gradient(engine, phi, start):
    result = engine.truncation(5, alpha=0.2)(phi, start)
    grads = torch.autograd.grad(result.objective, list(phi.values()))
    return result.objective.detach(), grads


@pytest.mark.parametrize(
    ("task_name", "config", "tolerance"),
    [("quadratic", {"dimension": 6, "dtype": "float64"}, 1e-10), ("digits_cnn", {}, 1e-4)],
)
def test_the_first_order_meta_gradient_reusing_the_task_gradient_matches_the_loss_graph(
    monkeypatch, task_name, config, tolerance
):
    task = amalg.create("task", task_name, **config)
    student = amalg.create("student", "rnnprop")
    if config.get("dtype") == "float64":
        student = student.double()
    teachers = [amalg.create("teacher", "adam"), amalg.create("teacher", "rmsprop")]
    engine = make_engine(task, student, teachers, warmup_steps=3)
    phi = dict(student.named_parameters())
    start = engine.start(5)  # random scaling on: the scaled student's loss is f(theta)
    assert task.exact_gradient
    objective, fast = _meta_gradient(engine, phi, start)
    # The simple path: the loss's own graph, differentiated a second time.
    monkeypatch.setattr(type(task), "exact_gradient", property(lambda self: False))
    reference_objective, simple = _meta_gradient(engine, phi, start)
    assert torch.equal(objective, reference_objective)
    for got, want in zip(fast, simple, strict=True):
        assert torch.allclose(got, want, rtol=tolerance, atol=tolerance * want.abs().max())


def test_a_task_with_its_own_gradient_oracle_is_not_taken_for_the_loss_gradient():
    assert amalg.create("task", "digits_cnn").exact_gradient
    dp = amalg.create("task", "digits_dp")  # clipped and noisy: not the loss's gradient
    assert not dp.exact_gradient
    assert not OnDevice(dp, torch.device("cpu")).exact_gradient
    assert OnDevice(amalg.create("task", "digits_cnn"), torch.device("cpu")).exact_gradient


@pytest.mark.parametrize("compiled", [False, True])
def test_teachers_stepping_in_place_never_touch_the_truncations_start(compiled):
    # After its first step a truncation's teachers step in place, on tensors the
    # truncation made: a replay (an adversarial perturbation, an ES pair) from the same
    # start must see it as it was, and give the same end.
    task = amalg.create("task", "digits_cnn")
    teachers = [amalg.create("teacher", name).use_compiler(compiled) for name in ("adam", "sgd")]
    engine = make_engine(task, amalg.create("student", "rnnprop"), teachers, warmup_steps=3)
    start = engine.start(1)
    before = tree_map(torch.clone, [list(start.teachers), list(start.teacher_states)])
    phi = dict(engine.student.named_parameters())
    with torch.no_grad():
        ends = [engine.truncation(4, alpha=0.1)(phi, start).end for _ in range(2)]
    after = [list(start.teachers), list(start.teacher_states)]
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    for k in range(2):
        torch.testing.assert_close(ends[0].teachers[k], ends[1].teachers[k], rtol=0, atol=0)
        torch.testing.assert_close(
            ends[0].teacher_states[k], ends[1].teacher_states[k], rtol=0, atol=0
        )


def test_imitation_distances_are_the_mean_squared_distance_over_every_coordinate():
    task = amalg.create("task", "digits_cnn")
    engine = make_engine(task, amalg.create("student", "rnnprop"), [], scheme="none")
    generator = torch.Generator().manual_seed(0)
    student = task.init_params(generator)
    teachers = [task.init_params(generator) for _ in range(3)]
    teachers[1] = {key: teachers[1][key] for key in reversed(list(student))}  # any key order
    count = sum(value.numel() for value in student.values())
    for got, teacher in zip(engine._distances(student, teachers), teachers, strict=True):
        squared = sum(
            float(((student[k].double() - teacher[k].double()) ** 2).sum()) for k in student
        )
        assert float(got) == pytest.approx(math.log(squared / count / 2 + 1e-10), rel=1e-6)
