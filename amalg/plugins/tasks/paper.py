"""The evaluation optimizees of Huang et al., "Optimizer Amalgamation", ICLR 2022
(Appendix B, Tables 1 and 2), except ``resnet`` and ``mnist_dp`` (their own modules).

Parameter counts equal Table 1; they imply VALID convolutions and 2x2 max pooling. All are
trained with cross-entropy at batch size 128 (``small_batch``: 32).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from torch import nn

from amalg.plugins.tasks import models
from amalg.plugins.tasks.base import ImageClassifierTask, ImageConfigT, ImageTaskConfig

__all__ = ["FMNIST", "MLP", "SVHN", "Cifar", "Deeper", "SmallBatch", "Train", "Wider"]


class PaperCNN(ImageClassifierTask[ImageConfigT]):
    """The 2-layer CNN of Table 2a (or 2b, twice as wide) on the task's dataset."""

    suites: ClassVar[tuple[str, ...]] = ("paper",)

    widths: ClassVar[tuple[int, int]] = (16, 32)

    def network(self) -> nn.Module:
        height, _, channels = self.spec.shape
        return models.two_layer_cnn(channels, height, self.widths)


class Train(PaperCNN):
    """The meta-training optimizee: 2-layer CNN on MNIST, 18,122 parameters.

    Huang et al. 2022, Table 2a: conv 3x3x16, max pool 2x2, conv 5x5x32, max pool 2x2,
    dense 10; ReLU, VALID padding, batch size 128.
    """

    name: ClassVar[str] = "train"
    table_1_parameters: ClassVar[int | None] = 18122
    dataset: ClassVar[str] = "mnist"


class FMNIST(PaperCNN):
    """The train CNN on Fashion-MNIST, 18,122 parameters (Huang et al. 2022, B.1)."""

    name: ClassVar[str] = "fmnist"
    table_1_parameters: ClassVar[int | None] = 18122
    dataset: ClassVar[str] = "fashion_mnist"


class SVHN(PaperCNN):
    """The train CNN on SVHN (cropped, 32x32 RGB), 21,290 parameters (Huang et al. 2022, B.1)."""

    name: ClassVar[str] = "svhn"
    table_1_parameters: ClassVar[int | None] = 21290
    dataset: ClassVar[str] = "svhn_cropped"


class Wider(PaperCNN):
    """The train CNN with twice the width on MNIST, 61,834 parameters.

    Huang et al. 2022, Table 2b: conv 3x3x32, max pool, conv 5x5x64, max pool, dense 10.
    """

    name: ClassVar[str] = "wider"
    table_1_parameters: ClassVar[int | None] = 61834
    dataset: ClassVar[str] = "mnist"
    widths: ClassVar[tuple[int, int]] = (32, 64)


class Cifar(PaperCNN):
    """The wider CNN on CIFAR-10, 68,170 parameters (Huang et al. 2022, Section 5)."""

    name: ClassVar[str] = "cifar"
    table_1_parameters: ClassVar[int | None] = 68170
    dataset: ClassVar[str] = "cifar10"
    widths: ClassVar[tuple[int, int]] = (32, 64)


class SmallBatchConfig(ImageTaskConfig):
    batch_size: int = Field(32, ge=1, le=65_536, description="Examples per training batch.")


class SmallBatch(PaperCNN[SmallBatchConfig]):
    """The train CNN on MNIST at batch size 32, 18,122 parameters (Huang et al. 2022, B.3)."""

    name: ClassVar[str] = "small_batch"
    table_1_parameters: ClassVar[int | None] = 18122
    dataset: ClassVar[str] = "mnist"


class Deeper(ImageClassifierTask):
    """A 6-layer CNN on MNIST (five 3x3 convolutions, dense), 72,042 parameters.

    Huang et al. 2022, Table 2c, as the reference implementation builds it: convolutions of
    16, 32, 32, 64, 64 channels, ReLU, VALID, the second and fourth with stride 2 in place of
    the table's max pooling (see ``models.deeper_cnn``).
    """

    name: ClassVar[str] = "deeper"
    suites: ClassVar[tuple[str, ...]] = ("paper",)
    table_1_parameters: ClassVar[int | None] = 72042
    dataset: ClassVar[str] = "mnist"

    def network(self) -> nn.Module:
        return models.deeper_cnn()


class MLP(ImageClassifierTask):
    """A 2-layer MLP on MNIST: 20 sigmoid hidden units, 15,910 parameters.

    Huang et al. 2022, Appendix B.2 (1): 784 -> 20 (sigmoid) -> 10.
    """

    name: ClassVar[str] = "mlp"
    suites: ClassVar[tuple[str, ...]] = ("paper",)
    table_1_parameters: ClassVar[int | None] = 15910
    dataset: ClassVar[str] = "mnist"

    def network(self) -> nn.Module:
        return models.mlp(28 * 28, (20,), 10, nn.Sigmoid)
