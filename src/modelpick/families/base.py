"""What every family shares: the task's input/output spec, the output head, the hparam base."""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from ..graph import Activation, Dense, Node, Shape


class Unsupported(ValueError):
    """This family cannot serve this input; the message says why (shown as a rejection reason)."""


class IOSpec(NamedTuple):
    """The model's view of a task: input tensor (batch excluded) and output size.

    layout: "image" (C, H, W) | "waveform" (1, samples) | "sequence" (L, features) |
    "tokens" (L,) | "vector" (features,).
    """

    domain: str
    task: str  # classification | regression
    layout: str
    shape: Shape
    outputs: int
    vocab_size: int = 0
    frame: int = 0  # waveform: samples per frame (20 ms), for frame/patch encoders

    @property
    def input_kind(self) -> str:
        return "tokens" if self.layout == "tokens" else "float"


# Bounds on hyperparameters: far above any model anyone trains (a width of 2**20, 10,000
# layers), far below what would make modelpick itself run out of memory or time building the
# graph. A catalog with `depth: 9223372036854775807` is refused by validation, not by running.
Width = Annotated[int, Field(ge=1, le=2**20)]  # channels, units, embedding sizes
Depth = Annotated[int, Field(ge=1, le=10_000)]  # layers, blocks
Kernel = Annotated[int, Field(ge=1, le=4096)]  # kernel and patch sizes
Auto = Annotated[int, Field(ge=0, le=2**20)]  # 0 = chosen by the family
Widths = Annotated[tuple[Width, ...], Field(max_length=10_000)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class HParams(BaseModel):
    """Base of each family's hyperparameters: unknown keys are errors, like the profile."""

    # defer_build: the shipped catalog is trusted and built with model_construct (start-up
    # time); a user's catalog is validated, which builds the schema on first use.
    # strict: `width: "8"` or `width: true` is an error, as in the profile (validation passes
    # lists as tuples, see catalog._tuples).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, strict=True)

    # The head. Logits by default: the loss applies softmax/sigmoid. Seeds that end in an
    # explicit softmax or sigmoid say so, so that their graph is the seed's model.
    output_activation: Literal["none", "softmax", "sigmoid"] = "none"
    binary_unit: bool = False  # two classes as one sigmoid unit (the seeds' Dense(1, sigmoid))
    dropout: Fraction = 0.0


def head(hp: HParams, io: IOSpec) -> list[Node]:
    """The final Dense layer (and its activation) for the task."""
    units = io.outputs
    if hp.binary_unit:
        if io.task != "classification" or io.outputs != 2:
            raise Unsupported(
                "a single sigmoid unit serves binary classification only (outputs: 2)"
            )
        units = 1
    nodes: list[Node] = [Dense(units, name="head")]
    if hp.output_activation != "none":
        nodes.append(Activation(hp.output_activation, name="head_act"))
    return nodes
