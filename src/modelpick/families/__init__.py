"""Architecture families: hyperparameters + an IOSpec -> Graph. One module per family."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..graph import Graph
from . import cnn, decoder, mlp, rnn, transformer
from .base import HParams, IOSpec, Unsupported


class Family(NamedTuple):
    name: str
    params: type[HParams]
    build: Callable[[str, HParams, IOSpec], Graph]
    summary: str


FAMILIES: dict[str, Family] = {
    "cnn": Family("cnn", cnn.CNNParams, cnn.build_graph, "convolutional network"),
    "rnn": Family("rnn", rnn.RNNParams, rnn.build_graph, "recurrent network (RNN, LSTM, GRU)"),
    "transformer": Family(
        "transformer", transformer.TransformerParams, transformer.build_graph, "transformer encoder"
    ),
    "mlp": Family("mlp", mlp.MLPParams, mlp.build_graph, "multi-layer perceptron"),
    "decoder": Family(
        "decoder",
        decoder.DecoderParams,
        decoder.build_graph,
        "decoder-only language model (GPT-2, Llama, Mistral, Mixtral style)",
    ),
}


def build_graph(family: str, name: str, hparams: HParams, io: IOSpec) -> Graph:
    """Build the Graph of one architecture of `family` for the task `io`."""
    return FAMILIES[family].build(name, hparams, io)


__all__ = ["FAMILIES", "Family", "HParams", "IOSpec", "Unsupported", "build_graph"]
