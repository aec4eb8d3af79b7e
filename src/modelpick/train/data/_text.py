"""A word-level tokenizer: lower-cased words (`\\w+`) and single punctuation marks; the
vocabulary is the vocab_size - 2 most frequent tokens of the training split (ties in
alphabetical order); id 0 pads, id 1 is an unknown word. Sequences are cut to seq_len (the
first tokens are kept) and padded at the end."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ...errors import DataError
from ._spec import TextSpec

TOKEN = re.compile(r"\w+|[^\w\s]")
PAD, UNKNOWN = 0, 1


def tokens(text: str, lowercase: bool = True) -> list[str]:
    return TOKEN.findall(text.lower() if lowercase else text)


def texts_of(values, shown: str, column: str, rows) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise DataError(
                f"{shown}: {rows(i)}: text {column!r} is not a string; received {type(v).__name__}"
            )
        out.append(v)
    return out


def fit(texts: list[str], column: str, vocab_size: int, shown: str) -> TextSpec:
    if vocab_size < 3:
        raise DataError(
            f"{shown}: the profile's input.vocab_size {vocab_size} leaves no room for words "
            f"(id 0 pads, id 1 is an unknown word); expected at least 3"
        )
    counts = Counter()
    for t in texts:
        counts.update(tokens(t))
    words = sorted(counts, key=lambda w: (-counts[w], w))[: vocab_size - 2]
    return TextSpec(column=column, vocabulary=words)


def encode(spec: TextSpec, texts: list[str], seq_len: int, index: dict) -> tuple[np.ndarray, int]:
    """(N, seq_len) int32 token ids, and how many texts were cut."""
    out = np.zeros((len(texts), seq_len), np.int32)
    cut = 0
    for i, t in enumerate(texts):
        toks = tokens(t, spec.lowercase)
        if len(toks) > seq_len:
            cut += 1
            toks = toks[:seq_len]
        out[i, : len(toks)] = [index.get(w, UNKNOWN) for w in toks]
    return out, cut
