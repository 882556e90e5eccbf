import numpy as np
import pytest
from fixtures import decode_index, decode_label, tiny_cifar

from cifar_noise import StudyError
from cifar_noise.split import make_split


@pytest.fixture(scope="module")
def data():
    return tiny_cifar(train=500, test=120, seed=3)


def split(data, **kwargs):
    args = dict(train_size=200, test_set="rest", seed=1)
    args.update(kwargs)
    return make_split(data.train_images, data.train_labels, data.test_images, data.test_labels, **args)


def test_images_keep_their_labels(data):
    s = split(data)
    assert np.array_equal(decode_label(s.train_images), s.train_labels)
    assert np.array_equal(decode_label(s.test_images), s.test_labels)


def test_rest_split_uses_every_image_once(data):
    s = split(data)
    assert len(s.train_images) == 200 and len(s.test_images) == 500 - 200 + 120
    used = np.concatenate([decode_index(s.train_images), decode_index(s.test_images)])
    assert sorted(used.tolist()) == list(range(620))
    # the official test images come last, in their original order
    assert np.array_equal(decode_index(s.test_images[-120:]), np.arange(500, 620))


def test_train_images_are_a_seeded_random_subset(data):
    a, b, c = split(data), split(data), split(data, seed=2)
    assert np.array_equal(a.train_images, b.train_images)
    assert not np.array_equal(a.train_images, c.train_images)
    assert not np.array_equal(decode_index(a.train_images), np.arange(200))  # shuffled, not the first 200


def test_official_split_and_test_size(data):
    s = split(data, test_set="official")
    assert np.array_equal(decode_index(s.test_images), np.arange(500, 620))
    small = split(data, test_set="official", test_size=50)
    assert len(small.test_images) == 50
    idx = decode_index(small.test_images)
    assert np.all(np.diff(idx) > 0) and set(idx) <= set(range(500, 620))
    assert np.array_equal(decode_label(small.test_images), small.test_labels)


def test_bad_sizes_are_refused(data):
    with pytest.raises(StudyError, match="train_size 501"):
        split(data, train_size=501)
    with pytest.raises(StudyError, match="test_size 121"):
        split(data, test_set="official", test_size=121)
    with pytest.raises(StudyError, match="test_set"):
        split(data, test_set="all")


def test_unpaired_shuffle_reproduces_the_notebooks_bug(data):
    paired, unpaired = split(data), split(data, shuffle="unpaired")
    # the same images, but their labels belong to other images
    assert np.array_equal(paired.train_images, unpaired.train_images)
    assert (decode_label(unpaired.train_images) == unpaired.train_labels).mean() < 0.3
    assert sorted(unpaired.train_labels.tolist() + unpaired.test_labels[:300].tolist()) == sorted(
        data.train_labels.tolist()
    )
    # the official test images keep their true labels, as in the notebook
    assert np.array_equal(decode_label(unpaired.test_images[-120:]), unpaired.test_labels[-120:])
