"""Convolutional networks: plain conv stacks, ResNets (basic and bottleneck), 1-D conv nets.

ResNet follows torchvision's `resnet.py` (He et al. 2016, "Deep Residual Learning"; v1.5:
the stride sits on the 3×3 conv of a bottleneck), so that the canonical entries reproduce
torchvision's parameter counts exactly.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..graph import (
    Activation,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalPool,
    Graph,
    Node,
    Pool,
    Residual,
    SwapAxes,
    seq,
)
from .base import Depth, HParams, IOSpec, Kernel, Unsupported, Width, Widths, head


class CNNParams(HParams):
    kind: Literal["plain", "resnet", "conv1d"] = "plain"
    # plain and conv1d: one conv block per entry of `channels`, or `depth` blocks whose
    # width doubles from `width` (capped at 8× width).
    channels: Widths = ()
    width: Width = 32
    depth: Depth = 2
    kernel: Kernel = 3
    padding: Literal["same", "valid"] = "same"
    pool: Literal["none", "each", "last"] = "each"
    batch_norm: bool = True
    classifier: Literal["flatten", "global_avg"] = "global_avg"
    hidden: Widths = ()
    embed_dim: Width = 64  # conv1d over tokens
    # resnet
    block: Literal["basic", "bottleneck"] = "basic"
    layers: Annotated[tuple[Depth, ...], Field(min_length=1, max_length=100)] = (2, 2, 2, 2)
    stem: Literal["imagenet", "cifar", "auto"] = "auto"

    @property
    def conv_channels(self) -> tuple[int, ...]:
        """`channels`, or `depth` widths doubling from `width` (capped at 8×)."""
        if self.channels:
            return tuple(self.channels)
        return tuple(self.width * 2 ** min(i, 3) for i in range(self.depth))


def build_graph(name: str, hp: CNNParams, io: IOSpec) -> Graph:
    if hp.kind == "resnet":
        body = _resnet(hp, io)
    elif hp.kind == "plain":
        body = _plain(hp, io)
    else:
        body = _conv1d(hp, io)
    return Graph(
        name, io.shape, seq(*body), io.input_kind, io.vocab_size, layout=io.layout, task=io.task
    )


def _conv_block(ndim: int, filters: int, hp: CNNParams, pool: bool) -> list[Node]:
    nodes: list[Node] = [Conv(ndim, filters, hp.kernel, padding=hp.padding, bias=not hp.batch_norm)]
    if hp.batch_norm:
        nodes.append(BatchNorm())
    nodes.append(Activation("relu"))
    if pool:
        nodes.append(Pool(ndim, "max", 2))
    return nodes


def _stack(ndim: int, hp: CNNParams) -> list[Node]:
    nodes: list[Node] = []
    channels = hp.conv_channels
    last = len(channels) - 1
    for i, filters in enumerate(channels):
        pool = hp.pool == "each" or (hp.pool == "last" and i == last)
        nodes += _conv_block(ndim, filters, hp, pool)
    return nodes


def _classifier(hp: CNNParams, io: IOSpec) -> list[Node]:
    nodes: list[Node] = [Flatten() if hp.classifier == "flatten" else GlobalPool("avg")]
    for units in hp.hidden:
        nodes += [Dense(units), Activation("relu")]
    if hp.dropout:
        nodes.append(Dropout(hp.dropout))
    return nodes + head(hp, io)


def _plain(hp: CNNParams, io: IOSpec) -> list[Node]:
    if io.layout != "image":
        raise Unsupported(f"a 2-D conv stack needs an image, not {io.layout} input")
    return _stack(2, hp) + _classifier(hp, io)


def _conv1d(hp: CNNParams, io: IOSpec) -> list[Node]:
    if io.layout == "tokens":
        front: list[Node] = [Embedding(io.vocab_size, hp.embed_dim), SwapAxes()]
    elif io.layout == "sequence":
        front = [SwapAxes()]
    elif io.layout == "waveform":
        # M5-style front end for raw audio (Dai et al. 2017): a wide strided conv, then pool 4.
        front = [Conv(1, hp.conv_channels[0], 80, stride=4, bias=not hp.batch_norm)]
        front += [BatchNorm()] if hp.batch_norm else []
        front += [Activation("relu"), Pool(1, "max", 4)]
    else:
        raise Unsupported(f"a 1-D conv net needs a sequence or waveform, not {io.layout} input")
    return front + _stack(1, hp) + _classifier(hp, io)


# --- ResNet (torchvision layout) -------------------------------------------------------------


def _conv_bn(filters: int, kernel: int, stride: int = 1, relu: bool = True) -> list[Node]:
    nodes: list[Node] = [
        Conv(2, filters, kernel, stride=stride, padding=kernel // 2, bias=False),
        BatchNorm(),
    ]
    return nodes + [Activation("relu")] if relu else nodes


def _basic(in_ch: int, width: int, stride: int) -> tuple[Node, int]:
    out_ch = width
    body = seq(_conv_bn(width, 3, stride), _conv_bn(width, 3, 1, relu=False))
    return _residual(body, in_ch, out_ch, stride), out_ch


def _bottleneck(in_ch: int, width: int, stride: int) -> tuple[Node, int]:
    out_ch = width * 4
    body = seq(_conv_bn(width, 1), _conv_bn(width, 3, stride), _conv_bn(out_ch, 1, relu=False))
    return _residual(body, in_ch, out_ch, stride), out_ch


def _residual(body, in_ch: int, out_ch: int, stride: int) -> Node:
    shortcut = seq()
    if stride != 1 or in_ch != out_ch:
        shortcut = seq(_conv_bn(out_ch, 1, stride, relu=False))
    return seq(Residual(body, shortcut), Activation("relu"))


def _resnet(hp: CNNParams, io: IOSpec) -> list[Node]:
    if io.layout != "image":
        raise Unsupported(f"a ResNet needs an image, not {io.layout} input")
    stem = hp.stem
    if stem == "auto":
        # Small images lose everything to a 4× stem: CIFAR-style 3×3 stem below 96 px
        # (He et al. 2016, §4.2).
        stem = "imagenet" if min(io.shape[1:]) >= 96 else "cifar"
    if stem == "imagenet":
        nodes: list[Node] = _conv_bn(hp.width, 7, 2) + [Pool(2, "max", 3, 2, 1)]
    else:
        nodes = _conv_bn(hp.width, 3, 1)
    make = _basic if hp.block == "basic" else _bottleneck
    in_ch = hp.width
    for stage, blocks in enumerate(hp.layers):
        width = hp.width * 2**stage
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            block, in_ch = make(in_ch, width, stride)
            nodes.append(block)
    return (
        nodes + [GlobalPool("avg")] + ([Dropout(hp.dropout)] if hp.dropout else []) + head(hp, io)
    )
