"""Decoder parameter counts against Hugging Face `transformers`, the oracle: each canonical
model built from its published config on the `meta` device (no weights, no download)."""

from __future__ import annotations

import os

import pytest

from modelpick.advise.catalog import build_named, load_catalog
from modelpick.advise.profile import parse_profile
from modelpick.graph import cost
from modelpick.graph.decoder import causal_pairs

os.environ.setdefault("USE_TF", "0")  # transformers must not import the TensorFlow beside it

# The published configurations (config.json of each model; GPT-3: Brown et al. 2020, Table 2.1).
HF = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(n_embd=768, n_layer=12, n_head=12)),
    "gpt2-medium": ("GPT2Config", "GPT2LMHeadModel", dict(n_embd=1024, n_layer=24, n_head=16)),
    "llama-3-8b": (
        "LlamaConfig",
        "LlamaForCausalLM",
        dict(
            vocab_size=128256,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=8192,
            tie_word_embeddings=False,
        ),
    ),
    "mistral-7b": (
        "MistralConfig",
        "MistralForCausalLM",
        dict(
            vocab_size=32000,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            sliding_window=4096,
            tie_word_embeddings=False,
        ),
    ),
    "mixtral-8x7b": (
        "MixtralConfig",
        "MixtralForCausalLM",
        dict(
            vocab_size=32000,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            num_local_experts=8,
            num_experts_per_tok=2,
            tie_word_embeddings=False,
        ),
    ),
    "qwen2-0.5b": (
        "Qwen2Config",
        "Qwen2ForCausalLM",
        dict(
            vocab_size=151936,
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            tie_word_embeddings=True,
        ),
    ),
    "gpt3-175b": (
        "GPT2Config",
        "GPT2LMHeadModel",
        dict(n_embd=12288, n_layer=96, n_head=96, n_positions=2048),
    ),
}
# The issue's figures (the models' cards and papers), so that the oracle is checked too.
PUBLISHED = {
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "llama-3-8b": 8_030_261_248,
    "mistral-7b": 7_241_732_096,
    "mixtral-8x7b": 46_702_792_704,
}


def _ours(name: str):
    entry = load_catalog().get(name)
    vocab = entry.hparams.vocab
    profile = parse_profile(
        {
            "name": "p",
            "domain": "text",
            "task": "generation",
            "input": {"seq_len": 16, "vocab_size": vocab},
            "outputs": vocab,
            "data": {"train_samples": 1000},
            "budget": {"device": "cuda", "gpu": "h100-sxm", "memory_gb": 80, "train_minutes": 60},
        }
    )
    return build_named(load_catalog(), name, profile)


@pytest.mark.parametrize("name", sorted(HF))
def test_params_match_transformers_on_the_meta_device(name):
    transformers = pytest.importorskip("transformers", reason="the oracle needs transformers")
    torch = pytest.importorskip("torch")
    config_cls, model_cls, kwargs = HF[name]
    config = getattr(transformers, config_cls)(**kwargs)
    with torch.device("meta"):
        model = getattr(transformers, model_cls)(config)
    theirs = sum(p.numel() for p in model.parameters())  # tied matrices once
    built = _ours(name)
    assert cost(built.graph, "torch").params == theirs
    assert built.arch.entry.reference_params == theirs
    if name in PUBLISHED:
        assert theirs == PUBLISHED[name]


def test_mixtral_active_parameters():
    from modelpick.advise import llm

    built = _ours("mixtral-8x7b")
    s = llm.shape_of(built.arch.hparams, cost(built.graph, "torch"))
    # all but 6 of 8 experts' SwiGLU weights in each of 32 layers
    assert s.active_params == 46_702_792_704 - 32 * 6 * 3 * 4096 * 14336 == 12_879_925_248


@pytest.mark.parametrize(
    ("length", "window", "pairs"),
    [(1, 0, 1), (4, 0, 10), (4, 2, 1 + 2 + 2 + 2), (5, 8, 15), (10, 3, 6 + 7 * 3)],
)
def test_causal_pairs_count_what_each_query_sees(length, window, pairs):
    brute = sum(min(i, window) if window else i for i in range(1, length + 1))
    assert causal_pairs(length, window) == pairs == brute


# --- numerical parity with transformers, small configurations --------------------------------

