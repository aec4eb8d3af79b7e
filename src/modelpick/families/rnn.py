"""Recurrent networks: simple RNN, LSTM (Hochreiter & Schmidhuber 1997), GRU (Cho et al. 2014);
stacked and bidirectional, over token embeddings or feature sequences."""

from __future__ import annotations

from typing import Literal

from ..graph import RNN, Dropout, Embedding, Graph, Node, SeqPool, seq
from .base import Depth, HParams, IOSpec, Unsupported, Width, head

# Past this many steps a recurrent net is slow to train and forgets (vanishing gradients,
# Bengio et al. 1994); we refuse rather than predict something nobody should train.
MAX_STEPS = 4096


class RNNParams(HParams):
    cell: Literal["simple", "lstm", "gru"] = "lstm"
    hidden: Width = 128
    layers: Depth = 1
    bidirectional: bool = False
    activation: Literal["tanh", "relu"] = "tanh"  # simple cells only
    embed_dim: Width = 64  # over tokens
    readout: Literal["last", "mean", "per_step"] = "last"


def build_graph(name: str, hp: RNNParams, io: IOSpec) -> Graph:
    if io.layout == "tokens":
        front: list[Node] = [Embedding(io.vocab_size, hp.embed_dim)]
    elif io.layout == "sequence":
        front = []
    elif io.layout == "waveform":
        raise Unsupported(
            f"a recurrent net over {io.shape[-1]:,} raw samples runs that many sequential steps; "
            "describe the audio as frames and mel_bins instead"
        )
    else:
        raise Unsupported(f"a recurrent net needs a sequence, not {io.layout} input")
    steps = io.shape[0]
    if steps > MAX_STEPS:
        raise Unsupported(
            f"{steps:,} steps is past {MAX_STEPS:,}, where recurrent nets stop learning well"
        )
    rnn = RNN(
        hp.cell,
        hp.hidden,
        hp.layers,
        hp.bidirectional,
        return_sequences=hp.readout != "last",
        activation=hp.activation,
    )
    nodes: list[Node] = [*front, rnn]
    if hp.readout == "mean":
        nodes.append(SeqPool("mean"))
    if hp.dropout:
        nodes.append(Dropout(hp.dropout))
    nodes += head(hp, io)
    notes = ()
    if hp.readout == "per_step":
        notes = ("outputs one prediction per time step (sequence labelling), as the seed does",)
    return Graph(
        name, io.shape, seq(*nodes), io.input_kind, io.vocab_size, notes, io.layout, io.task
    )
