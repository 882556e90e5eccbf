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
