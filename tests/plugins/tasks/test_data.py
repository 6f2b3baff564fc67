"""The dataset layer: tfds array_record sources held in memory, fast failure when a dataset
is not prepared, the offline digits builder."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import amalg
from amalg.plugins.tasks import data
from amalg.testing.plugin import MOCK_EXAMPLES


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("mnist", (1, 28, 28)),
        ("fashion_mnist", (1, 28, 28)),
        ("kmnist", (1, 28, 28)),
        ("cifar10", (3, 32, 32)),
        ("svhn_cropped", (3, 32, 32)),
    ],
)
def test_tfds_splits_load_into_memory_with_their_shapes(mocked_datasets, name, shape):
    train, validation = data.load(name, "train"), data.load(name, "validation")
    test = data.load(name, "test")
    assert len(train) + len(validation) == MOCK_EXAMPLES and len(test) == MOCK_EXAMPLES
    assert len(validation) == round(MOCK_EXAMPLES * 0.1)
    for split in (train, validation, test):
        assert split.images.dtype == torch.uint8 and tuple(split.images.shape[1:]) == shape
        assert split.labels.dtype == torch.int64
        assert ((split.labels >= 0) & (split.labels < 10)).all()


def test_an_unprepared_dataset_fails_at_once_with_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AMALG_DATA_DIR", str(tmp_path))
    task = amalg.create("task", "train")
    started = time.perf_counter()
    with pytest.raises(data.DatasetNotPreparedError) as caught:
        task.batch_at("train", seed=0, index=0)
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "\n" not in message
    for part in (
        "'mnist'",
        str(tmp_path),
        "amalg data prepare mnist",
        "amalg[prepare]",
        "AMALG_DATA_DIR",
    ):
        assert part in message
    assert not data.is_prepared("mnist")


def test_mnist_dp_reads_kmnist_when_asked(mocked_datasets):
    task = amalg.create("task", "mnist_dp", dataset="kmnist")
    assert task.dataset_name == "kmnist"
    assert task.split("test") is data.load("kmnist", "test")
    assert amalg.create("task", "mnist_dp").split("test") is data.load("mnist", "test")


def test_digits_are_prepared_offline_with_fixed_splits():
    sizes = {split: len(data.load("digits", split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 1285, "validation": 256, "test": 256}
    train = data.load("digits", "train")
    assert int(train.images.max()) == 16 and set(train.labels.tolist()) == set(range(10))
    task = amalg.create("task", "digits_cnn")
    inputs, _ = task.batch_at("train", 0, 0)
    assert inputs.shape == (128, 1, 8, 8) and inputs.min() >= 0.0 and inputs.max() <= 1.0


def test_digits_splits_do_not_overlap():
    from amalg.plugins.tasks.digits_builder import split_indices

    parts = [set(split_indices(1797, split)) for split in ("train", "validation", "test")]
    assert sum(len(part) for part in parts) == 1797 and len(set().union(*parts)) == 1797


def test_png_encoded_images_load_without_tensorflow(monkeypatch, tmp_path):
    """Prepared MNIST stores PNG bytes; amalg decodes them through tfds' NumPy path (Pillow),
    with TensorFlow out of reach."""
    from PIL import Image
    from tensorflow_datasets import features

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    image = features.Image(shape=(28, 28, 1))

    def encoded(index: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels[index]).save(buffer, format="PNG")
        return buffer.getvalue()

    class Source:  # what tfds.data_source returns: decoded examples by index
        def __len__(self) -> int:
            return 3

        def __getitem__(self, index: int) -> dict:
            return {"image": image.decode_example_np(encoded(index)), "label": index}

    monkeypatch.setattr(data, "_source", lambda dataset, split, where: Source())
    loaded = data._read("mnist", "test", tmp_path)
    assert loaded.images.shape == (3, 1, 28, 28)
    assert torch.equal(loaded.images[:, 0], torch.from_numpy(pixels))
    assert loaded.labels.tolist() == [0, 1, 2]


def test_data_prepared_in_another_format_is_named_in_the_error(tmp_path):
    error = data.DatasetNotPreparedError("mnist", tmp_path, ("tfrecord",))
    assert "is prepared as tfrecord, not array_record," in str(error)
    assert "amalg data prepare mnist" in str(error)


def test_batches_of_an_epoch_are_disjoint_and_cover_the_permutation():
    task = amalg.create("task", "digits_cnn", batch_size=100)
    per_epoch = task.batches_per_epoch("train")
    assert per_epoch == 1285 // 100
    whole = task.split("train")
    seen = []
    for index in range(per_epoch):
        inputs, labels = task.batch_at("train", 3, index)
        assert inputs.shape[0] == 100
        seen.append(labels)
    order = task._permutation("train", 3, 0)[: per_epoch * 100]
    assert torch.equal(torch.cat(seen), whole.labels[order])
    assert len(set(order.tolist())) == per_epoch * 100


def test_negative_seeds_or_indices_are_refused():
    task = amalg.create("task", "digits_cnn")
    with pytest.raises(ValueError, match="must be >= 0"):
        task.batch_at("train", -1, 0)


def test_preparing_a_download_without_tensorflow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow -> ImportError
    with pytest.raises(
        data.DatasetError, match=r'needs TensorFlow: pip install "amalg\[prepare\]"'
    ):
        data.prepare("cifar10", tmp_path)


def test_the_data_dir_is_the_override_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AMALG_DATA_DIR", str(tmp_path / "env"))
    assert data.data_dir() == tmp_path / "env"
    assert data.data_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("AMALG_DATA_DIR")
    assert data.data_dir() == Path("~/tensorflow_datasets").expanduser()


def test_processes_preparing_digits_at_once_agree(tmp_path):
    import subprocess

    code = (
        "import sys; from amalg.plugins.tasks import data; "
        "print(len(data.load('digits', 'test', sys.argv[1])))"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    assert [run.communicate(timeout=120)[0].strip() for run in runs] == ["256", "256"]
    assert all(run.returncode == 0 for run in runs)
