"""amalg's optimizers in a user's own PyTorch training loop.

::

    import amalg.optim

    optimizer = amalg.optim.load("results/my-run", model.parameters())   # a trained student
    optimizer = amalg.optim.load("rnnprop-choice-digits", model.parameters())  # shipped
    optimizer = amalg.optim.Teacher("addsign", model.parameters(), lr=0.1)

    for inputs, targets in loader:
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()

Each is a ``torch.optim.Optimizer`` (:class:`RuleOptimizer`): param groups, LR schedulers,
``state_dict`` round trips, closures. A loaded student first takes the SGD warmup it was
meta-trained after (100 steps at 0.01; ``warmup=0`` turns it off).
"""

from __future__ import annotations

from amalg.optim.loading import LearnedOptimizer, Teacher, load, pretrained, resolve_student
from amalg.optim.optimizer import OptimizerUsageError, RuleOptimizer

__all__ = [
    "LearnedOptimizer",
    "OptimizerUsageError",
    "RuleOptimizer",
    "Teacher",
    "load",
    "pretrained",
    "resolve_student",
]
