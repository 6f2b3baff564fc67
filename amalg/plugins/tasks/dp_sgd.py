"""The DP-SGD gradient oracle (Abadi et al. 2016), shared by the differentially private
classifiers (``mnist_dp`` and its offline counterpart ``digits_dp``)."""

from __future__ import annotations

from typing import TypeVar, cast

import torch
from pydantic import Field
from torch import Tensor, nn

from amalg.core.functional import Params
from amalg.core.interfaces.task import Batch
from amalg.plugins.tasks import models
from amalg.plugins.tasks.base import ImageClassifierTask, ImageTaskConfig

__all__ = ["DPSGDConfig", "DPSGDTask"]


class DPSGDConfig(ImageTaskConfig):
    clip_norm: float = Field(1.0, gt=0, description="L2 bound C of each example's gradient.")
    noise_multiplier: float = Field(
        1.1, ge=0, description="sigma: the noise's standard deviation is sigma * C."
    )


DPConfigT = TypeVar("DPConfigT", bound=DPSGDConfig)


class DPSGDTask(ImageClassifierTask[DPConfigT]):
    """A classifier whose gradient oracle is DP-SGD: per-example clipping, then noise.

    Each example's gradient g_i (over all parameters jointly) is clipped to
    g_i / max(1, ||g_i|| / C), and the oracle returns (sum_i clipped g_i + N(0, sigma^2 C^2 I))
    / B for a batch of B examples. C = ``clip_norm``, sigma = ``noise_multiplier``; the noise
    is drawn from the generator passed to ``gradient`` (seeded by the batch's address).
    """

    def per_example_gradients(self, params: Params, batch: Batch) -> tuple[Tensor, Params]:
        """Each example's loss ``[B]`` and gradient (``[B, *shape]`` per parameter)."""
        inputs, labels = batch
        model = self.model  # built outside vmap: building draws (meta) random numbers

        def example_loss(values: Params, x: Tensor, y: Tensor) -> Tensor:
            logits = models.apply(model, values, x[None])
            return nn.functional.cross_entropy(logits, y[None])

        grads, losses = torch.func.vmap(
            torch.func.grad_and_value(example_loss), in_dims=(None, 0, 0)
        )(params, inputs, labels)
        return losses, grads

    def gradient(
        self,
        params: Params,
        batch: Batch,
        *,
        generator: torch.Generator | None = None,
        create_graph: bool = False,
        retain_graph: bool = False,
    ) -> tuple[Tensor, Params]:
        # Per-example gradients come from torch.func, whose losses keep no graph: a caller
        # that differentiates the loss itself (retain_graph) gets it from a plain forward.
        with torch.enable_grad():  # an oracle works under no_grad too (see Task.gradient)
            loss = self.loss(params, batch) if retain_graph else None
            if not create_graph:
                params = {key: value.detach() for key, value in params.items()}
            losses, grads = self.per_example_gradients(params, batch)
        size = losses.shape[0]
        squares = cast(Tensor, sum(g.reshape(size, -1).pow(2).sum(dim=1) for g in grads.values()))
        norms = torch.sqrt(squares)
        clip = self.config.clip_norm
        scale = torch.clamp(clip / norms.clamp_min(torch.finfo(norms.dtype).tiny), max=1.0)
        sigma = self.config.noise_multiplier * clip
        result: Params = {}
        for key, per_example in grads.items():
            total = torch.einsum("b,b...->...", scale, per_example)
            if sigma > 0:
                # Drawn on the CPU (the generator's device), so any device draws the same noise.
                noise = torch.randn(total.shape, generator=generator, dtype=total.dtype)
                noise = noise.to(total.device)
                total = total + sigma * noise
            result[key] = total / size
        return (losses.mean() if loss is None else loss), result
