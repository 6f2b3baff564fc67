"""`amalg report`: tables from the statistics module, figures with their panels, Figure 6
when runs differ only in their perturbation."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from amalg.cli import app
from amalg.core.analysis.evaluations import EvaluationStore
from amalg.core.analysis.statistics import best_log_validation_loss, mixed_model

from ..core.test_perturbation_wiring import WEIGHT_NOISE

EVALUATE = ["--repeats", "3", "--steps", "20", "--every", "5", "--warmup-steps", "5"]


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "220"}).invoke(app, list(args))


def evaluate_and_report(runs: list[str], tmp_path, steps: int, every: int) -> dict:
    """``amalg evaluate`` of the runs on the quadratic (2 repeats), then the report's JSON."""
    store = tmp_path / "ev"
    evaluated = invoke("evaluate", *runs, "--task", "quadratic", "--repeats", "2", "--steps",
                       str(steps), "--every", str(every), "--warmup-steps", "2",
                       "--out", str(store))  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    result = invoke("report", *runs, "--evaluations", str(store), "--out", str(tmp_path / "r"),
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def teachers_evaluated(tmp_path_factory):
    store = tmp_path_factory.mktemp("report") / "ev"
    result = invoke("evaluate", "adam@0.05", "sgd@0.5", "--task", "digits_mlp", "--task",
                    "digits_cnn", *EVALUATE, "--out", str(store))  # fmt: skip
    assert result.exit_code == 0, result.output
    return store


def test_the_report_table_is_the_statistics_modules(teachers_evaluated, tmp_path):
    out = tmp_path / "report"
    result = invoke("report", "adam@0.05", "sgd@0.5", "--evaluations", str(teachers_evaluated),
                    "--out", str(out), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    store = EvaluationStore(teachers_evaluated)
    for task in report["tasks"]:
        means = {}
        for row in task["optimizers"]:
            stored = store.load(task["task"], row["label"])
            expected = mixed_model([best_log_validation_loss(stored.curves).tolist()])
            got = row["best_log_validation_loss"]
            assert got["mean"] == pytest.approx(expected.mean)
            assert (got["low"], got["high"]) == pytest.approx((expected.low, expected.high))
            means[row["label"]] = got["mean"]
        assert task["reference"] == min(means, key=means.get) and task["reference_is_oracle"]
        oracle = next(r for r in task["optimizers"] if r["label"] == task["reference"])
        assert oracle["relative_to_reference"]["best_validation"] == 0.0
    panels = {name: figure["panels"] for name, figure in report["figures"].items()}
    assert panels == {"validation_curves": 2, "relative_intervals": 2, "optimization_stability": 1}
    for figure in report["figures"].values():
        assert all(path.endswith((".png", ".pdf")) for path in figure["files"])
        assert all((out / path.split("/")[-1]).stat().st_size > 1000 for path in figure["files"])
    text = invoke("report", "adam@0.05", "sgd@0.5", "--evaluations", str(teachers_evaluated),
                  "--out", str(out))  # fmt: skip
    assert (
        "(oracle)" in text.output
        and "one replicate: meta-stability cannot be estimated" in text.output
    )


def test_a_source_without_evaluations_is_one_line(teachers_evaluated, tmp_path):
    result = invoke("report", "adam@0.05", "rmsprop@0.01", "--evaluations",
                    str(teachers_evaluated), "--out", str(tmp_path / "r"))  # fmt: skip
    assert result.exit_code == 2
    assert "no stored evaluation of 'rmsprop@0.01': run amalg evaluate" in result.stderr
    assert not (tmp_path / "r").exists()


def test_replicates_that_differ_in_perturbation_get_the_meta_stability_figure(
    install_plugin, fresh_registry, tmp_path
):
    install_plugin("amalg-noisy", "amalg_noisy", WEIGHT_NOISE.replace("{mutation}", ""),
                   entry_point="noisy")  # fmt: skip
    fresh_registry()
    runs = []
    for perturbation in ([], ["--perturbation", "noisy", "--set", "perturbation.noisy.sigma=0.02"]):
        for seed in (0, 1, 2):
            folder = tmp_path / f"run-{len(perturbation)}-{seed}"
            result = invoke("run", "--scheme", "none", "--task", "quadratic", "--quick",
                            *perturbation, "--seed", str(seed), "--out", str(folder))  # fmt: skip
            assert result.exit_code == 0, result.output
            runs.append(str(folder))
    report = evaluate_and_report(runs, tmp_path, steps=10, every=2)
    [task] = report["tasks"]
    assert [len(row["replicates"]) for row in task["optimizers"]] == [3, 3]
    assert task["reference"] is None  # no teacher: no oracle to be relative to
    assert sorted(report["perturbation_magnitudes"].values()) == [0.0, 0.02]
    assert report["figures"]["meta_stability"]["panels"] == 1
    meta = [row["best_log_validation_loss"]["meta_stability"] for row in task["optimizers"]]
    assert all(math.isfinite(value) for value in meta)


def test_runs_that_differ_in_estimator_or_another_setting_read_apart(tmp_path):
    variants = {"tbptt": [], "es": ["--estimator", "es"],
                "fewer": ["--set", "strategy.curriculum.trajectories=1"]}  # fmt: skip
    runs = []
    for name, flags in variants.items():
        folder = tmp_path / name
        result = invoke("run", "--scheme", "none", "--task", "quadratic", "--quick", *flags,
                        "--out", str(folder))  # fmt: skip
        assert result.exit_code == 0, result.output
        runs.append(str(folder))
    report = evaluate_and_report(runs, tmp_path, steps=6, every=3)
    labels = [row["label"] for row in report["tasks"][0]["optimizers"]]
    assert len(set(labels)) == 3
    assert "rnnprop-none-es" in labels
    # The two tbptt runs differ only in a strategy setting: their config digests tell them apart.
    assert sum(label.startswith("rnnprop-none #") for label in labels) == 2
