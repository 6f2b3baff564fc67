"""The schemes reduce imitation distances as the paper's equations say."""

from __future__ import annotations

import pytest
import torch

import amalg
from amalg.core.interfaces import TeacherCountError, TruncationLosses

# Three steps, two teachers: teacher 0 is farther at steps 0 and 2, teacher 1 at step 1.
DISTANCES = torch.tensor([[-1.0, -3.0], [-4.0, -2.0], [0.5, -6.0]])
META = torch.tensor([0.1, -0.2, -0.5])


def objective(scheme: str, alpha: float = 0.5) -> float:
    return float(amalg.create("scheme", scheme).objective(TruncationLosses(META, DISTANCES), alpha))


def test_minmax_follows_the_farthest_teacher_at_each_step():
    farthest = torch.tensor([-1.0, -2.0, 0.5])
    assert torch.equal(amalg.create("scheme", "minmax").imitation(DISTANCES), farthest)
    assert objective("minmax") == pytest.approx(float(META.mean() + 0.5 * farthest.mean()))


def test_mean_averages_the_teachers():
    average = DISTANCES.mean(dim=1)
    assert torch.equal(amalg.create("scheme", "mean").imitation(DISTANCES), average)
    assert objective("mean") == pytest.approx(float(META.mean() + 0.5 * average.mean()))


def test_imitation_uses_its_one_teacher_and_none_uses_the_meta_loss_alone():
    one = DISTANCES[:, :1]
    losses = TruncationLosses(META, one)
    assert float(amalg.create("scheme", "imitation").objective(losses, 1.0)) == pytest.approx(
        float(META.mean() + one.mean())
    )
    empty = TruncationLosses(META, META.new_zeros(3, 0))
    assert float(amalg.create("scheme", "none").objective(empty, 1.0)) == pytest.approx(
        float(META.mean())
    )


def test_the_gradient_of_minmax_reaches_only_the_farthest_teacher():
    distances = DISTANCES.clone().requires_grad_()
    amalg.create("scheme", "minmax").objective(TruncationLosses(META, distances), 1.0).backward()
    assert torch.equal(
        distances.grad != 0, torch.tensor([[True, False], [False, True], [True, False]])
    )


@pytest.mark.parametrize(
    ("scheme", "count", "message"),
    [
        ("imitation", 2, "takes exactly 1 teacher"),
        ("imitation", 0, "takes exactly 1 teacher"),
        ("mean", 0, "takes at least 1 teacher"),
        ("minmax", 0, "takes at least 1 teacher"),
        ("none", 1, "takes exactly 0 teacher"),
    ],
)
def test_a_wrong_number_of_teachers_is_refused(scheme, count, message):
    with pytest.raises(TeacherCountError, match=message):
        amalg.create("scheme", scheme).check_teacher_count(count)
