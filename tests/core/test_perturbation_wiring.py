"""A run's perturbation reaches meta-training truncations, and only them: the truncation runs
at phi~ drawn from its start, its meta-gradient applies to phi, a replay draws the same psi,
input noise reaches the student's gradients, validation and the saved student stay clean.

These tests use doubles registered for the test only (the shipped perturbations have their
own tests), and run the shipped perturbation suite over one installed as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

import amalg
from amalg.cli import app
from amalg.core.config import ComponentConfig
from amalg.core.engine import EngineConfig, UnrollEngine
from amalg.core.interfaces import Perturbation
from amalg.core.run_folder import RunFolder
from amalg.core.seeds import generator_at

WEIGHT_NOISE = """
    import torch
    from pydantic import Field

    import amalg
    from amalg.core.config import ComponentConfig
    from amalg.core.interfaces import Perturbation


    class NoisyConfig(ComponentConfig):
        sigma: float = Field(0.01, gt=0, description="Standard deviation of the draw.")


    class Noisy(Perturbation[NoisyConfig]):
        '''Gaussian noise of a fixed std on every weight (a test double).'''

        name = "noisy"

        def perturb(self, phi, objective, generator):
            return {
                key: value + self.config.sigma * torch.randn(value.shape, generator=generator)
                for key, value in phi.items()
                {mutation}
            }


    @amalg.hookimpl
    def register_perturbations(register):
        register(Noisy)
