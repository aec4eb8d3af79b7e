"""Per-node shapes, parameters and FLOPs against formulas derived by hand from each layer's
definition (and, for parameters, from the frameworks' documented weight shapes)."""

import pytest

from modelpick.graph import (
    RNN,
    Activation,
    Attention,
    BatchNorm,
    ClassToken,
    Conv,
    Dense,
    Embedding,
    Flatten,
    GlobalPool,
    Graph,
    LayerNorm,
    PatchEmbed,
    Pool,
    PositionEmbedding,
    Residual,
    SeqPool,
    ShapeError,
    SwapAxes,
    TokenTypeEmbedding,
    cost,
    seq,
)


def test_dense_on_vector_and_sequence():
    c = Dense(10).cost((784,))
    assert c.params == 784 * 10 + 10
    assert c.macs == 7840 and c.flops == 2 * 7840
    # Applied per position on a sequence: the weights are shared, the work is per token.
    c = Dense(64, bias=False).cost((50, 32))
    assert c.params == 32 * 64
    assert c.macs == 50 * 32 * 64
    assert Dense(64).output_shape((50, 32)) == (50, 64)


def test_conv2d_shape_params_macs():
    conv = Conv(2, 64, 7, stride=2, padding=3, bias=False)  # ResNet stem
    assert conv.output_shape((3, 224, 224)) == (64, 112, 112)
    c = conv.cost((3, 224, 224))
    assert c.params == 64 * 3 * 7 * 7
    assert c.macs == 64 * 112 * 112 * 3 * 7 * 7  # 118,013,952: torchvision's stem
    assert c.macs == 118_013_952


def test_conv_same_valid_and_groups():
    assert Conv(2, 8, 3, padding="same").output_shape((4, 10, 12)) == (8, 10, 12)
    assert Conv(2, 8, 3, padding="valid").output_shape((4, 10, 12)) == (8, 8, 10)
    dw = Conv(2, 32, 3, padding=1, groups=32)  # depthwise: one 3×3 filter per channel
    assert dw.cost((32, 8, 8)).params == 32 * 9 + 32
    assert dw.cost((32, 8, 8)).macs == 32 * 8 * 8 * 9


def test_conv1d():
    c = Conv(1, 16, 80, stride=4).cost((1, 16000))
    out = (16000 - 80) // 4 + 1
    assert c.params == 16 * 80 + 16
    assert c.macs == 16 * out * 80


def test_conv_input_too_small():
    with pytest.raises(ShapeError, match="too small"):
        Conv(2, 8, 7, stride=2).output_shape((3, 4, 4))


def test_pools():
    assert Pool(2, "max", 3, 2, 1).output_shape((64, 112, 112)) == (64, 56, 56)
    assert Pool(2, "max", 2).output_shape((32, 26, 26)) == (32, 13, 13)
    assert GlobalPool().output_shape((512, 7, 7)) == (512,)
    assert GlobalPool().cost((512, 7, 7)).flops == 512 * 49
    assert SeqPool("mean").output_shape((10, 8)) == (8,)
    assert SeqPool("first").cost((10, 8)).flops == 0


def test_norms():
    bn = BatchNorm().cost((64, 56, 56))
    assert (bn.params, bn.buffers) == (128, 128)  # gamma, beta; running mean, var
    ln = LayerNorm().cost((197, 768))
    assert ln.params == 2 * 768 and ln.buffers == 0


def test_embeddings_and_tokens():
    assert Embedding(1000, 64).output_shape((20,)) == (20, 64)
    assert Embedding(1000, 64).cost((20,)).params == 64_000
    assert PositionEmbedding(512).cost((128, 768)).params == 512 * 768
    with pytest.raises(ShapeError, match="exceeds max_len"):
        PositionEmbedding(16).output_shape((17, 8))
    assert TokenTypeEmbedding(2).cost((128, 768)).params == 2 * 768
    assert ClassToken().output_shape((196, 768)) == (197, 768)
    assert ClassToken().cost((196, 768)).params == 768


def test_patch_embed_is_a_strided_conv():
    pe = PatchEmbed(2, 768, 16)
    assert pe.output_shape((3, 224, 224)) == (196, 768)
    c = pe.cost((3, 224, 224))
    conv = Conv(2, 768, 16, stride=16).cost((3, 224, 224))
    assert (c.params, c.macs) == (conv.params, conv.macs)