SMALL = {
    # name: (our hparams, HF config class, HF model class, HF kwargs)
    "llama-like": (
        dict(dim=64, depth=2, heads=4, kv_heads=2, ffn=96, vocab=101, context=64),
        "LlamaConfig",
        "LlamaForCausalLM",
        dict(num_key_value_heads=2, tie_word_embeddings=False),
    ),
    "qwen2-like (Q/K/V biases, tied)": (
        dict(
            dim=64,
            depth=2,
            heads=4,
            kv_heads=1,
            ffn=96,
            vocab=101,
            context=64,
            qkv_bias=True,
            tie_embeddings=True,
            norm_eps=1e-6,
        ),
        "Qwen2Config",
        "Qwen2ForCausalLM",
        dict(num_key_value_heads=1, tie_word_embeddings=True),
    ),
    "mistral-like (sliding window 8)": (
        dict(dim=64, depth=2, heads=4, kv_heads=2, ffn=96, vocab=101, context=64, sliding_window=8),
        "MistralConfig",
        "MistralForCausalLM",
        dict(num_key_value_heads=2, sliding_window=8, tie_word_embeddings=False),
    ),
    "mixtral-like (4 experts, 2 per token)": (
        dict(
            dim=64,
            depth=2,
            heads=4,
            kv_heads=2,
            ffn=96,
            vocab=101,
            context=64,
            experts=4,
            experts_per_token=2,
        ),
        "MixtralConfig",
        "MixtralForCausalLM",
        dict(
            num_key_value_heads=2,
            num_local_experts=4,
            num_experts_per_tok=2,
            tie_word_embeddings=False,
        ),
    ),
}


def _hf_to_ours(hf, ours, depth, experts):
    """Copy every HF parameter into our module, by role."""
    leaves = ours.model.leaves
    sd = hf.state_dict()
    leaves["embed"].weight.data.copy_(sd["model.embed_tokens.weight"])
    for i in range(depth):
        pre = f"model.layers.{i}."
        leaves[f"l{i}_attn_block.body.l{i}_norm1"].weight.data.copy_(
            sd[pre + "input_layernorm.weight"]
        )
        attn = leaves[f"l{i}_attn_block.body.l{i}_attn"]
        for ours_name, theirs in (
            ("q", "q_proj"),
            ("k", "k_proj"),
            ("v", "v_proj"),
            ("o", "o_proj"),
        ):
            getattr(attn, ours_name).weight.data.copy_(sd[pre + f"self_attn.{theirs}.weight"])
            if getattr(attn, ours_name).bias is not None:
                getattr(attn, ours_name).bias.data.copy_(sd[pre + f"self_attn.{theirs}.bias"])
        leaves[f"l{i}_mlp_block.body.l{i}_norm2"].weight.data.copy_(
            sd[pre + "post_attention_layernorm.weight"]
        )
        if experts:
            moe = leaves[f"l{i}_mlp_block.body.l{i}_moe"]
            moe.router.weight.data.copy_(sd[pre + "block_sparse_moe.gate.weight"])
            for e, expert in enumerate(moe.experts):
                ex = pre + f"block_sparse_moe.experts.{e}."
                if ex + "w1.weight" in sd:  # transformers 4.x: w1 gate, w3 up, w2 down
                    expert.gate.weight.data.copy_(sd[ex + "w1.weight"])
                    expert.up.weight.data.copy_(sd[ex + "w3.weight"])
                    expert.down.weight.data.copy_(sd[ex + "w2.weight"])
        else:
            mlp = leaves[f"l{i}_mlp_block.body.l{i}_mlp"]
            for ours_name in ("gate", "up", "down"):
                getattr(mlp, ours_name).weight.data.copy_(sd[pre + f"mlp.{ours_name}_proj.weight"])
    leaves["final_norm"].weight.data.copy_(sd["model.norm.weight"])
    head = leaves["lm_head"]
    if not head.tied:
        head.proj.weight.data.copy_(sd["lm_head.weight"])


@pytest.mark.parametrize("case", sorted(SMALL))
def test_torch_decoder_matches_transformers_numerically(case):
    transformers = pytest.importorskip("transformers", reason="the oracle needs transformers")
    torch = pytest.importorskip("torch")
    from modelpick.backends import get_backend
    from modelpick.families.base import IOSpec
    from modelpick.families.decoder import DecoderParams, build_graph

    ours_hp, config_cls, model_cls, extra = SMALL[case]
    hp = DecoderParams(**ours_hp)
    config = getattr(transformers, config_cls)(
        vocab_size=hp.vocab,
        hidden_size=hp.dim,
        intermediate_size=hp.ffn,
        num_hidden_layers=hp.depth,
        num_attention_heads=hp.heads,
        max_position_embeddings=hp.context,
        rms_norm_eps=hp.norm_eps,
        rope_theta=hp.rope_theta,
        attn_implementation="eager",
        **extra,
    )
    torch.manual_seed(0)
    hf = getattr(transformers, model_cls)(config).eval()
    graph = build_graph(case, hp, IOSpec("text", "generation", "tokens", (24,), hp.vocab, hp.vocab))
    be = get_backend("torch")
    ours = be.build(graph, "cpu", "fp32")
    assert (
        sum(p.numel() for p in ours.model.parameters())
        == sum(p.numel() for p in hf.parameters())
        == cost(graph, "torch").params
    )
    _hf_to_ours(hf, ours, hp.depth, hp.experts)
    ours.model.eval()
    tokens = torch.randint(0, hp.vocab, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = hf(tokens).logits
        mine = ours.model(tokens)
    assert torch.allclose(mine, theirs, atol=1e-4, rtol=1e-4), (mine - theirs).abs().max()
