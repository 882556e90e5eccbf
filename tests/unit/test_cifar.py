import io
import pickle
import tarfile

import numpy as np
import pytest
from fixtures import tiny_cifar

from cifar_noise import StudyError
from cifar_noise.cifar import read_archive


def test_round_trip_of_a_tiny_archive(tiny_archive):
    path, _ = tiny_archive
    data = read_archive(path)
    expected = tiny_cifar()
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert np.array_equal(getattr(data, name), getattr(expected, name))
    assert data.train_images.dtype == np.uint8 and data.train_images.shape == (300, 32, 32, 3)


@pytest.mark.fault(kind="bad archive", real=True)
def test_truncated_archive(tmp_path, tiny_archive):
    path, _ = tiny_archive
    short = tmp_path / "short.tar.gz"
    short.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(StudyError, match="truncated"):
        read_archive(short)


def _tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


@pytest.mark.fault(kind="bad archive", real=True)
def test_archive_without_cifar_batches(tmp_path):
    path = tmp_path / "other.tar.gz"
    _tar(path, {"photos/cat.jpg": b"not a cifar file"})
    with pytest.raises(StudyError, match="not a CIFAR-10 python archive.*missing"):
        read_archive(path)


@pytest.mark.fault(kind="bad archive", real=True)
def test_not_an_archive_at_all(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html>404</html>")
    with pytest.raises(StudyError, match="truncated or not a .tar.gz"):
        read_archive(path)


@pytest.mark.fault(kind="bad archive", real=True)
def test_missing_file(tmp_path):
    with pytest.raises(StudyError, match="does not exist"):
        read_archive(tmp_path / "nope.tar.gz")


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.fault(kind="bad archive", real=True)
def test_pickles_that_would_run_code_are_refused(tmp_path):
    members = {f"cifar-10-batches-py/data_batch_{i}": pickle.dumps({b"data": _Exploit()}) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = pickle.dumps({})
    path = tmp_path / "evil.tar.gz"
    _tar(path, members)
    with pytest.raises(StudyError, match="refusing to load builtins.print"):
        read_archive(path)


@pytest.mark.fault(kind="bad archive", real=True)
def test_wrong_shapes_are_refused(tmp_path):
    bad = pickle.dumps({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, protocol=2)
    members = {f"cifar-10-batches-py/data_batch_{i}": bad for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = bad
    path = tmp_path / "bad.tar.gz"
    _tar(path, members)
    with pytest.raises(StudyError, match="shape"):
        read_archive(path)


def _archive_of(tmp_path, data: np.ndarray, labels):
    """A CIFAR-format archive whose every batch holds ``data`` and ``labels`` (valid pickles)."""
    batch = pickle.dumps({b"data": data, b"labels": labels}, protocol=2)
    members = {f"cifar-10-batches-py/data_batch_{i}": batch for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch
    path = tmp_path / "archive.tar.gz"
    _tar(path, members)
    return path


@pytest.mark.parametrize("labels", [[0, 1, 10, 3], [0, -1, 2, 3], [0, 1, 2, 255]])
@pytest.mark.fault(kind="bad archive", real=True)
def test_labels_outside_0_to_9_are_refused(tmp_path, labels):
    path = _archive_of(tmp_path, np.zeros((4, 3072), np.uint8), labels)
    with pytest.raises(StudyError, match="has labels outside 0..9"):
        read_archive(path)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint16])
@pytest.mark.fault(kind="bad archive", real=True)
def test_images_of_another_dtype_are_refused(tmp_path, dtype):
    path = _archive_of(tmp_path, np.zeros((4, 3072), dtype), [0, 1, 2, 3])
    with pytest.raises(StudyError, match=f"data has shape \\(4, 3072\\) and dtype {np.dtype(dtype).name}"):
        read_archive(path)
