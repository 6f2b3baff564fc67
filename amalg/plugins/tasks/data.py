"""The dataset layer: image classification data through tensorflow-datasets.

Datasets are read with ``tfds.data_source`` from array_record files, which needs no
TensorFlow, and each split is held in memory as a uint8 tensor (these datasets are small).
Loading never downloads: a dataset that is not prepared fails at once with one line saying
where amalg looked and how to prepare it. Preparing MNIST, CIFAR-10 and the rest from the
internet needs TensorFlow (``pip install "amalg[prepare]"``, then ``amalg data prepare``);
the ``digits`` dataset is scikit-learn's bundled copy, prepared offline on first use.

The data directory is ``$AMALG_DATA_DIR``, else tensorflow-datasets' own default
(``~/tensorflow_datasets``), so data prepared for other tfds users is found too.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from amalg.core.errors import AmalgError, SettingError, UnknownComponentError
from amalg.core.interfaces.task import Split

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DataDirError",
    "DatasetError",
    "DatasetNotPreparedError",
    "DatasetSpec",
    "ImageData",
    "data_dir",
    "is_available",
    "is_prepared",
    "load",
    "prepare",
]

DATA_DIR_ENV = "AMALG_DATA_DIR"


class DatasetError(AmalgError):
    """A dataset could not be read or prepared."""


class DataDirError(DatasetError, SettingError):
    """The data folder setting in force is not a usable folder."""


class DatasetNotPreparedError(DatasetError):
    """A dataset is not in the data directory and amalg will not download it on the fly."""

    def __init__(self, name: str, where: Path, found_formats: tuple[str, ...] = ()) -> None:
        self.name = name
        self.where = where
        state = "is not prepared"
        if found_formats:
            # tfds.load prepares tfrecord files, which random access cannot read.
            state = f"is prepared as {', '.join(found_formats)}, not array_record,"
        super().__init__(
            f"dataset {name!r} {state} in {where}; prepare it on a machine with "
            f'internet access (pip install "amalg[prepare]", then amalg data prepare {name}) '
            f"or set {DATA_DIR_ENV} to a folder where it is prepared"
        )


@dataclass(frozen=True)
class DatasetSpec:
    """An image classification dataset as amalg uses it."""

    name: str
    tfds_name: str
    shape: tuple[int, int, int]
    """Height, width, channels."""
    classes: int
    max_value: float
    """The largest pixel value (255, or 16 for digits): images are scaled to [0, 1]."""
    validation_fraction: float = 0.1
    """Share of tfds' ``train`` split held out (its tail, in stored order) as validation;
    0 when the builder has its own validation split."""
    offline_builder: str | None = None
    """``module:Class`` of a builder that prepares the data offline (no download)."""


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist", "mnist", (28, 28, 1), 10, 255.0),
        DatasetSpec("fashion_mnist", "fashion_mnist", (28, 28, 1), 10, 255.0),
        DatasetSpec("kmnist", "kmnist", (28, 28, 1), 10, 255.0),
        DatasetSpec("cifar10", "cifar10", (32, 32, 3), 10, 255.0),
        DatasetSpec("svhn_cropped", "svhn_cropped", (32, 32, 3), 10, 255.0),
        DatasetSpec(
            "digits",
            "amalg_digits",
            (8, 8, 1),
            10,
            16.0,
            validation_fraction=0.0,
            offline_builder="amalg.plugins.tasks.digits_builder:AmalgDigits",
        ),
    )
}


@dataclass(frozen=True)
class ImageData:
    """One split in memory: uint8 images ``[N, C, H, W]`` and int64 labels ``[N]``."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.labels)


def spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise UnknownComponentError("dataset", name, list(DATASETS))
    return DATASETS[name]


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where datasets live: ``override``, else ``$AMALG_DATA_DIR``, else tfds' default
    (``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``).

    Raises :class:`DatasetError` when the setting in force names something that is not a
    folder (a file, or a path through a file): one line naming the setting."""
    if override is not None:
        if not str(override).strip():
            raise DataDirError("the data folder setting is empty; give a folder or leave it unset")
        return _folder(Path(override).expanduser(), "the data folder setting")
    for variable in (DATA_DIR_ENV, "TFDS_DATA_DIR"):
        if os.environ.get(variable, "").strip():
            return _folder(Path(os.environ[variable]).expanduser(), f"${variable}")
    return _folder(Path("~/tensorflow_datasets").expanduser(), "the default data folder")


def _folder(where: Path, setting: str) -> Path:
    """``where``, unless it (or the nearest part of it that exists) is not a folder."""
    existing = where
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        what = "is a file" if existing == where else f"goes through the file {existing}"
        raise DataDirError(
            f"{setting} names {where}, which {what}, not a folder; point it at a folder"
        )
    return where


@contextlib.contextmanager
def _quiet_tfds() -> Iterator[Any]:
    """tensorflow-datasets without its progress bars, absl warnings, banner lines and
    litter: reading a prepared dataset or preparing digits is quick, and amalg reports its
    own progress. Each builder lookup makes an empty ``tmp*tfds`` folder in the temp dir for
    a download it never does; the empty ones that appear meanwhile are removed afterwards."""
    import tensorflow_datasets as tfds

    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    tfds.display_progress_bar(False)
    before = _tfds_litter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield tfds
    finally:
        for folder in _tfds_litter() - before:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty: never another process's files
        tfds.display_progress_bar(True)
        absl_logger.setLevel(level)


def _tfds_litter() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("tmp*tfds"))


def _offline_builder(dataset: DatasetSpec, where: Path) -> Any:
    import fcntl
    import importlib

    assert dataset.offline_builder is not None
    module, _, cls = dataset.offline_builder.partition(":")
    builder = getattr(importlib.import_module(module), cls)(data_dir=str(where))
    if builder.is_prepared():
        return builder
    try:
        # Several processes (distributed ranks, parallel runs) may start at once: one
        # prepares, the others wait and then find it prepared.
        where.mkdir(parents=True, exist_ok=True)
        with (where / f".{dataset.tfds_name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            builder = getattr(importlib.import_module(module), cls)(data_dir=str(where))
            if not builder.is_prepared():
                builder.download_and_prepare(file_format="array_record")
    except OSError as error:
        raise DatasetError(
            f"cannot prepare {dataset.name!r} in {where}: {error.strerror or error}; set "
            f"{DATA_DIR_ENV} to a folder amalg can write"
        ) from None
    return builder


def _source(dataset: DatasetSpec, tfds_split: str, where: Path) -> Any:
    with _quiet_tfds() as tfds:
        if dataset.offline_builder is not None:
            return _offline_builder(dataset, where).as_data_source(split=tfds_split)
        try:
            return tfds.data_source(
                dataset.tfds_name, split=tfds_split, data_dir=str(where), download=False
            )
        except Exception as error:
            # Checked after trying, not before: under tfds.testing.mock_data the builder
            # reports "not prepared" while the source works.
            builder = tfds.builder(dataset.tfds_name, data_dir=str(where))
            if not builder.is_prepared():
                raise DatasetNotPreparedError(dataset.name, where) from None
            formats = _formats(builder)
            if "array_record" not in formats:
                raise DatasetNotPreparedError(dataset.name, where, formats) from None
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise DatasetError(
                f"reading {dataset.name!r} from {where} failed: {type(error).__name__}: "
                f"{first_line}"
            ) from error


def _formats(builder: Any) -> tuple[str, ...]:
    """The file formats a prepared builder's data exists in."""
    return tuple(str(getattr(f, "value", f)) for f in builder.info.available_file_formats())


@functools.lru_cache(maxsize=12)
def _read(name: str, tfds_split: str, where: Path) -> ImageData:
    dataset = DATASETS[name]
    source = _source(dataset, tfds_split, where)
    # One item at a time: __getitems__ is faster but broken under tfds.testing.mock_data.
    items = [source[index] for index in range(len(source))]
    if not items:
        raise DatasetError(f"split {tfds_split!r} of {name!r} in {where} is empty")
    images = torch.stack([torch.as_tensor(item["image"], dtype=torch.uint8) for item in items])
    labels = torch.as_tensor([int(item["label"]) for item in items], dtype=torch.int64)
    height, width, channels = dataset.shape
    if tuple(images.shape[1:]) != (height, width, channels):
        raise DatasetError(
            f"{name!r} in {where} has images of shape {tuple(images.shape[1:])}, "
            f"expected {dataset.shape}"
        )
    return ImageData(images.permute(0, 3, 1, 2).contiguous(), labels)


def load(name: str, split: Split, override: str | os.PathLike[str] | None = None) -> ImageData:
    """Split ``split`` of dataset ``name`` in memory (read once per process)."""
    dataset = spec(name)
    where = data_dir(override)
    if dataset.validation_fraction == 0.0:
        return _read(name, split, where)
    if split == "test":
        return _read(name, "test", where)
    train = _read(name, "train", where)
    held_out = max(1, round(len(train) * dataset.validation_fraction))
    cut = len(train) - held_out
    part = slice(cut, None) if split == "validation" else slice(None, cut)
    return ImageData(train.images[part], train.labels[part])


def is_prepared(name: str, override: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``name`` is prepared as array_record files in the data directory."""
    dataset = spec(name)
    where = str(data_dir(override))
    with _quiet_tfds() as tfds:
        if dataset.offline_builder is not None:
            module, _, cls = dataset.offline_builder.partition(":")
            import importlib

            builder = getattr(importlib.import_module(module), cls)(data_dir=where)
        else:
            builder = tfds.builder(dataset.tfds_name, data_dir=where)
        return bool(builder.is_prepared()) and "array_record" in _formats(builder)


def is_available(name: str, override: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``name`` can be loaded now: prepared, or prepared offline on first use."""
    return spec(name).offline_builder is not None or is_prepared(name, override)


def prepare(name: str, override: str | os.PathLike[str] | None = None) -> Path:
    """Prepare ``name`` in the data directory as array_record files; returns the folder.

    Datasets other than ``digits`` are downloaded, which needs TensorFlow and the internet;
    tensorflow-datasets shows its own progress (and, without a network, retries for minutes
    before it gives up).
    """
    dataset = spec(name)
    where = data_dir(override)
    if dataset.offline_builder is not None:
        with _quiet_tfds():
            return Path(_offline_builder(dataset, where).data_dir)
    try:
        import tensorflow  # noqa: F401  (tfds needs it to encode images while preparing)
    except ImportError:
        raise DatasetError(
            f'preparing {name!r} needs TensorFlow: pip install "amalg[prepare]"'
        ) from None
    import tensorflow_datasets as tfds

    builder = tfds.builder(dataset.tfds_name, data_dir=str(where))
    try:
        builder.download_and_prepare(file_format="array_record")
    except Exception as error:
        raise DatasetError(f"preparing {name!r} in {where} failed: {error}") from error
    return Path(builder.data_dir)
