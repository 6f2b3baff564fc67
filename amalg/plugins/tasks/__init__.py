"""The built-in tasks (optimizees), registered as the ``amalg.tasks`` plugin.

Importing this package imports torch only; tensorflow-datasets is imported when a task's
data is first needed.
"""

from __future__ import annotations

from amalg.core.hookspecs import Register, hookimpl
from amalg.core.interfaces import Task
from amalg.plugins.tasks.digits import (
    DigitsCNN,
    DigitsDeeper,
    DigitsDP,
    DigitsMLP,
    DigitsSmallBatch,
    DigitsWider,
)
from amalg.plugins.tasks.metz import CifarAutoencoder, CifarConv, FashionMNISTMLP
from amalg.plugins.tasks.mnist_dp import MNISTDP
from amalg.plugins.tasks.paper import FMNIST, MLP, SVHN, Cifar, Deeper, SmallBatch, Train, Wider
from amalg.plugins.tasks.resnet import ResNetTask
from amalg.plugins.tasks.synthetic import Quadratic, Rastrigin

PAPER_TASKS: tuple[type[Task], ...] = (
    Train,
    MLP,
    Wider,
    Deeper,
    FMNIST,
    SVHN,
    Cifar,
    ResNetTask,
    SmallBatch,
    MNISTDP,
)
TASKS: tuple[type[Task], ...] = (
    *PAPER_TASKS,
    FashionMNISTMLP,
    CifarConv,
    CifarAutoencoder,
    DigitsCNN,
    DigitsMLP,
    DigitsWider,
    DigitsDeeper,
    DigitsSmallBatch,
    DigitsDP,
    Quadratic,
    Rastrigin,
)


@hookimpl
def register_tasks(register: Register[Task]) -> None:
    for task in TASKS:
        register(task)
