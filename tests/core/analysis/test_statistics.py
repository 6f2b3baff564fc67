"""The statistics of Appendix D recover what was put into synthetic data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from amalg.core.analysis.statistics import mixed_model, optimization_stability


def test_the_mixed_model_recovers_known_variance_components():
    rng = np.random.default_rng(7)
    replicates, evaluations, mu, s_alpha, s_eps = 200, 10, 1.5, 0.4, 0.1
    alpha = rng.normal(0, s_alpha, replicates)
    values = mu + alpha[:, None] + rng.normal(0, s_eps, (replicates, evaluations))
    estimate = mixed_model(values.tolist())
    assert estimate.method == "mixed model" and estimate.note == ""
    # Against the spread the data hold (200 draws of alpha are 0.35 here, not 0.4).
    assert estimate.meta_stability == pytest.approx(np.std(alpha, ddof=1), rel=0.03)
    assert estimate.meta_stability == pytest.approx(s_alpha, rel=0.2)
    assert estimate.evaluation_stability == pytest.approx(s_eps, rel=0.05)
    assert estimate.low < mu + alpha.mean() < estimate.high
    # The interval of the mean is about 2 * 1.96 * s_alpha / sqrt(replicates) wide.
    width = 2 * 1.96 * math.sqrt(s_alpha**2 / replicates + s_eps**2 / (replicates * evaluations))
    assert estimate.high - estimate.low == pytest.approx(width, rel=0.15)


def test_optimization_stability_recovers_the_noise_around_a_smooth_curve():
    rng = np.random.default_rng(3)
    steps = np.linspace(0, 6, 300)
    smooth = np.log(np.exp(-0.7 * steps) + 0.05)
    noise = 0.04
    curves = np.exp(smooth + rng.normal(0, noise, (40, len(steps))))
    assert np.mean(optimization_stability(curves)) == pytest.approx(noise, rel=0.05)
    assert np.allclose(optimization_stability(np.exp(smooth)[None]), 0.0, atol=2e-3)


@pytest.mark.parametrize(
    ("groups", "method", "meta", "evaluation"),
    [
        ([[1.0, 1.2, 0.9, 1.1]], "t over evaluations", math.nan, "finite"),
        ([[1.0], [1.3], [0.8]], "t over replicates", math.nan, math.nan),
        ([[2.0, 2.0], [2.0, 2.0, 2.0]], "exact", 0.0, 0.0),
        ([[math.inf, math.nan]], "none", math.nan, math.nan),
    ],
    ids=["one-replicate", "one-evaluation-each", "no-variance", "all-diverged"],
)
def test_degenerate_inputs_get_a_plain_answer_without_warnings(groups, method, meta, evaluation):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no statsmodels warning storm
        estimate = mixed_model(groups)
    assert estimate.method == method and estimate.note
    assert (math.isnan(meta) and math.isnan(estimate.meta_stability)) or (
        estimate.meta_stability == meta
    )
    if evaluation == "finite":
        assert math.isfinite(estimate.evaluation_stability)
    elif math.isnan(evaluation):
        assert math.isnan(estimate.evaluation_stability)
    if method == "exact":
        assert estimate.low == estimate.high == estimate.mean == 2.0


def test_diverged_evaluations_are_left_out_and_counted():
    estimate = mixed_model([[1.0, 1.1, math.inf], [1.3, 1.2, 1.25], [0.9, 1.0, 0.95]])
    assert estimate.excluded == 1 and estimate.evaluations == 8
    assert math.isfinite(estimate.mean)
