"""Statistics of evaluations: Huang et al. 2022, Section 5 and Appendix D.

Per evaluation (one repeat of one optimizer on one task), two summaries:

- the best log validation loss, ``log min_t L_val(t)``;
- the final log training loss, ``log`` of the mean batch loss over the last interval;

and optimization stability (Appendix D.2): with ``l(t) = log L_val(t)`` at the evaluation
points, ``beta = gaussian_filter1d(l, sigma=2, mode="nearest")`` (scipy) and residual
``eta = l - beta``, the stability is ``std(eta) / sqrt(c)``, where ``c = 1 - 2 w_0 + sum_k
w_k^2`` is the share of a white noise's variance the filter leaves in the residual (``w`` its
kernel): for IID ``eta`` the estimate is then unbiased (the paper's plain ``std(eta)`` reads
about 14% low at sigma 2).

Across replicates (independently meta-trained optimizers, index i) and their evaluations
(index j), Appendix D.1's linear mixed model

    Y_ij = mu + alpha_i + eps_ij,   alpha_i ~ N(0, s_alpha^2),  eps_ij ~ N(0, s_eps^2)

is fitted by REML with statsmodels' ``MixedLM``: the mean ``mu`` with its 95% (Wald)
interval, meta-stability ``s_alpha`` and evaluation stability ``s_eps``. Degenerate inputs get
a plain answer, not a fit: one replicate (a t interval over its evaluations, no
meta-stability), one evaluation per replicate (a t interval over replicates, the two
stabilities not separable), no variance at all (the exact value). Non-finite values
(diverged evaluations) are left out and counted.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy import stats
from scipy.ndimage import gaussian_filter1d

from amalg.core.analysis.evaluation import Curves

__all__ = [
    "Estimate",
    "best_log_validation_loss",
    "final_log_training_loss",
    "mixed_model",
    "optimization_stability",
]

SMOOTHING_SIGMA = 2.0
LEVEL = 0.95


def best_log_validation_loss(curves: Curves) -> np.ndarray:
    """Per repeat: the log of the best validation loss (+inf where it diverged)."""
    with np.errstate(divide="ignore"):
        return np.log(curves.best_validation_loss)


def final_log_training_loss(curves: Curves) -> np.ndarray:
    """Per repeat: the log of the mean batch loss over the last interval (NaN or +inf where
    it diverged)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(curves.final_train_loss)


@cache
def _residual_share(sigma: float) -> float:
    impulse = np.zeros(int(8 * sigma) * 2 + 1)
    middle = len(impulse) // 2
    impulse[middle] = 1.0
    weights = gaussian_filter1d(impulse, sigma, mode="constant")
    return float(1 - 2 * weights[middle] + np.sum(weights**2))


def optimization_stability(val_loss: np.ndarray, sigma: float = SMOOTHING_SIGMA) -> np.ndarray:
    """Per repeat (rows of ``val_loss`` [repeat, point]): the std of the log validation loss
    around its Gaussian-smoothed curve, corrected for the filter (see the module docstring).
    NaN for a repeat with a non-finite point or fewer than 3 points."""
    result = np.full(val_loss.shape[0], np.nan)
    for row, losses in enumerate(np.asarray(val_loss, dtype=float)):
        if len(losses) < 3 or not np.all(np.isfinite(losses)) or np.any(losses <= 0):
            continue
        logs = np.log(losses)
        residual = logs - gaussian_filter1d(logs, sigma, mode="nearest")
        result[row] = float(np.std(residual) / math.sqrt(_residual_share(sigma)))
    return result


@dataclass(frozen=True)
class Estimate:
    """A mean over replicates and their evaluations, with its interval and the stabilities."""

    mean: float
    low: float
    high: float
    """The 95% confidence interval of the mean."""
    meta_stability: float
    """s_alpha: the spread between replicates (NaN when it cannot be estimated)."""
    evaluation_stability: float
    """s_eps: the spread between evaluations of one replicate (NaN when not estimable)."""
    replicates: int
    evaluations: int
    """Finite values used, over all replicates."""
    excluded: int
    """Non-finite values left out (diverged evaluations)."""
    method: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _t_interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + LEVEL / 2, len(values) - 1) * stats.sem(values)
    return mean, mean - float(half), mean + float(half)


def mixed_model(groups: Sequence[Sequence[float]]) -> Estimate:
    """The mixed model of Appendix D.1 over ``groups``: one sequence of values per replicate
    (its evaluations). See the module docstring for the degenerate cases."""
    finite = [np.asarray([v for v in group if math.isfinite(v)], dtype=float) for group in groups]
    excluded = sum(len(group) for group in groups) - sum(len(group) for group in finite)
    finite = [group for group in finite if len(group)]
    count = sum(len(group) for group in finite)
    nan = math.nan
    if not finite:
        return Estimate(nan, nan, nan, nan, nan, 0, 0, excluded, "none", "no finite value")
    values = np.concatenate(finite)
    replicates = len(finite)
    if np.ptp(values) == 0:
        mean = float(values[0])
        return Estimate(mean, mean, mean, 0.0, 0.0, replicates, count, excluded, "exact",
                        "every value is the same")  # fmt: skip
    if replicates == 1:
        mean, low, high = _t_interval(values)
        spread = float(np.std(values, ddof=1)) if count > 1 else nan
        return Estimate(mean, low, high, nan, spread, 1, count, excluded, "t over evaluations",
                        "one replicate: meta-stability cannot be estimated")  # fmt: skip
    if all(len(group) == 1 for group in finite):
        mean, low, high = _t_interval(values)
        note = "one evaluation per replicate: the two stabilities are not separable"
        return Estimate(
            mean, low, high, nan, nan, replicates, count, excluded, "t over replicates", note
        )
    return _fit(finite, replicates, count, excluded)


def _fit(finite: list[np.ndarray], replicates: int, count: int, excluded: int) -> Estimate:
    from statsmodels.regression.mixed_linear_model import MixedLM

    values = np.concatenate(finite)
    labels = np.concatenate([np.full(len(group), index) for index, group in enumerate(finite)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = MixedLM(values, np.ones((len(values), 1)), groups=labels).fit(reml=True)
    low, high = (float(v) for v in result.conf_int(alpha=1 - LEVEL)[0])
    meta = math.sqrt(max(float(np.asarray(result.cov_re)[0, 0]), 0.0))
    scale = math.sqrt(float(result.scale))
    notes = []
    if not result.converged:
        notes.append("the mixed-model fit did not converge: read its interval with care")
    if caught and meta < 1e-2 * scale:
        notes.append(
            "meta-stability is at its boundary, 0: the replicates differ no more than their "
            "evaluations do"
        )
    return Estimate(
        mean=float(result.fe_params[0]),
        low=low,
        high=high,
        meta_stability=meta,
        evaluation_stability=scale,
        replicates=replicates,
        evaluations=count,
        excluded=excluded,
        method="mixed model",
        note="; ".join(notes),
    )
