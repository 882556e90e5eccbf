import numpy as np
import pytest
from fixtures import decode_index, decode_label, labelled_images, write_shards

from cifar_noise.fileio import npy_layout, save_npy
from cifar_noise.shards import NpyRows, TrainingImages, build_shard, shard_count, shard_rows


def test_shard_count_and_rows():
    assert shard_count(100, 1, 30) == 0
    assert shard_count(100, 4, 30) == 10  # 300 perturbed images
    assert shard_rows(9, 100, 4, 30) == range(270, 300)
    assert shard_rows(3, 100, 2, 30) == range(90, 100)  # the last shard may be short
    with pytest.raises(ValueError):
        shard_rows(4, 100, 2, 30)


@pytest.fixture
def trial(tmp_path):
    """100 originals enlarged x4 with noise 'none' (exact copies), in shards of 70 images."""
    images, labels = labelled_images(100, seed=5)
    save_npy(tmp_path / "train_images.npy", images)
    paths = write_shards(tmp_path, images, enlarge=4, shard_size=70, noise_seed=1)
    return tmp_path, images, labels, paths


def test_every_global_index_reads_the_right_copy_and_label(trial):
    folder, images, labels, paths = trial
    data = TrainingImages(folder / "train_images.npy", labels, paths, shard_size=70)
    assert len(data) == 400 and data.enlarge == 4
    order = np.random.default_rng(0).permutation(400)
    got, got_labels = data.read(order)
    assert np.array_equal(decode_index(got), order % 100)
    assert np.array_equal(got_labels, labels[order % 100])
    assert np.array_equal(decode_label(got), got_labels)


def test_noisy_shards_keep_labels_and_differ_per_copy(tmp_path):
    images, labels = labelled_images(60, seed=6)
    save_npy(tmp_path / "train_images.npy", images)
    paths = write_shards(
        tmp_path, images, 3, 50, "regional", {"patches": 3, "patch_size": 5, "amplitude": 25.0}, noise_seed=2
    )
    data = TrainingImages(tmp_path / "train_images.npy", labels, paths, shard_size=50)
    got, got_labels = data.read(np.arange(180))
    assert np.array_equal(decode_label(got), got_labels)
    copy1, copy2 = got[60:120], got[120:180]
    assert not np.array_equal(copy1, images) and not np.array_equal(copy1, copy2)
    assert np.abs(copy1.astype(int) - images).max() <= 75


def test_a_shard_rebuilt_alone_is_byte_identical(tmp_path):
    images, _ = labelled_images(100, seed=5)
    gaussian = ("gaussian", {"sigma": 20.0})
    paths = write_shards(tmp_path, images, 4, 70, *gaussian, noise_seed=3)
    written = np.load(paths[2])
    for threads in (1, 2):
        assert np.array_equal(build_shard(images, 2, 4, 70, *gaussian, noise_seed=3, threads=threads), written)
    # shard 2's first 40 rows and shard 3's rows 30..69 are other copies of the same originals
    # (40..79): they must carry other noise
    assert [r % 100 for r in shard_rows(2, 100, 4, 70)[:40]] == [r % 100 for r in shard_rows(3, 100, 4, 70)[30:70]]
    assert not np.array_equal(np.load(paths[3])[30:70], written[:40])


@pytest.mark.fault(kind="truncated file", real=True)
def test_truncated_shard_is_rejected(trial):
    folder, *_, paths = trial
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[:-100])
    with pytest.raises(ValueError, match="truncated"):
        npy_layout(paths[0])
    with pytest.raises(ValueError, match="truncated"):
        NpyRows(paths[0])


def test_read_range_and_rows(trial):
    folder, images, *_ = trial
    rows = NpyRows(folder / "train_images.npy")
    assert np.array_equal(rows.read_range(10, 20), images[10:20])
    pick = np.array([5, 99, 0, 6, 7, 50])
    assert np.array_equal(rows.read_rows(pick), images[pick])
    rows.close()


def test_unclipped_shards_are_int16_and_read_beside_uint8_originals(tmp_path):
    images, labels = labelled_images(60, seed=7)
    save_npy(tmp_path / "train_images.npy", images)
    sigma = {"sigma": 40.0}
    unclipped = build_shard(images, 0, 3, 120, "gaussian", sigma, noise_seed=4, clip=False)
    clipped = build_shard(images, 0, 3, 120, "gaussian", sigma, noise_seed=4)
    assert unclipped.dtype == np.int16 and clipped.dtype == np.uint8
    assert unclipped.min() < 0 and unclipped.max() > 255  # the notebook's values, beyond 0..255
    assert np.array_equal(np.clip(unclipped, 0, 255), clipped)  # the same draws, clipped or not
    save_npy(tmp_path / "shard-0000.npy", unclipped)
    data = TrainingImages(tmp_path / "train_images.npy", labels, [tmp_path / "shard-0000.npy"], shard_size=120)
    order = np.random.default_rng(1).permutation(180)
    got, got_labels = data.read(order)
    expected = np.concatenate([images.astype(np.int16), unclipped])[order]
    assert got.dtype == np.int16 and np.array_equal(got, expected)
    assert np.array_equal(got_labels, labels[order % 60])
    only_originals, _ = data.read(np.arange(10))
    assert np.array_equal(only_originals, images[:10])
