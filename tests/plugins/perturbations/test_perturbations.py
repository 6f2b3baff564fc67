"""The built-in perturbations do what Huang et al. 2022 Section 4.2 and Appendix E.4 say:
the draws have the stated stds, adversarial steps have the stated lengths and directions,
and a replay that is not finite does not break them."""

from __future__ import annotations

import math

import pytest
import torch

import amalg
from amalg.testing.problems import random_params


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def target(phi: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: torch.full_like(value, 0.3) for key, value in phi.items()}


def quadratic(phi: dict[str, torch.Tensor]) -> torch.Tensor:
    """Gradient 2 (w - 0.3) per tensor: known, different directions for every tensor."""
    return torch.stack([((value - 0.3) ** 2).sum() for value in phi.values()]).sum()


def norm(value: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(value))


def test_gaussian_draws_have_the_absolute_std():
    phi = {"big": 100 * torch.ones(200, 100), "small": 0.01 * torch.ones(200, 100)}
    tilde = amalg.create("perturbation", "gaussian", magnitude=0.02).perturb(
        phi, quadratic, generator()
    )
    for key in phi:
        assert float((tilde[key] - phi[key]).std()) == pytest.approx(0.02, rel=0.03)


def test_gaussian_rel_draws_have_the_per_tensor_std_of_eq_5():
    phi = {
        "big": 3.0 * torch.randn(300, 100, generator=generator(1)),
        "small": 0.01 * torch.randn(50, 400, generator=generator(2)),
        "zeros": torch.zeros(10),
    }
    sigma = 0.1
    perturbation = amalg.create("perturbation", "gaussian_rel", magnitude=sigma)
    tilde = perturbation.perturb(phi, quadratic, generator())
    for key in ("big", "small"):
        expected = sigma * norm(phi[key]) / math.sqrt(phi[key].numel())
        assert float((tilde[key] - phi[key]).std()) == pytest.approx(expected, rel=0.03)
    assert torch.equal(tilde["zeros"], phi["zeros"])


def test_one_pgd_step_moves_each_tensor_by_epsilon_norm_along_its_normalised_gradient():
    phi = random_params(torch.float64)
    epsilon = 1e-2
    tilde = amalg.create("perturbation", "pgd", magnitude=epsilon, steps=1).perturb(
        phi, quadratic, generator()
    )
    for key, value in phi.items():
        gradient = 2 * (value - 0.3)
        step = tilde[key] - value
        assert norm(step) == pytest.approx(epsilon * norm(value), rel=1e-10)
        expected = epsilon * norm(value) * gradient / norm(gradient)
        assert torch.allclose(step, expected, rtol=1e-10, atol=1e-14)


def test_pgd_takes_its_steps_at_the_moving_point_and_stays_within_a_epsilon_norm():
    phi = random_params(torch.float64)
    epsilon, steps = 0.05, 3
    tilde = amalg.create("perturbation", "pgd", magnitude=epsilon, steps=steps).perturb(
        phi, quadratic, generator()
    )
    psi = {key: torch.zeros_like(value) for key, value in phi.items()}
    for _ in range(steps):
        for key, value in phi.items():
            gradient = 2 * (value + psi[key] - 0.3)
            psi[key] = psi[key] + epsilon * norm(value) * gradient / norm(gradient)
    for key, value in phi.items():
        assert torch.allclose(tilde[key], value + psi[key], rtol=1e-10, atol=1e-14)
        assert norm(tilde[key] - value) <= steps * epsilon * norm(value) * (1 + 1e-12)


def test_cgd_steps_never_exceed_epsilon_norm_and_small_gradients_pass_unclipped():
    phi = random_params(torch.float64)
    epsilon = 1e-2
    cgd = amalg.create("perturbation", "cgd", magnitude=epsilon, steps=1)
    tilde = cgd.perturb(phi, quadratic, generator())
    for key, value in phi.items():
        gradient = 2 * (value - 0.3)
        step = tilde[key] - value
        assert norm(step) <= epsilon * norm(value) * (1 + 1e-12)
        # Clipping keeps the direction.
        assert torch.allclose(step / norm(step), gradient / norm(gradient), atol=1e-10)

    def gentle(values):
        return 1e-9 * quadratic(values)

    tilde = amalg.create("perturbation", "cgd", magnitude=0.5).perturb(phi, gentle, generator())
    for key, value in phi.items():
        assert torch.allclose(tilde[key] - value, 2e-9 * (value - 0.3), rtol=1e-8)


