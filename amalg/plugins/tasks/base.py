"""Shared machinery of the image tasks: data splits in memory, addressed batches, a network
applied functionally, the losses of classifiers and autoencoders."""

from __future__ import annotations

from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from functools import cached_property
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import Tensor, nn

from amalg.core.config import ComponentConfig
from amalg.core.functional import Params
from amalg.core.interfaces.task import SPLITS, Batch, Split, Task
from amalg.plugins.tasks import data, models

__all__ = ["ImageClassifierTask", "ImageTask", "ImageTaskConfig"]

EVAL_BATCH = 1000
# Enough for a meta-batch of interleaved trajectories (each its own seed) on three splits.
_PERMUTATIONS_KEPT = 64


class ImageTaskConfig(ComponentConfig):
    batch_size: int = Field(128, ge=1, le=65_536, description="Examples per training batch.")
    data_dir: str | None = Field(
        None,
        description=f"Dataset folder; default ${data.DATA_DIR_ENV}, else ~/tensorflow_datasets.",
    )

    @field_validator("data_dir")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is empty: give a folder, or leave it unset for the default")
        return value


ImageConfigT = TypeVar("ImageConfigT", bound=ImageTaskConfig)


class ImageTask(Task[ImageConfigT]):
    """A network trained on an image dataset held in memory.

    ``batch_at(split, seed, index)``: the epoch is ``index // batches_per_epoch``; each epoch
    is a fresh permutation drawn from ``(seed, epoch, split)``; the last partial batch of an
    epoch is dropped. Pixels are scaled to [0, 1].
    """

    dataset: ClassVar[str]
    config_class: ClassVar[type[ComponentConfig]] = ImageTaskConfig
    table_1_parameters: ClassVar[int | None] = None
    """The count Table 1 of Huang et al. 2022 gives, for the paper's optimizees."""

    def __init__(self, config: Any = None, /, **fields: Any) -> None:
        super().__init__(config, **fields)
        self._permutations: OrderedDict[tuple[Split, int, int], Tensor] = OrderedDict()
        self._splits: dict[Split, data.ImageData] = {}

    @property
    def dataset_name(self) -> str:
        return self.dataset

    @property
    def spec(self) -> data.DatasetSpec:
        return data.DATASETS[self.dataset_name]

    @abstractmethod
    def network(self) -> nn.Module:
        """The network (built on the meta device by :attr:`model`)."""

    @cached_property
    def model(self) -> nn.Module:
        return models.on_meta(self.network)

    def init_params(self, generator: torch.Generator) -> Params:
        return models.glorot_init(self.model, generator)

    def abstract_params(self) -> Params:
        return {name: torch.empty_like(meta) for name, meta in self.model.named_parameters()}

    def split(self, split: Split) -> data.ImageData:
        """The whole split in memory (loaded on first use)."""
        if split not in self._splits:
            loaded = data.load(self.dataset_name, split, self.config.data_dir)
            if len(loaded) == 0:
                raise data.DatasetError(f"the {split} split of {self.dataset_name!r} is empty")
            self._splits[split] = loaded
        return self._splits[split]

    def inputs(self, images: Tensor) -> Tensor:
        """uint8 images to the network's float input."""
        return images.float() / self.spec.max_value

    def _batch(self, split: data.ImageData, index: Tensor) -> Batch:
        return self.inputs(split.images[index]), split.labels[index]

    def batches_per_epoch(self, split: Split) -> int:
        size = len(self.split(split))
        return max(size // min(self.config.batch_size, size), 1)

    def _permutation(self, split: Split, seed: int, epoch: int) -> Tensor:
        key = (split, seed, epoch)
        if key in self._permutations:
            self._permutations.move_to_end(key)
        else:
            if len(self._permutations) >= _PERMUTATIONS_KEPT:
                self._permutations.popitem(last=False)
            state = np.random.SeedSequence((seed, epoch, SPLITS.index(split))).generate_state(1)
            generator = torch.Generator().manual_seed(int(state[0]))
            self._permutations[key] = torch.randperm(len(self.split(split)), generator=generator)
        return self._permutations[key]

    def batch_at(self, split: Split, seed: int, index: int) -> Batch:
        if seed < 0 or index < 0:
            raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
        whole = self.split(split)
        size = min(self.config.batch_size, len(whole))
        epoch, position = divmod(index, self.batches_per_epoch(split))
        order = self._permutation(split, seed, epoch)
        return self._batch(whole, order[position * size : (position + 1) * size])

    def eval_batches(self, split: Split) -> Iterator[Batch]:
        whole = self.split(split)
        for start in range(0, len(whole), EVAL_BATCH):
            yield self._batch(whole, torch.arange(start, min(start + EVAL_BATCH, len(whole))))

    def output(self, params: Params, inputs: Tensor) -> Tensor:
        return models.apply(self.model, params, inputs)

    def details(self) -> dict[str, Any]:
        available = data.is_available(self.dataset_name, self.config.data_dir)
        facts: dict[str, Any] = {
            "parameters": self.parameter_count,
            "dataset": self.dataset_name,
            "batch_size": self.config.batch_size,
            "data": "available" if available else "not prepared",
        }
        if self.table_1_parameters is not None:
            facts["table_1_parameters"] = self.table_1_parameters
        if self.suites:
            facts["suites"] = ", ".join(self.suites)
        return facts


class ImageClassifierTask(ImageTask[ImageConfigT]):
    """Cross-entropy classification; ``metrics`` adds accuracy."""

    def loss(self, params: Params, batch: Batch) -> Tensor:
        inputs, labels = batch
        return nn.functional.cross_entropy(self.output(params, inputs), labels)

    def metrics(self, params: Params, batch: Batch) -> dict[str, Tensor]:
        inputs, labels = batch
        logits = self.output(params, inputs)
        return {
            "loss": nn.functional.cross_entropy(logits, labels),
            "accuracy": (logits.argmax(dim=1) == labels).float().mean(),
        }
