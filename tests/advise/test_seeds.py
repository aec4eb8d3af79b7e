"""The seed systems, written as the seed documents write them (in their own framework), hold
the catalog's `seed-*` graphs to the framework's parameter count."""

from __future__ import annotations

import os

import pytest

from modelpick.advise.catalog import build_for, load_catalog, reference_io
from modelpick.families import IOSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
CATALOG = load_catalog()


def _params(name: str, backend: str, io: IOSpec | None = None) -> int:
    arch = CATALOG.get(name)
    return build_for(arch, io or reference_io(arch), backend).cost.params


def test_seed_cnn_matches_the_seed_pytorch_model():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class CNNModel(nn.Module):  # seed 000 §4.1
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = nn.Linear(64 * 28 * 28, 100)
            self.fc2 = nn.Linear(100, 10)

    model = CNNModel()
    assert _params("seed-cnn", "torch") == sum(p.numel() for p in model.parameters())


def test_seed_linear_matches_the_seed_pytorch_model():
    torch = pytest.importorskip("torch")
    assert _params("seed-linear", "torch") == sum(
        p.numel() for p in torch.nn.Linear(1, 1).parameters()
    )


def _keras():
    pytest.importorskip("tensorflow")
    import keras

    return keras


def test_seed_keras_cnn_matches_the_seed_keras_model():
    keras = _keras()
    L = keras.layers
    model = keras.Sequential(
        [  # seed 002 §4.1
            keras.Input((28, 28, 1)),
            L.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            L.MaxPooling2D(pool_size=(2, 2)),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )
    assert _params("seed-keras-cnn", "tensorflow") == model.count_params()


def test_seed_lstm_matches_the_seed_keras_model():
    keras = _keras()
    L = keras.layers
    model = keras.Sequential(
        [  # seed 002 §4.2
            keras.Input((20,)),
            L.Embedding(1000, 64),
            L.LSTM(64),
            L.Dense(1, activation="sigmoid"),
        ]
    )
    io = IOSpec("text", "classification", "tokens", (20,), 2, vocab_size=1000)
    assert _params("seed-lstm", "tensorflow", io) == model.count_params()


def test_seed_rnn_matches_the_seed_keras_model():
    keras = _keras()
    L = keras.layers
    model = keras.Sequential(
        [  # seed 000 §4.2: SimpleRNN(64, relu, return_sequences) + Dense 10
            keras.Input((50, 8)),
            L.SimpleRNN(units=64, activation="relu", return_sequences=True),
            L.Dense(units=10, activation="softmax"),
        ]
    )
    io = IOSpec("timeseries", "classification", "sequence", (50, 8), 10)
    assert _params("seed-rnn", "tensorflow", io) == model.count_params()
    assert build_for(CATALOG.get("seed-rnn"), io).cost.output_shape == (50, 10)


def test_seed_mlp_matches_a_keras_2_4_1_network():
    keras = _keras()
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((2,)),
            L.Dense(4, activation="sigmoid"),
            L.Dense(1, activation="sigmoid"),
        ]
    )
    assert _params("seed-mlp", "tensorflow") == model.count_params()
