"""Reading the CIFAR-10 "python version" archive into uint8 arrays.

The archive is a .tar.gz holding ``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and
``batches.meta``: pickled dicts with ``data`` (N x 3072 uint8, 1024 R then G then B values,
row-major) and ``labels`` (N ints). Images come out as (N, 32, 32, 3) uint8 (NHWC, as Keras
wants them) and labels as (N,) uint8.

The pickles are read with an unpickler that only admits the handful of numpy globals the
format needs, so a hostile archive cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass

import numpy as np

from . import StudyError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
NUM_CLASSES = 10
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_BYTES = 32 * 32 * 3

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


def to_inputs(images, scale: bool):
    """The model's float32 inputs from uint8 (or int16) images, on the host (numpy) or the device (jax) alike."""
    x = images.astype(np.float32)
    return x * np.float32(1.0 / 255.0) if scale else x


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


@dataclass
class Cifar10:
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def _not_cifar(archive, why: str) -> StudyError:
    return StudyError(
        f"{archive} is not a CIFAR-10 python archive ({why}); "
        "download cifar-10-python.tar.gz again or point data.archive at a good copy"
    )


def _decode_batch(archive, name: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # any unpickling problem means the file is not what we expect
        raise _not_cifar(archive, f"{name} cannot be unpickled: {exc}") from None
    if not isinstance(batch, dict):
        raise _not_cifar(archive, f"{name} is not a dict")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise _not_cifar(archive, f"{name} has no data/labels")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise _not_cifar(archive, f"{name} data has shape {data.shape} and dtype {data.dtype}")
    if labels.shape != (data.shape[0],):
        raise _not_cifar(archive, f"{name} has {labels.shape} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise _not_cifar(archive, f"{name} has labels outside 0..9")
    # 1024 R, 1024 G, 1024 B values per row -> (N, 3, 32, 32) -> NHWC
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels.astype(np.uint8)


def read_archive(archive: str | os.PathLike) -> Cifar10:
    """Read a CIFAR-10 python archive; raise StudyError with advice if it is unusable."""
    if not os.path.exists(archive):
        raise StudyError(f"archive {archive} does not exist; check data.archive in your config")
    if not os.access(archive, os.R_OK) or os.path.isdir(archive):
        raise StudyError(f"archive {archive} is not a readable file; check its path and permissions")
    wanted = {f"{FOLDER}/{name}" for name in (*TRAIN_BATCHES, TEST_BATCH)}
    raw: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    raw[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise StudyError(
            f"{archive} is truncated or not a .tar.gz archive ({exc}); "
            "delete it and download again, or point data.archive at a complete copy"
        ) from None
    missing = sorted(wanted - raw.keys())
    if missing:
        raise _not_cifar(archive, "missing " + ", ".join(missing))

    def decode(names):
        parts = [_decode_batch(archive, n, raw[f"{FOLDER}/{n}"]) for n in names]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    train_images, train_labels = decode(TRAIN_BATCHES)
    test_images, test_labels = decode((TEST_BATCH,))
    return Cifar10(train_images, train_labels, test_images, test_labels)


def write_archive(path: str | os.PathLike, data: Cifar10, batches: int = 5) -> None:
    """Write arrays as a CIFAR-10 python archive (used by tests to build tiny fixtures).

    The training images are cut into ``batches`` consecutive batches, as in the real file.
    """

    def pickled(images, labels, label):
        flat = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), IMAGE_BYTES)
        return pickle.dumps(
            {b"batch_label": label.encode(), b"labels": [int(v) for v in labels], b"data": flat},
            protocol=2,
        )

    def add(tar, name, payload):
        info = tarfile.TarInfo(f"{FOLDER}/{name}")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))

    with tarfile.open(path, "w:gz") as tar:
        chunks = np.array_split(np.arange(len(data.train_images)), batches)
        for i, (name, idx) in enumerate(zip(TRAIN_BATCHES, chunks, strict=True), start=1):
            add(tar, name, pickled(data.train_images[idx], data.train_labels[idx], f"training batch {i} of 5"))
        add(tar, TEST_BATCH, pickled(data.test_images, data.test_labels, "testing batch 1 of 1"))
        meta = {b"label_names": [n.encode() for n in CLASS_NAMES], b"num_vis": IMAGE_BYTES}
        add(tar, META, pickle.dumps(meta, protocol=2))
