"""The 28-layer ResNet optimizee of Huang et al. 2022."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from amalg.plugins.tasks import models
from amalg.plugins.tasks.base import ImageClassifierTask


class ResNetTask(ImageClassifierTask):
    """A 28-layer ResNet on CIFAR-10: 370,506 trainable parameters (Table 1: 372,330).

    Huang et al. 2022, Table 2d, with the reference implementation's widths and blocks: a 3x3
    stem convolution of 16 channels, then three stages of four residual blocks (two 3x3
    convolutions each, conv-BN-ReLU twice, added to the shortcut) of 16, 32 and 64 channels
    with 2x2 max pooling between stages, a 1x1 projection on the shortcut where the width
    changes, global average pooling and a dense layer. Weight layers: 1 + 24 + 2 projections
    + 1 dense = 28. (Table 2d lists 64, 128 and 256 channels; that network would have over a
    million parameters, so Table 1's count is the reference's 16, 32, 64.)

    Why not 372,330: Table 1 counts what Keras' ``count_params`` counts, which includes the
    1,824 moving means and variances of the batch normalisation layers (two per channel of
    its 912 normalised channels). They are statistics, not parameters an optimizer updates,
    and amalg's tasks are pure functions of their parameters, so batch normalisation here
    always uses the current batch's statistics and keeps no moving averages:
    370,506 + 1,824 = 372,330.
    """

    name: ClassVar[str] = "resnet"
    suites: ClassVar[tuple[str, ...]] = ("paper",)
    table_1_parameters: ClassVar[int | None] = 372330
    dataset: ClassVar[str] = "cifar10"

    def network(self) -> nn.Module:
        return models.ResNet()
