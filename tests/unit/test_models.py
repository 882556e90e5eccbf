"""Both architectures against the notebook's definitions, layer by layer, with parameter counts
computed by hand."""

import pytest

from cifar_noise.models import ARCHITECTURES, build_model


def conv(filters_in, filters_out):
    return 3 * 3 * filters_in * filters_out + filters_out


def dense(units_in, units_out):
    return units_in * units_out + units_out


# (layer class, output shape without the batch, parameters, activation, initializer)
EXPECTED = {
    # Conv64-Conv64-MaxPool-Flatten-Dense128(relu, l2)-Dense30(relu)-Dense10(softmax), glorot
    "seed_a": [
        ("Conv2D", (32, 32, 64), conv(3, 64), "relu", "GlorotUniform"),
        ("Conv2D", (32, 32, 64), conv(64, 64), "relu", "GlorotUniform"),
        ("MaxPooling2D", (16, 16, 64), 0, None, None),
        ("Flatten", (16384,), 0, None, None),
        ("Dense", (128,), dense(16384, 128), "relu", "GlorotUniform"),
        ("Dense", (30,), dense(128, 30), "relu", "GlorotUniform"),
        ("Dense", (10,), dense(30, 10), "softmax", "GlorotUniform"),
    ],
    # Conv32-Conv32-Pool-Conv64-Conv64-Pool-Flatten-Dense128-Dense10, he_uniform (the output layer
    # keeps Keras's default, as in the notebook)
    "seed_b": [
        ("Conv2D", (32, 32, 32), conv(3, 32), "relu", "HeUniform"),
        ("Conv2D", (32, 32, 32), conv(32, 32), "relu", "HeUniform"),
        ("MaxPooling2D", (16, 16, 32), 0, None, None),
        ("Conv2D", (16, 16, 64), conv(32, 64), "relu", "HeUniform"),
        ("Conv2D", (16, 16, 64), conv(64, 64), "relu", "HeUniform"),
        ("MaxPooling2D", (8, 8, 64), 0, None, None),
        ("Flatten", (4096,), 0, None, None),
        ("Dense", (128,), dense(4096, 128), "relu", "HeUniform"),
        ("Dense", (10,), dense(128, 10), "softmax", "GlorotUniform"),
    ],
}
TOTALS = {"seed_a": 2_140_180, "seed_b": 591_274}  # the sums of the rows above, by hand


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_architecture_matches_the_notebook(architecture):
    model = build_model(architecture, seed=1)
    found = []
    for layer in model.layers:
        activation = getattr(layer, "activation", None)
        initializer = getattr(layer, "kernel_initializer", None)
        found.append(
            (
                type(layer).__name__,
                tuple(layer.output.shape[1:]),
                layer.count_params(),
                activation.__name__ if activation else None,
                type(initializer).__name__ if initializer else None,
            )
        )
    assert found == EXPECTED[architecture]
    assert model.count_params() == TOTALS[architecture] == sum(row[2] for row in EXPECTED[architecture])
    assert model.loss == "categorical_crossentropy" and type(model.optimizer).__name__ == "Adam"


def test_seed_a_has_the_l2_penalty_on_its_first_dense_layer_only():
    model = build_model("seed_a", seed=1)
    regularised = [layer.name for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    assert regularised == [model.layers[4].name]


def test_bfloat16_computes_in_bfloat16_and_keeps_float32_weights_and_probabilities(tmp_path):
    import keras
    import numpy as np

    model = build_model("seed_a", seed=1, precision="bfloat16")
    assert [layer.dtype_policy.name for layer in model.layers] == ["mixed_bfloat16"] * 6 + ["float32"]
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    assert keras.config.dtype_policy().name == "float32"  # the default is left as it was
    x = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(8)]
    loss, _ = model.train_on_batch(x, y)
    assert np.isfinite(loss) and model.predict_on_batch(x).dtype == np.float32
    model.save(tmp_path / "model.keras")  # an evaluation job loads it with its policies
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert [layer.dtype_policy.name for layer in loaded.layers] == [layer.dtype_policy.name for layer in model.layers]
    assert build_model("seed_a", seed=1).layers[0].dtype_policy.name == "float32"
    with pytest.raises(ValueError, match="unknown precision"):
        build_model("seed_a", seed=1, precision="float16")


def test_flops_per_image_counts_the_multiply_adds_of_the_layers():
    from cifar_noise.models import flops_per_image

    seed_a = 32 * 32 * 9 * 3 * 64 + 32 * 32 * 9 * 64 * 64 + 16384 * 128 + 128 * 30 + 30 * 10  # by hand
    seed_b = 32 * 32 * 9 * (3 * 32 + 32 * 32) + 16 * 16 * 9 * (32 * 64 + 64 * 64) + 4096 * 128 + 128 * 10
    assert flops_per_image("seed_a") == 6 * seed_a
    assert flops_per_image("seed_b") == 6 * seed_b
