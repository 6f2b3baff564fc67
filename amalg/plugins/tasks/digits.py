"""Tasks on scikit-learn's bundled 8x8 digits: they need no download and train fast, so they
are the default for quick runs and tests, and the offline evaluation suite ``digits``.

The suite mirrors the evaluation axes of Huang et al. 2022 (Section 5, Appendix B) on data
that ships with amalg's dependencies: ``digits_cnn`` plays the meta-training task ``train``;
``digits_mlp``, ``digits_wider`` and ``digits_deeper`` other architectures (``mlp``,
``wider``, ``deeper``); ``digits_small_batch`` another batch size (``small_batch``);
``digits_dp`` another training setting, DP-SGD (``mnist_dp``). Splits: 1285 train, 256
validation, 256 test images.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

from pydantic import Field
from torch import nn

from amalg.plugins.tasks import models
from amalg.plugins.tasks.base import ImageClassifierTask, ImageConfigT, ImageTaskConfig
from amalg.plugins.tasks.dp_sgd import DPSGDConfig, DPSGDTask

DIGITS: tuple[str, ...] = ("digits",)


def digits_cnn(widths: tuple[int, int] = (8, 16)) -> nn.Sequential:
    """conv 3x3, conv 3x3, max pool 2x2, dense 10; ReLU, VALID padding (8 -> 6 -> 4 -> 2)."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, widths[0], 3),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(widths[0], widths[1], 3),
            relu2=nn.ReLU(),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            dense=nn.Linear(2 * 2 * widths[1], 10),
        )
    )


class _DigitsCNNBase(ImageClassifierTask[ImageConfigT]):
    dataset: ClassVar[str] = "digits"
    suites: ClassVar[tuple[str, ...]] = DIGITS
    widths: ClassVar[tuple[int, int]] = (8, 16)

    def network(self) -> nn.Module:
        return digits_cnn(self.widths)


class DigitsCNN(_DigitsCNNBase[ImageTaskConfig]):
    """A small CNN on the offline 8x8 digits, 1,898 parameters: the default task.

    The shape of the paper's train CNN scaled to 8x8 images: conv 3x3x8, conv 3x3x16, max
    pool 2x2, dense 10; ReLU, VALID padding, batch size 128. The meta-training task of the
    ``digits`` suite, as ``train`` is the paper's.
    """

    name: ClassVar[str] = "digits_cnn"


class DigitsMLP(ImageClassifierTask[ImageTaskConfig]):
    """The paper's MLP optimizee on the offline 8x8 digits: 20 sigmoid units, 1,510 parameters.

    64 -> 20 (sigmoid) -> 10, batch size 128, as the ``mlp`` task on MNIST.
    """

    name: ClassVar[str] = "digits_mlp"
    dataset: ClassVar[str] = "digits"
    suites: ClassVar[tuple[str, ...]] = DIGITS

    def network(self) -> nn.Module:
        return models.mlp(8 * 8, (20,), 10, nn.Sigmoid)


class DigitsWider(_DigitsCNNBase[ImageTaskConfig]):
    """``digits_cnn`` at twice the width (16 and 32 channels), 6,090 parameters.

    The digits counterpart of ``wider`` (Huang et al. 2022, Table 2b: the train CNN with
    twice the units in each layer).
    """

    name: ClassVar[str] = "digits_wider"
    widths: ClassVar[tuple[int, int]] = (16, 32)


class DigitsDeeper(ImageClassifierTask[ImageTaskConfig]):
    """A 6-layer CNN on the offline digits (five 3x3 convolutions, dense), 18,746 parameters.

    The digits counterpart of ``deeper`` (Huang et al. 2022, Table 2c): convolutions of 8,
    16, 16, 32 and 32 channels with SAME padding and ReLU, 2x2 max pooling after the second
    and the fourth (8 -> 4 -> 2), then a dense layer on the 2x2x32 map.
    """

    name: ClassVar[str] = "digits_deeper"
    dataset: ClassVar[str] = "digits"
    suites: ClassVar[tuple[str, ...]] = DIGITS

    def network(self) -> nn.Module:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        width_in = 1
        for index, width in enumerate((8, 16, 16, 32, 32), start=1):
            layers[f"conv{index}"] = nn.Conv2d(width_in, width, 3, padding=1)
            layers[f"relu{index}"] = nn.ReLU()
            if index in (2, 4):
                layers[f"pool{index}"] = nn.MaxPool2d(2)
            width_in = width
        layers["flatten"] = nn.Flatten()
        layers["dense"] = nn.Linear(2 * 2 * 32, 10)
        return nn.Sequential(layers)


class DigitsSmallBatchConfig(ImageTaskConfig):
    batch_size: int = Field(32, ge=1, le=65_536, description="Examples per training batch.")


class DigitsSmallBatch(_DigitsCNNBase[DigitsSmallBatchConfig]):
    """``digits_cnn`` at batch size 32, 1,898 parameters.

    The digits counterpart of ``small_batch`` (Huang et al. 2022, Appendix B.3): noisier
    gradients, four times as many steps per epoch.
    """

    name: ClassVar[str] = "digits_small_batch"


class DigitsDP(DPSGDTask[DPSGDConfig]):
    """``digits_cnn`` trained with DP-SGD (clip 1.0, noise 1.1), 1,898 parameters.

    The digits counterpart of ``mnist_dp`` (Huang et al. 2022, Appendix B.3; Abadi et al.
    2016): per-example gradients clipped to norm C = 1.0, Gaussian noise of std 1.1 C on
    their sum, divided by the batch size 128.
    """

    name: ClassVar[str] = "digits_dp"
    dataset: ClassVar[str] = "digits"
    suites: ClassVar[tuple[str, ...]] = DIGITS

    def network(self) -> nn.Module:
        return digits_cnn()
