import numpy as np
import pytest
from fixtures import decode_index, decode_label, labelled_images, write_shards

from cifar_noise.evaluation import evaluate
from cifar_noise.fileio import save_npy
from cifar_noise.loops import BatchStream, epoch_order
from cifar_noise.shards import NpyRows, TrainingImages
from cifar_noise.train import _history_csv


@pytest.fixture
def training_images(tmp_path):
    images, labels = labelled_images(90, seed=7)
    save_npy(tmp_path / "train.npy", images)
    shards = write_shards(tmp_path, images, enlarge=2, shard_size=50)
    return TrainingImages(tmp_path / "train.npy", labels, shards, shard_size=50), images, labels


def test_an_epoch_visits_every_image_once_with_its_label(training_images):
    data, images, labels = training_images
    stream = BatchStream(data, batch_size=32, seed=3, scale=True)
    assert stream.steps() == 6
    xs, ys = zip(*stream.epoch(0), strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert [len(b) for b in xs] == [32] * 5 + [20]
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    pixels = np.rint(x * 255).astype(np.uint8)
    assert np.array_equal(decode_label(pixels), y.argmax(axis=1))
    assert sorted(decode_index(pixels).tolist()) == sorted(list(range(90)) * 2)
    assert np.array_equal(pixels[np.argsort(epoch_order(180, 3, 0))][:90], images)


def test_epoch_order_depends_on_seed_and_epoch_only():
    assert np.array_equal(epoch_order(1000, 1, 4), epoch_order(1000, 1, 4))
    assert not np.array_equal(epoch_order(1000, 1, 4), epoch_order(1000, 1, 5))
    assert not np.array_equal(epoch_order(1000, 1, 4), epoch_order(1000, 2, 4))


def test_raw_inputs_stay_on_the_0_255_scale(training_images):
    data, *_ = training_images
    x, _ = next(BatchStream(data, batch_size=10, seed=1, scale=False).epoch(0))
    assert x.max() > 1 and np.array_equal(x, np.rint(x))


def test_a_reading_error_reaches_the_training_loop(training_images):
    data, *_ = training_images
    data.shards[1].close()  # reads from this shard now fail
    with pytest.raises(OSError):
        for _ in BatchStream(data, batch_size=16, seed=1, scale=True).epoch(0):
            pass


class _Oracle:
    """A 'model' that reads the label from the pixels, wrong for class 9."""

    losses = []  # no regularisation terms (evaluate adds model.losses to the test loss)

    def predict_on_batch(self, x):
        labels = decode_label(np.rint(x * 255).astype(np.uint8))
        labels[labels == 9] = 0
        probs = np.full((len(x), 10), 0.01, np.float32)
        probs[np.arange(len(x)), labels] = 0.91
        return probs


def test_evaluate_accuracy_per_class_and_loss(tmp_path):
    images, labels = labelled_images(100, seed=8)
    save_npy(tmp_path / "test.npy", images)
    result = evaluate(_Oracle(), NpyRows(tmp_path / "test.npy"), labels, batch_size=30, scale=True)
    assert result["accuracy"] == pytest.approx(0.9)
    assert result["per_class_accuracy"]["truck"] == 0 and result["per_class_accuracy"]["cat"] == 1
    confusion = np.array(result["confusion_matrix"])
    assert confusion.sum() == 100 and confusion[9, 0] == 10
    expected = -(0.9 * np.log(0.91) + 0.1 * np.log(0.01))
    assert result["loss"] == pytest.approx(expected, rel=1e-6)


def test_history_columns_keep_their_order_after_a_resume():
    row = {"epoch": 1, "loss": 2.0, "accuracy": 0.5, "images": 10, "seconds": 1.0, "images_per_second": 10.0}
    resumed = dict(sorted(row.items()))  # a checkpoint's rows come back from JSON with sorted keys
    assert _history_csv([resumed]) == _history_csv([row])
    assert _history_csv([row]).splitlines()[0] == "epoch,loss,accuracy,images,seconds,images_per_second"
