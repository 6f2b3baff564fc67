"""A tensorflow-datasets builder for scikit-learn's bundled 8x8 handwritten digits.

The data ships with scikit-learn (1797 images, values 0-16, no network), so it is prepared
offline into the data directory on first use and read back through the same
``tfds`` array_record path as every other dataset. Importing this module imports
tensorflow-datasets; the dataset layer imports it only when digits are needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds

# Fixed splits by index (no RNG, so every version of every library agrees): of each run of
# seven images, five train, one validates, one tests: 1285 / 256 / 256.
_PERIOD = 7
_SPLIT_OF_REMAINDER = {5: "validation", 6: "test"}


def split_indices(count: int, split: str) -> list[int]:
    """The image indices of ``split`` among ``count`` images."""
    return [i for i in range(count) if _SPLIT_OF_REMAINDER.get(i % _PERIOD, "train") == split]


class AmalgDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 digits (UCI optdigits test set), as uint8 images of values 0-16."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "Fixed train / validation / test splits by index."
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="8x8 images of handwritten digits bundled with scikit-learn.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator[tuple[int, dict]]]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = digits.images.astype(np.uint8)[..., None]
        labels = digits.target.astype(np.int64)
        return {
            split: self._generate_examples(images, labels, split_indices(len(labels), split))
            for split in ("train", "validation", "test")
        }

    def _generate_examples(
        self, images: np.ndarray, labels: np.ndarray, indices: list[int]
    ) -> Iterator[tuple[int, dict]]:
        for index in indices:
            yield index, {"image": images[index], "label": labels[index]}