def test_fgsm_steps_every_weight_by_epsilon_along_the_gradient_sign():
    phi = random_params(torch.float64)
    tilde = amalg.create("perturbation", "fgsm", magnitude=1e-3).perturb(
        phi, quadratic, generator()
    )
    for key, value in phi.items():
        assert torch.allclose(tilde[key] - value, 1e-3 * torch.sign(value - 0.3), atol=1e-15)


@pytest.mark.parametrize("name", ["fgsm", "pgd", "cgd"])
def test_a_replay_that_is_not_finite_leaves_the_weights_where_the_ascent_stopped(name):
    phi = random_params(torch.float64)

    def broken(values):
        return quadratic(values) * float("nan")

    tilde = amalg.create("perturbation", name).perturb(phi, broken, generator())
    assert all(torch.equal(tilde[key], phi[key]) for key in phi)


def test_pgd_leaves_a_tensor_the_objective_ignores_where_it_is():
    phi = random_params(torch.float64)

    def partial(values):
        return ((values["weight"] - 0.3) ** 2).sum()

    tilde = amalg.create("perturbation", "pgd", magnitude=0.1).perturb(phi, partial, generator())
    assert not torch.equal(tilde["weight"], phi["weight"])
    assert all(torch.equal(tilde[key], phi[key]) for key in phi if key != "weight")


def test_adversarial_perturbations_cost_their_steps_in_replays():
    assert amalg.create("perturbation", "pgd", steps=3).replays == 3
    assert amalg.create("perturbation", "cgd").replays == 1
    assert amalg.create("perturbation", "fgsm").replays == 1
    assert amalg.create("perturbation", "gaussian_rel").replays == 0


def test_input_noise_has_the_stated_std_and_leaves_the_weights_alone():
    grads = {"w": torch.zeros(400, 100)}
    seen = amalg.create("perturbation", "input", magnitude=0.1).perturb_inputs(grads, generator())
    assert float(seen["w"].std()) == pytest.approx(0.1, rel=0.03)
    phi = random_params()
    tilde = amalg.create("perturbation", "input").perturb(phi, quadratic, generator())
    assert all(torch.equal(tilde[key], phi[key]) for key in phi)


def test_validation_never_perturbs_and_a_pgd_truncation_runs_at_phi_tilde():
    from amalg.core.engine import EngineConfig, UnrollEngine

    def engine(perturbation):
        task = amalg.create("task", "quadratic", dimension=6, dtype="float64")
        student = amalg.create("student", "rnnprop", hidden=3, layers=1).double()
        student.reset_parameters(generator(2))
        return UnrollEngine(task, student, [amalg.create("teacher", "adam")], ["adam"],
                            amalg.create("scheme", "imitation"), EngineConfig(warmup_steps=2),
                            perturbation)  # fmt: skip

    pgd = amalg.create("perturbation", "pgd", magnitude=0.05)
    perturbed, plain = engine(pgd), engine(None)
    phi = {key: value.detach().clone() for key, value in plain.student.named_parameters()}
    assert perturbed.validate(phi, [3], 12) == plain.validate(phi, [3], 12)
    start = plain.start(4)
    result = perturbed.truncation(4, 0.1)(phi, start)
    assert result.log.perturbation == pytest.approx(0.05, rel=0.05)  # one step of 5% per tensor
    clean = plain.truncation(4, 0.1)(phi, start)
    assert float(result.objective.detach()) >= float(clean.objective.detach())  # ascent


@pytest.mark.parametrize(
    "args",
    [
        ["--scheme", "none", "--perturbation", "pgd"],
        ["--pool", "small", "--scheme", "choice", "--perturbation", "gaussian_rel"],
        ["--student", "choice", "--scheme", "none", "--perturbation", "input"],
        ["--teacher", "adam", "--scheme", "mean", "--perturbation", "cgd"],
    ],
    ids=["pgd-none", "gaussian_rel-choice", "input-choice-student", "cgd-mean"],
)
def test_perturbations_work_with_any_scheme_and_student(args, tmp_path):
    from typer.testing import CliRunner

    from amalg.cli import app

    folder = tmp_path / "run"
    tiny = ["--quick", "--no-tune", "--task", "quadratic", "--set", "task.quadratic.dimension=6",
            "--set", "evaluation.horizon=6", "--set", "evaluation.every=3",
            "--set", "strategy.curriculum.unrolls=[10]",
            "--set", "strategy.curriculum.alphas=[0.1]",
            "--set", "strategy.curriculum.max_periods=1"]  # fmt: skip
    result = CliRunner().invoke(app, ["run", *tiny, *args, "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert "perturbation" in (folder / "summary.csv").read_text().splitlines()[0]
