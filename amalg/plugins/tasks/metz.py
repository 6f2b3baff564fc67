"""Tasks of Metz et al., "Practical tradeoffs between memory, compute, and performance in
learned optimizers", 2022 (Appendices B and E).

The ImageNet MLP and the byte-level LM1B LSTM are left out. tensorflow-datasets' 16x16
ImageNet (``imagenet_resized``) downloads from image-net.org, which serves it only to
registered ImageNet users, so ``amalg data prepare`` cannot fetch it; LM1B's training text
(about 30 million sentences, several GB) does not fit the dataset layer's whole-split-in-memory
design, and amalg has no streaming text pipeline yet.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from torch import Tensor, nn

from amalg.core.functional import Params
from amalg.core.interfaces.task import Batch
from amalg.plugins.tasks import models
from amalg.plugins.tasks.base import ImageClassifierTask, ImageTask, ImageTaskConfig


class FashionMNISTMLP(ImageClassifierTask):
    """An MLP on Fashion-MNIST: two hidden layers of 128 ReLU units, 118,282 parameters.

    Metz et al. 2022, Appendix B.1: pixels in [0, 1], batch size 128, cross-entropy.
    """

    name: ClassVar[str] = "fmnist_mlp"
    dataset: ClassVar[str] = "fashion_mnist"

    def network(self) -> nn.Module:
        return models.mlp(28 * 28, (128, 128), 10, nn.ReLU)


class CifarConvConfig(ImageTaskConfig):
    image_size: Literal[32, 16] = Field(
        32, description="16: images averaged down to 16x16, the held-out variant of E.1."
    )


class CifarConv(ImageClassifierTask[CifarConvConfig]):
    """A 3-layer ConvNet on CIFAR-10 (32, 64, 64 channels), 56,970 parameters.

    Metz et al. 2022, Appendix B.2: 3x3 convolutions, the first with stride 2, SAME padding,
    ReLU, a mean over space, a linear layer; batch size 128. ``image_size=16`` averages 2x2
    pixel blocks first (Appendix E.1's 16x16 variant); the parameter count is the same.
    """

    name: ClassVar[str] = "cifar_conv"
    dataset: ClassVar[str] = "cifar10"

    def network(self) -> nn.Module:
        return models.cifar_convnet()

    def inputs(self, images: Tensor) -> Tensor:
        pixels = super().inputs(images)
        if self.config.image_size == 16:
            return nn.functional.avg_pool2d(pixels, 2)
        return pixels


class CifarAutoencoderConfig(ImageTaskConfig):
    batch_size: int = Field(256, ge=1, le=65_536, description="Examples per training batch.")


class CifarAutoencoder(ImageTask[CifarAutoencoderConfig]):
    """An MLP autoencoder of CIFAR-10 (128-32-128 ReLU), mean squared error, 797,984 parameters.

    Metz et al. 2022, Appendix E.1: 3072 -> 128 -> 32 -> 128 -> 3072; the reconstruction is
    the sigmoid of the output and the loss the mean over pixels of the squared error, as in
    the implementation the paper links (batch size 256 there, and here by default).
    """

    name: ClassVar[str] = "cifar_ae"
    dataset: ClassVar[str] = "cifar10"

    def network(self) -> nn.Module:
        return models.mlp(3 * 32 * 32, (128, 32, 128), 3 * 32 * 32, nn.ReLU)

    def loss(self, params: Params, batch: Batch) -> Tensor:
        inputs = batch[0]
        reconstruction = self.output(params, inputs).sigmoid()
        return nn.functional.mse_loss(reconstruction, inputs.flatten(1))
