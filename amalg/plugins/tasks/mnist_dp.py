"""Differentially private training of the train CNN (DP-SGD, Abadi et al. 2016)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from torch import nn

from amalg.plugins.tasks import models
from amalg.plugins.tasks.dp_sgd import DPSGDConfig, DPSGDTask


class MNISTDPConfig(DPSGDConfig):
    dataset: Literal["mnist", "kmnist"] = Field(
        "mnist",
        description="mnist, or kmnist for the paper's transfer to a private dataset.",
    )


class MNISTDP(DPSGDTask[MNISTDPConfig]):
    """The train CNN trained with DP-SGD: per-example clipping to norm 1.0, noise 1.1.

    Abadi et al. 2016, as in Huang et al. 2022, Appendix B.3. The gradient oracle computes
    each example's gradient g_i (over all parameters jointly), clips it to
    g_i / max(1, ||g_i|| / C), and returns (sum_i clipped g_i + N(0, sigma^2 C^2 I)) / B for a
    batch of B examples. C = ``clip_norm``, sigma = ``noise_multiplier``; the noise is drawn
    from the generator passed to ``gradient``. ``dataset=kmnist`` trains on Kuzushiji-MNIST,
    the paper's private transfer target.
    """

    name: ClassVar[str] = "mnist_dp"
    table_1_parameters: ClassVar[int | None] = 18122
    dataset: ClassVar[str] = "mnist"
    suites: ClassVar[tuple[str, ...]] = ("paper",)

    @property
    def dataset_name(self) -> str:
        return self.config.dataset

    def network(self) -> nn.Module:
        height, _, channels = self.spec.shape
        return models.two_layer_cnn(channels, height)
