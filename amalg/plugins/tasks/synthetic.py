"""Synthetic optimizees with known minima, for tests and quick checks. They have no data:
every batch is empty and the loss is deterministic."""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cached_property
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from amalg.core.component import ConfigT
from amalg.core.config import ComponentConfig
from amalg.core.functional import Params
from amalg.core.interfaces.task import Batch, Split, Task

__all__ = ["Quadratic", "Rastrigin"]


class SyntheticTask(Task[ConfigT]):
    """A deterministic function of the parameters; batches are empty tuples."""

    def batch_at(self, split: Split, seed: int, index: int) -> Batch:
        return ()

    def eval_batches(self, split: Split) -> Iterator[Batch]:
        yield ()

    def details(self) -> dict[str, Any]:
        return {**super().details(), "dataset": "synthetic", "data": "available"}


class QuadraticConfig(ComponentConfig):
    # A is a dense n x n matrix: 4096 keeps it within 128 MiB.
    dimension: int = Field(20, ge=1, le=4096, description="Number of parameters n.")
    condition_number: float = Field(
        10.0, ge=1, description="Ratio of A's largest to smallest eigenvalue."
    )
    problem_seed: int = Field(0, ge=0, description="Seed of the random A and minimum x*.")
    dtype: Literal["float32", "float64"] = Field(
        "float32", description="Precision of the parameters (float64 for gradient checks)."
    )


class Quadratic(SyntheticTask[QuadraticConfig]):
    """A random convex quadratic f(x) = 0.5 (x - x*)^T A (x - x*), minimum 0 at x*.

    A = Q diag(lambda) Q^T with Q a random rotation and eigenvalues lambda spaced
    geometrically from 1 down to 1 / condition_number; x* ~ N(0, I). Both come from
    ``problem_seed``; the initial x ~ N(0, I) comes from the generator.
    """

    name: ClassVar[str] = "quadratic"

    @cached_property
    def _problem(self) -> tuple[Tensor, Tensor]:
        n = self.config.dimension
        generator = torch.Generator().manual_seed(self.config.problem_seed)
        rotation, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
        spectrum = torch.logspace(
            0, -math.log10(self.config.condition_number), n, dtype=torch.float64
        )
        matrix = (rotation * spectrum) @ rotation.T
        minimum = torch.randn(n, generator=generator, dtype=torch.float64)
        dtype = getattr(torch, self.config.dtype)
        return matrix.to(dtype), minimum.to(dtype)

    @property
    def minimum(self) -> tuple[Params, float]:
        """The minimiser x* and the minimum value 0."""
        return {"x": self._problem[1].clone()}, 0.0

    def init_params(self, generator: torch.Generator) -> Params:
        dtype = getattr(torch, self.config.dtype)
        return {"x": torch.randn(self.config.dimension, generator=generator, dtype=dtype)}

    def abstract_params(self) -> Params:
        dtype = getattr(torch, self.config.dtype)
        return {"x": torch.empty(self.config.dimension, dtype=dtype, device="meta")}

    def loss(self, params: Params, batch: Batch) -> Tensor:
        matrix, minimum = self._problem
        diff = params["x"] - minimum.to(params["x"])
        return 0.5 * diff @ matrix.to(diff) @ diff


class RastriginConfig(ComponentConfig):
    dimension: int = Field(10, ge=1, le=100_000_000, description="Number of parameters n.")
    amplitude: float = Field(10.0, gt=0, description="A: depth of the cosine ripples.")


class Rastrigin(SyntheticTask[RastriginConfig]):
    """The Rastrigin function f(x) = A n + sum_i (x_i^2 - A cos(2 pi x_i)), minimum 0 at 0.

    Rastrigin 1974; highly multimodal. The initial x is uniform on [-5.12, 5.12]^n.
    """

    name: ClassVar[str] = "rastrigin"

    @property
    def minimum(self) -> tuple[Params, float]:
        """The minimiser 0 and the minimum value 0."""
        return {"x": torch.zeros(self.config.dimension)}, 0.0

    def init_params(self, generator: torch.Generator) -> Params:
        return {"x": (torch.rand(self.config.dimension, generator=generator) * 2 - 1) * 5.12}

    def abstract_params(self) -> Params:
        return {"x": torch.empty(self.config.dimension, device="meta")}

    def loss(self, params: Params, batch: Batch) -> Tensor:
        x = params["x"]
        a = self.config.amplitude
        return a * x.numel() + (x * x - a * torch.cos(2 * math.pi * x)).sum()