def test_attention_counts_the_score_and_value_matmuls():
    length, d, h = 197, 768, 12
    c = Attention(d, h).cost((length, d))
    assert c.params == 4 * d * d + 4 * d  # q, k, v, out projections with biases
    projections = 4 * length * d * d
    qk_and_av = 2 * length * length * d
    assert c.macs == projections + qk_and_av
    assert c.flops == 2 * c.macs + 6 * h * length * length  # softmax (5) + scale (1) per score


def test_attention_rejects_bad_heads():
    with pytest.raises(ShapeError):
        Attention(100, 3).output_shape((10, 100))


@pytest.mark.parametrize("cell,gates", [("simple", 1), ("lstm", 4), ("gru", 3)])
def test_rnn_params_per_backend(cell, gates):
    i, h = 32, 64
    rnn = RNN(cell, h)
    weights = gates * h * (i + h)
    # PyTorch: bias_ih and bias_hh for every cell (torch.nn.RNN/LSTM/GRU docs).
    assert rnn.cost((10, i), "torch").params == weights + 2 * gates * h
    # Keras 3: SimpleRNN and LSTM one bias; GRU (reset_after=True) two.
    keras_biases = 2 if cell == "gru" else 1
    assert rnn.cost((10, i), "tensorflow").params == weights + keras_biases * gates * h


def test_rnn_flops_are_not_zero_and_scale_with_steps():
    # The popular counters report 0 FLOPs for LSTMs; one step is 4·H·(I+H) MACs.
    one = RNN("lstm", 64).cost((1, 32))
    ten = RNN("lstm", 64).cost((10, 32))
    assert one.macs == 4 * 64 * (32 + 64)
    assert ten.macs == 10 * one.macs
    assert ten.flops > 2 * ten.macs


def test_rnn_stacked_bidirectional():
    rnn = RNN("lstm", 256, layers=2, bidirectional=True, return_sequences=True)
    assert rnn.output_shape((50, 100)) == (50, 512)
    per_dir0 = 4 * 256 * (100 + 256) + 2 * 4 * 256
    per_dir1 = 4 * 256 * (512 + 256) + 2 * 4 * 256  # layer 2 reads both directions
    assert rnn.cost((50, 100)).params == 2 * (per_dir0 + per_dir1)
    assert RNN("gru", 8).output_shape((5, 3)) == (8,)


def test_activation_and_flatten():
    assert Activation("gelu").cost((10, 10)).flops == 8 * 100
    assert Flatten().output_shape((64, 28, 28)) == (50176,)
    assert SwapAxes().output_shape((128, 9)) == (9, 128)
    with pytest.raises(ShapeError):
        Activation("swish")


def test_residual_checks_shapes_and_counts_the_add():
    block = Residual(seq(Dense(8), Activation("relu"), Dense(8)))
    assert block.output_shape((4, 8)) == (4, 8)
    assert block.cost((4, 8)).flops == 32
    with pytest.raises(ShapeError, match="residual"):
        Residual(seq(Dense(7))).output_shape((4, 8))


def test_graph_cost_totals_and_paths():
    g = Graph(
        "tiny", (1, 28, 28), seq(Conv(2, 4, 3, padding=1), Activation("relu"), Flatten(), Dense(10))
    )
    c = cost(g)
    assert c.params == (4 * 9 + 4) + (4 * 784 * 10 + 10)
    assert c.macs == 4 * 784 * 9 + 4 * 784 * 10
    assert [r.path for r in c.rows] == ["0", "1", "2", "3"]
    assert c.output_shape == (10,)


def test_shape_error_names_the_node():
    g = Graph("bad", (3, 8, 8), seq(Conv(2, 4, 3), Pool(2, "max", 2), Conv(2, 4, 7)))
    with pytest.raises(ShapeError, match=r"^2: conv2d"):
        cost(g)


def test_unknown_backend():
    g = Graph("tiny", (4,), seq(Dense(2)))
    with pytest.raises(ValueError, match="unknown backend"):
        cost(g, "jax")
