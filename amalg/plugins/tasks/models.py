"""The optimizees' networks, applied functionally to a parameter dict.

Each network is an ``nn.Module`` built on the meta device (no storage): it only describes
the layers. The parameters live in a ``dict[str, Tensor]`` made by :func:`glorot_init` and
are applied with ``torch.func.functional_call``, so an update rule can produce new tensors
at every step and gradients flow through them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor, nn

from amalg.core.functional import Params

__all__ = [
    "ResNet",
    "apply",
    "cifar_convnet",
    "deeper_cnn",
    "glorot_init",
    "mlp",
    "on_meta",
    "two_layer_cnn",
]


def on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        return build()


def glorot_init(module: nn.Module, generator: torch.Generator) -> Params:
    """Parameters for ``module``: Glorot-uniform weights (Keras' default, as the reference
    implementation), zero biases, unit normalisation scales. Drawn in ``named_parameters``
    order from ``generator``, so the same seed gives the same parameters."""
    params: Params = {}
    for name, meta in module.named_parameters():
        value = torch.zeros(meta.shape, dtype=meta.dtype)
        if meta.dim() >= 2:
            nn.init.xavier_uniform_(value, generator=generator)
        elif name.endswith("weight"):  # a normalisation layer's scale
            value.fill_(1.0)
        params[name] = value
    return params


def apply(module: nn.Module, params: Params, inputs: Tensor) -> Tensor:
    """The network's output for ``inputs`` with parameters ``params``."""
    return torch.func.functional_call(module, params, (inputs,))


def _flat_size(module: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.device("meta"):
        return int(module(torch.empty(1, *shape)).numel())


def two_layer_cnn(
    channels: int, size: int, widths: tuple[int, int] = (16, 32), classes: int = 10
) -> nn.Sequential:
    """Huang et al. 2022, Table 2a/2b: conv 3x3 -> max pool 2x2 -> conv 5x5 -> max pool 2x2
    -> dense, ReLU, VALID padding, stride 1."""
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(channels, widths[0], 3),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(widths[0], widths[1], 5),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
        )
    )
    features.add_module("dense", nn.Linear(_flat_size(features, (channels, size, size)), classes))
    return features


def deeper_cnn(channels: int = 1, size: int = 28, classes: int = 10) -> nn.Sequential:
    """Huang et al. 2022, Table 2c, as the reference implementation builds it.

    Five 3x3 VALID convolutions of 16, 32, 32, 64, 64 channels with ReLU, the second and
    fourth with stride 2 instead of the max pooling Table 2c shows (with VALID convolutions
    a 28x28 input cannot take pooling where the table puts it), then a dense layer on the
    2x2x64 map: 28 -> 26 -> 12 -> 10 -> 4 -> 2, Table 1's 72,042 parameters.
    """
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(channels, 16, 3),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(16, 32, 3, stride=2),
            relu2=nn.ReLU(),
            conv3=nn.Conv2d(32, 32, 3),
            relu3=nn.ReLU(),
            conv4=nn.Conv2d(32, 64, 3, stride=2),
            relu4=nn.ReLU(),
            conv5=nn.Conv2d(64, 64, 3),
            relu5=nn.ReLU(),
            flatten=nn.Flatten(),
        )
    )
    features.add_module("dense", nn.Linear(_flat_size(features, (channels, size, size)), classes))
    return features


def mlp(
    inputs: int, hidden: tuple[int, ...], outputs: int, activation: type[nn.Module]
) -> nn.Sequential:
    """Flatten, then dense layers of ``hidden`` units with ``activation``, then a linear
    output layer."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = inputs
    for index, units in enumerate(hidden, start=1):
        layers[f"dense{index}"] = nn.Linear(width, units)
        layers[f"act{index}"] = activation()
        width = units
    layers["out"] = nn.Linear(width, outputs)
    return nn.Sequential(layers)


class _PadRightBottom(nn.Module):
    """TensorFlow's SAME padding for a 3x3, stride 2 convolution of an even-sized input: one
    row and column of zeros after the image, none before."""

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.pad(x, (0, 1, 0, 1))


class _SpatialMean(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


def cifar_convnet(channels: int = 3, classes: int = 10) -> nn.Sequential:
    """Metz et al. 2022, Appendix B.2: 3x3 convolutions of 32 (stride 2), 64 and 64
    channels with SAME padding and ReLU, a mean over space, a linear layer."""
    return nn.Sequential(
        OrderedDict(
            pad1=_PadRightBottom(),
            conv1=nn.Conv2d(channels, 32, 3, stride=2),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(32, 64, 3, padding=1),
            relu2=nn.ReLU(),
            conv3=nn.Conv2d(64, 64, 3, padding=1),
            relu3=nn.ReLU(),
            mean=_SpatialMean(),
            dense=nn.Linear(64, classes),
        )
    )


def _norm(width: int) -> nn.BatchNorm2d:
    # Keras' epsilon; batch statistics only (see ResNet).
    return nn.BatchNorm2d(width, eps=1e-3, track_running_stats=False)


class _Block(nn.Module):
    """A residual block as the reference builds it: conv-BN-ReLU-conv-BN-ReLU added to the
    shortcut (no activation after the sum); a 1x1 projection on the shortcut when the width
    changes."""

    def __init__(self, width_in: int, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width_in, width, 3, padding=1)
        self.norm1 = _norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.norm2 = _norm(width)
        self.project = nn.Conv2d(width_in, width, 1) if width_in != width else None

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.norm1(self.conv1(x)))
        out = torch.relu(self.norm2(self.conv2(out)))
        return out + (x if self.project is None else self.project(x))


class ResNet(nn.Module):
    """Huang et al. 2022, Table 2d: a stem convolution, three stages of four residual blocks
    with 2x2 max pooling between stages, global average pooling, a dense layer. The widths
    are the reference implementation's (depth 28, width 1): 16, 32, 64 channels; the 64,
    128, 256 that Table 2d shows would give over a million parameters, not Table 1's count.

    Batch normalisation normalises with the statistics of the current batch and keeps no
    running averages: the task stays a pure function of its parameters.
    """

    def __init__(self, channels: int = 3, widths: tuple[int, ...] = (16, 32, 64), blocks: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.stem_norm = _norm(widths[0])
        stages = []
        width_in = widths[0]
        for width in widths:
            stage = nn.Sequential(
                *(_Block(width_in if i == 0 else width, width) for i in range(blocks))
            )
            stages.append(stage)
            width_in = width
        self.stages = nn.ModuleList(stages)
        self.dense = nn.Linear(widths[-1], 10)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.stem_norm(self.stem(x)))
        for index, stage in enumerate(self.stages):
            if index > 0:
                x = nn.functional.max_pool2d(x, 2)
            x = stage(x)
        return self.dense(x.mean(dim=(2, 3)))
