"""Parameter counts held to the frameworks' own layers: the canonical source for "how many
parameters does this layer have in PyTorch / Keras". Skipped where a framework is absent;
CI installs both."""

from __future__ import annotations

import os

import pytest

from modelpick.graph import RNN, Attention, BatchNorm, Conv, Dense, Embedding, LayerNorm

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _torch_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


RNN_CASES = [
    # cell, input, hidden, layers, bidirectional
    ("simple", 12, 64, 1, False),
    ("lstm", 64, 64, 1, False),
    ("lstm", 128, 256, 2, False),
    ("gru", 40, 96, 2, True),
    ("lstm", 10, 20, 3, True),
]


@pytest.mark.parametrize("cell,i,h,layers,bi", RNN_CASES)
def test_rnn_params_equal_torch(cell, i, h, layers, bi):
    torch = pytest.importorskip("torch")
    cls = {"simple": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    module = cls(i, h, num_layers=layers, bidirectional=bi)
    assert RNN(cell, h, layers, bi).cost((7, i), "torch").params == _torch_count(module)


def test_other_layers_equal_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    assert Dense(10).cost((784,)).params == _torch_count(nn.Linear(784, 10))
    assert Conv(2, 64, 3, padding=1, bias=False).cost((32, 8, 8)).params == _torch_count(
        nn.Conv2d(32, 64, 3, padding=1, bias=False)
    )
    assert Conv(1, 16, 80, stride=4).cost((1, 400)).params == _torch_count(nn.Conv1d(1, 16, 80, 4))
    assert Attention(384, 6).cost((10, 384)).params == _torch_count(nn.MultiheadAttention(384, 6))
    assert LayerNorm().cost((5, 768)).params == _torch_count(nn.LayerNorm(768))
    bn = nn.BatchNorm2d(64)
    assert BatchNorm().cost((64, 4, 4)).params == _torch_count(bn)
    assert BatchNorm().cost((64, 4, 4)).buffers == bn.running_mean.numel() + bn.running_var.numel()
    assert Embedding(1000, 64).cost((20,)).params == _torch_count(nn.Embedding(1000, 64))


def _keras():
    pytest.importorskip("tensorflow")
    import keras

    return keras


@pytest.mark.parametrize("cell,i,h,layers,bi", RNN_CASES)
def test_rnn_params_equal_keras(cell, i, h, layers, bi):
    keras = _keras()
    cls = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[
        cell
    ]
    model = keras.Sequential([keras.Input((7, i))])
    for layer in range(layers):
        rnn = cls(h, return_sequences=layer < layers - 1)
        model.add(keras.layers.Bidirectional(rnn) if bi else rnn)
    assert RNN(cell, h, layers, bi).cost((7, i), "tensorflow").params == model.count_params()


def test_other_layers_equal_keras():
    keras = _keras()
    layers = keras.layers

    def count(inp, layer):
        model = keras.Sequential([keras.Input(inp), layer])
        return model.count_params()

    assert Dense(10).cost((784,), "tensorflow").params == count((784,), layers.Dense(10))
    assert Conv(2, 32, 3).cost((1, 28, 28), "tensorflow").params == count(
        (28, 28, 1), layers.Conv2D(32, 3)
    )
    assert LayerNorm().cost((5, 768), "tensorflow").params == count(
        (5, 768), layers.LayerNormalization()
    )
    assert Embedding(1000, 64).cost((20,), "tensorflow").params == count(
        (20,), layers.Embedding(1000, 64)
    )
    # Keras's count_params() includes BatchNorm's moving mean and variance: params + buffers.
    bn = BatchNorm().cost((64, 4, 4), "tensorflow")
    assert bn.params + bn.buffers == count((4, 4, 64), layers.BatchNormalization())

    inp = keras.Input((10, 384))
    out = layers.MultiHeadAttention(num_heads=6, key_dim=64)(inp, inp)
    mha = keras.Model(inp, out)
    assert Attention(384, 6).cost((10, 384), "tensorflow").params == mha.count_params()
