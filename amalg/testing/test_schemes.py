"""Every registered amalgamation scheme meets the same contract: it accepts the teacher
counts it declares and refuses the others, and turns a truncation's losses into a finite,
differentiable meta-objective that grows with the distance to the teachers."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.core.interfaces import TeacherCountError, TruncationLosses

STEPS = 5


@pytest.fixture
def name(scheme_name: str, amalg_registry: object) -> str:
    return scheme_name


def valid_count(scheme) -> int:
    """A teacher count the scheme takes: two where it can, to exercise the reduction."""
    high = scheme.max_teachers
    return max(scheme.min_teachers, min(2, high if high is not None else 2))


def losses(count: int) -> TruncationLosses:
    generator = torch.Generator().manual_seed(0)
    meta = torch.randn(STEPS, generator=generator, dtype=torch.float64)
    distances = torch.randn(STEPS, count, generator=generator, dtype=torch.float64)
    return TruncationLosses(meta, distances, tuple(f"t{k}" for k in range(count)))


def test_the_declared_teacher_counts_are_accepted_and_no_others(name: str) -> None:
    scheme = amalg.create("scheme", name)
    low, high = scheme.min_teachers, scheme.max_teachers
    assert low >= 0 and (high is None or high >= low)
    scheme.check_teacher_count(low)
    scheme.check_teacher_count(valid_count(scheme))
    for count in ([low - 1] if low > 0 else []) + ([high + 1] if high is not None else []):
        with pytest.raises(TeacherCountError, match="teacher"):
            scheme.check_teacher_count(count)


def test_the_objective_is_a_finite_scalar_differentiable_in_the_meta_loss(name: str) -> None:
    scheme = amalg.create("scheme", name)
    given = losses(valid_count(scheme))
    meta = given.meta.clone().requires_grad_()
    objective = scheme.objective(TruncationLosses(meta, given.distances, given.teachers), 0.5)
    assert objective.dim() == 0 and torch.isfinite(objective)
    (grad,) = torch.autograd.grad(objective, meta)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_without_imitation_weight_the_objective_is_the_meta_loss(name: str) -> None:
    scheme = amalg.create("scheme", name)
    given = losses(valid_count(scheme))
    assert float(scheme.objective(given, 0.0)) == pytest.approx(float(given.meta.mean()))


def test_imitation_grows_with_the_distance_to_the_teachers(name: str) -> None:
    scheme = amalg.create("scheme", name)
    given = losses(valid_count(scheme))
    near, far = scheme.imitation(given.distances), scheme.imitation(given.distances + 1.0)
    assert near.shape == far.shape == (STEPS,)
    assert torch.isfinite(near).all() and (far >= near).all()
    if given.distances.shape[1]:
        assert (far > near).any()