"""


class Shift(Perturbation[ComponentConfig]):
    """Weights shifted by a seeded draw; records the objective it was offered."""

    name = "shift"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def perturb(self, phi, objective, generator):
        self.seen.append(float(objective(phi).detach()))
        return {k: v + 0.05 * torch.randn(v.shape, generator=generator) for k, v in phi.items()}


class InputNoise(Perturbation[ComponentConfig]):
    """Noise on the gradients the student sees."""

    name = "input_noise"

    def perturb_inputs(self, grads, generator):
        return {k: g + 0.5 * torch.randn(g.shape, generator=generator) for k, g in grads.items()}


def engine_with(perturbation):
    task = amalg.create("task", "quadratic", dimension=6, dtype="float64")
    student = amalg.create("student", "rnnprop", hidden=3, layers=1).double()
    student.reset_parameters(torch.Generator().manual_seed(2))
    teacher, scheme = amalg.create("teacher", "adam"), amalg.create("scheme", "imitation")
    config = EngineConfig(warmup_steps=2)
    return UnrollEngine(task, student, [teacher], ["adam"], scheme, config, perturbation)


def phi_of(engine):
    return {key: value.detach().clone() for key, value in engine.student.named_parameters()}


def test_a_perturbed_truncation_runs_at_phi_tilde_drawn_from_its_start():
    shift = Shift()
    perturbed, plain = engine_with(shift), engine_with(None)
    start, phi = perturbed.start(5), phi_of(perturbed)
    result = perturbed.truncation(4, 0.1)(phi, start)
    expected_tilde = shift.perturb(
        phi, lambda p: torch.zeros(()), generator_at(start.data_seed, "perturbation", start.index)
    )
    expected = plain.truncation(4, 0.1)(expected_tilde, start)
    assert float(result.objective.detach()) == pytest.approx(
        float(expected.objective.detach()), rel=1e-12
    )
    # The objective it was offered replays the same truncation from the same start.
    replayed = plain.truncation(4, 0.1)(phi, start).objective.detach()
    assert shift.seen[0] == pytest.approx(float(replayed))


def test_the_meta_gradient_at_phi_tilde_applies_to_phi_and_a_replay_draws_the_same_psi():
    shift = Shift()
    perturbed, plain = engine_with(shift), engine_with(None)
    start, phi = perturbed.start(5), phi_of(perturbed)
    estimator = amalg.create("estimator", "tbptt")
    truncation = perturbed.truncation(4, 0.1)
    one = estimator.estimate(phi, truncation, {"unroll": start}, None)
    two = estimator.estimate(phi, truncation, {"unroll": start}, None)
    assert all(torch.equal(one.grads[k], two.grads[k]) for k in phi)
    tilde = shift.perturb(
        phi, lambda p: torch.zeros(()), generator_at(start.data_seed, "perturbation", start.index)
    )
    at_tilde = estimator.estimate(tilde, plain.truncation(4, 0.1), {"unroll": start}, None)
    assert all(torch.allclose(one.grads[k], at_tilde.grads[k]) for k in phi)
    later = one.state["unroll"]
    other = estimator.estimate(phi, truncation, {"unroll": later}, None)
    assert not all(torch.equal(one.grads[k], other.grads[k]) for k in phi)


def test_input_noise_reaches_the_student_in_meta_training_but_not_in_validation():
    noisy, plain = engine_with(InputNoise()), engine_with(None)
    start, phi = noisy.start(5), phi_of(noisy)
    moved = noisy.truncation(4, 0.1)(phi, start).end.student["x"]
    again = noisy.truncation(4, 0.1)(phi, start).end.student["x"]
    clean = plain.truncation(4, 0.1)(phi, start).end.student["x"]
    assert torch.equal(moved, again) and not torch.equal(moved, clean)
    assert noisy.validate(phi, [7], 10) == plain.validate(phi, [7], 10)


@pytest.fixture
def noisy_plugin(install_plugin, fresh_registry, tmp_path):
    install_plugin(
        "amalg-noisy",
        "amalg_noisy",
        WEIGHT_NOISE.replace("{mutation}", ""),
        entry_point="noisy",
    )
    fresh_registry()
    return tmp_path / "site-packages"


def test_a_run_with_a_perturbation_records_it_and_saves_the_clean_student(noisy_plugin, tmp_path):
    folder = tmp_path / "run"
    args = [
        "run",
        "--quick",
        "--teacher",
        "adam",
        "--scheme",
        "imitation",
        "--perturbation",
        "noisy",
    ]
    result = CliRunner().invoke(
        app, [*args, "--set", "perturbation.noisy.sigma=0.02", "--out", str(folder)]
    )
    assert result.exit_code == 0, result.output
    config = (folder / "config.json").read_text()
    assert '"name": "noisy"' in config and '"sigma": 0.02' in config
    # The perturbation's relative norm is logged per truncation and summarised per period.
    run = RunFolder(folder)
    rows = run.summary()
    assert all(0 < float(row["perturbation"]) < 1 for row in rows)
    log = run.read_period_log(f"stage_{rows[0]['stage']}.{rows[0]['period']}")
    assert log["perturbation"].shape == log["meta_loss"].shape and (log["perturbation"] > 0).all()
    saved = torch.load(folder / "optimizer" / "weights.pt", weights_only=True)
    best = run.load_checkpoint(run.read_result()[1]).period_end.phi
    assert all(torch.equal(saved[key], best[key]) for key in saved)


def _suite(site, plugin: str):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("AMALG_DISABLE_PLUGINS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
         "amalg.testing", "--amalg-plugin", plugin],
        capture_output=True, text=True, env=env, cwd=site,
    )  # fmt: skip


def test_the_shipped_suites_pass_a_sound_perturbation_and_fail_one_that_mutates_phi(
    install_plugin, tmp_path
):
    install_plugin("amalg-noisy", "amalg_noisy", WEIGHT_NOISE.replace("{mutation}", ""),
                   entry_point="noisy")  # fmt: skip
    sound = _suite(tmp_path / "site-packages", "noisy")
    assert sound.returncode == 0, sound.stdout[-3000:]
    # Six perturbation checks and the end-to-end run, over "noisy" alone.
    assert sound.stdout.strip().splitlines()[-1].startswith("7 passed")
    install_plugin(
        "amalg-mutating", "amalg_mutating",
        WEIGHT_NOISE.replace("{mutation}", "if value.mul_(1.5) is not None")
        .replace('name = "noisy"', 'name = "mutating"'),
        entry_point="mutating",
    )  # fmt: skip
    broken = _suite(tmp_path / "site-packages", "mutating")
    assert broken.returncode == 1, broken.stdout[-3000:]
    assert "FAILED test_perturbations.py::test_perturbed_weights_keep_their_layout" in broken.stdout
