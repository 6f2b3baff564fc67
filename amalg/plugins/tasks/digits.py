"""Small tasks on scikit-learn's bundled 8x8 digits: they need no download and train fast,
so they are the default for quick runs and tests."""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

from torch import nn

from amalg.plugins.tasks import models
from amalg.plugins.tasks.base import ImageClassifierTask


class DigitsCNN(ImageClassifierTask):
    """A small CNN on the offline 8x8 digits, 1,898 parameters: the default task.

    The shape of the paper's train CNN scaled to 8x8 images: conv 3x3x8, conv 3x3x16, max
    pool 2x2, dense 10; ReLU, VALID padding, batch size 128. Splits: 1285 train, 256
    validation, 256 test images.
    """

    name: ClassVar[str] = "digits_cnn"
    dataset: ClassVar[str] = "digits"

    def network(self) -> nn.Module:
        return nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(1, 8, 3),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(8, 16, 3),
                relu2=nn.ReLU(),
                pool=nn.MaxPool2d(2),
                flatten=nn.Flatten(),
                dense=nn.Linear(2 * 2 * 16, 10),
            )
        )


class DigitsMLP(ImageClassifierTask):
    """The paper's MLP optimizee on the offline 8x8 digits: 20 sigmoid units, 1,510 parameters.

    64 -> 20 (sigmoid) -> 10, batch size 128, as the ``mlp`` task on MNIST.
    """

    name: ClassVar[str] = "digits_mlp"
    dataset: ClassVar[str] = "digits"

    def network(self) -> nn.Module:
        return models.mlp(8 * 8, (20,), 10, nn.Sigmoid)
