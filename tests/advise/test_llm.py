"""LLM sizing: the formulas against their sources, and `estimate` for a generation profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpick.advise import llm
from modelpick.advise.catalog import build_named, load_catalog
from modelpick.advise.profile import parse_profile

ROOT = Path(__file__).resolve().parents[2]
GiB = 2**30


def _profile(vocab, seq=2048, **gen):
    return parse_profile(
        {
            "name": "p",
            "domain": "text",
            "task": "generation",
            "input": {"seq_len": seq, "vocab_size": vocab},
            "data": {"train_samples": 1000},
            "budget": {"device": "cuda", "gpu": "h100-sxm", "memory_gb": 80, "train_minutes": 60},
            "generation": gen,
        }
    )


def _shape(name, seq=2048):
    cat = load_catalog()
    vocab = cat.get(name).hparams.vocab
    built = build_named(cat, name, _profile(vocab, seq))
    return llm.shape_of(built.arch.hparams, built.cost)


def test_kv_cache_per_token_is_layers_kv_heads_head_dim_two_bytes():
    # Llama 3 8B: 32 layers × 2 (K, V) × 8 KV heads × 128 × 2 bytes = 128 KiB per token
    assert llm.kv_cache_bytes(_shape("llama-3-8b"), 1) == 32 * 2 * 8 * 128 * 2 == 131_072
    # GPT-2: 12 × 2 × 12 × 64 × 2 = 36 KiB; multi-head attention keeps every head
    assert llm.kv_cache_bytes(_shape("gpt2", 1024), 1) == 36_864


def test_a_sliding_window_caps_the_cache():
    s = _shape("mistral-7b")
    assert llm.kv_cache_bytes(s, 32_768) == 4096 * 131_072  # 512 MiB, not 4 GiB
    assert llm.kv_cache_bytes(s, 1000) == 1000 * 131_072


def test_activations_reduce_to_korthikanti_for_the_gpt3_shape():
    """Korthikanti et al. 2022, eq. 2: 34·s·b·h + 5·a·s²·b bytes per layer with dropout and
    without flash attention; with flash attention (no s² term) and no dropout masks (2·s·b·h),
    32·s·b·h, plus the fp32 log-sum-exp per head."""
    s = _shape("gpt3-175b")
    assert 2 * llm.layer_activation_elems(s) == 32 * s.dim
    tokens = 2048
    full = llm.activation_bytes(s, tokens) - tokens * s.vocab * 12 - tokens * s.dim * 2
    assert full == s.depth * tokens * (32 * s.dim + 4 * s.heads)
    ckpt = llm.activation_bytes(s, tokens, checkpointing=True)
    assert ckpt < full / 10  # each layer keeps its input, one layer is recomputed at a time


def test_mixed_precision_adam_is_sixteen_bytes_a_parameter():
    s = _shape("llama-3-8b")
    b = llm.train_memory(s, 2048, 1)
    assert b.weights + b.gradients + b.optimizer == 16 * 8_030_261_248


def test_zero_stages_follow_the_paper():
    """Rajbhandari et al. 2020, Figure 1: Ψ = 7.5B, N = 64, K = 12: 120 GB baseline, 31.4 GB
    (P_os), 16.6 GB (P_os+g), 1.9 GB (P_os+g+p)."""
    psi = 7.5e9
    b = llm.Breakdown(int(2 * psi), int(2 * psi), int(12 * psi), 0)
    got = [llm.per_gpu_train_bytes(b, 64, z) / 1e9 for z in (0, 1, 2, 3)]
    assert got == pytest.approx([120, 31.4, 16.6, 1.9], abs=0.06)


def test_gpus_needed_grows_with_the_model_and_shrinks_with_sharding():
    s = _shape("llama-3-8b")
    full = llm.train_memory(s, 2048, 1, checkpointing=True)
    h100 = 80 * GiB
    assert llm.gpus_needed(full, h100, zero=0) is None  # 16 bytes × 8B = 120 GiB never fits
    z3 = llm.gpus_needed(full, h100, zero=3)
    assert z3 is not None and 2 <= z3 <= 4
    qlora = llm.finetune_memory(s, "qlora", 2048, 1)
    assert llm.gpus_needed(qlora, 24 * GiB) == 1


def test_qlora_base_is_four_bits_plus_constants():
    s = _shape("llama-3-8b")
    q = llm.finetune_memory(s, "qlora", 2048, 1, rank=16)
    lora = llm.finetune_memory(s, "lora", 2048, 1, rank=16)
    adapters = llm.lora_params(s, 16)
    # every block linear at 0.5 byte + 0.127 bit; embeddings, head and norms in bf16
    rest = s.params - s.block_linear_params
    base = s.block_linear_params * (0.5 + 0.127 / 8) + 2 * rest
    assert q.weights - 4 * adapters == pytest.approx(base, abs=1)
    assert lora.weights - 4 * adapters == 2 * s.params
    # LoRA rank 16 on all 7 linear layers of 32 blocks: 16·(in + out) each
    assert adapters == 32 * 16 * (2 * (4096 + 4096) + 2 * (4096 + 1024) + 3 * (4096 + 14336))


def test_decode_is_bound_by_reading_the_weights():
    s = _shape("llama-3-8b")
    from modelpick.advise.hardware import load_devices

    h100 = load_devices()["h100-sxm"]
    tps = llm.decode_tokens_per_s(s, h100, "bf16", 1)
    # every weight but the untied token embedding (a lookup), and the KV cache, once per token
    read = 2 * s.params - 2 * 128256 * 4096 + llm.kv_cache_bytes(s, 1)
    assert llm.decode_bytes(s, "bf16", 1) == read
    expected = h100.bandwidth_bytes_per_s * llm.DECODE_BANDWIDTH_EFFICIENCY / read
    assert tps == pytest.approx(expected)
    assert llm.decode_tokens_per_s(s, h100, "int4", 1) > 3 * tps  # a quarter of the bytes


def test_estimate_answers_the_large_model_questions():
    from typer.testing import CliRunner

    from modelpick.cli import app

    result = CliRunner().invoke(
        app,
        [
            "estimate",
            str(ROOT / "examples/chat-finetune-24gb.yaml"),
            "--arch",
            "llama-3-8b",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)["llm"]
    assert d["params"] == 8_030_261_248 and d["kv_cache_bytes_per_token"] == 131_072
    for key in ("weights", "gradients", "optimizer", "activations", "total"):
        assert d["train_memory_bytes"][key] > 0
    assert set(d["finetune_memory_bytes"]) == {"full", "lora", "qlora"}
    assert set(d["inference_memory_bytes"]) == {"bf16", "int8", "int4"}
    assert d["max_context"]["int4"] >= d["max_context"]["bf16"] > 0
    assert d["gpus_needed"]["qlora"]["zero0"] == 1 and d["gpus_needed"]["full"]["zero0"] is None
    assert d["finetune"]["qlora"]["usd"] > 0 and d["usd_per_hour"] > 0
    table = CliRunner().invoke(
        app, ["estimate", str(ROOT / "examples/chat-finetune-24gb.yaml"), "--arch", "gpt2"]
    )
    assert table.exit_code == 0 and "memory per use" in table.stdout and "KV cache" in table.stdout


def test_a_mixture_decodes_reading_only_the_experts_it_visits():
    s = _shape("mixtral-8x7b")
    one = llm.decode_bytes(s, "bf16", 1, batch=1)
    expert = 32 * 3 * 4096 * 14336 * 2
    # batch 1: 2 of 8 experts per layer, so 6 experts' weights are not read
    assert one == 2 * s.params - 2 * 32000 * 4096 - 6 * expert + llm.kv_cache_bytes(s, 1)
    # a large batch touches nearly every expert
    many = llm.decode_bytes(s, "bf16", 1, batch=64) - llm.kv_cache_bytes(s, 1, 64)
    assert many == pytest.approx(2 * s.params - 2 * 32000 * 4096, rel=1e-3)


def _gen_profile(**budget):
    base = {"device": "cuda", "gpu": "rtx-4090", "memory_gb": 24, "train_minutes": 1440}
    return {
        "name": "chat",
        "domain": "text",
        "task": "generation",
        "input": {"seq_len": 1024, "vocab_size": 32000},
        "data": {"train_samples": 50_000},
        "budget": {**base, **budget},
        "generation": {"context": 4096},
    }


def test_recommend_for_generation_ranks_what_fits_largest_first():
    import modelpick as mp

    rec = mp.recommend(_gen_profile(latency_ms=50, usd=50, batch_size=4), top=50)
    assert rec.found
    doc = rec.to_dict()
    usable = 24 * GiB * llm.USABLE_MEMORY
    for c in doc["candidates"]:
        assert c["train_bytes_per_gpu"] <= usable and c["serve_bytes"] <= usable
        assert c["decode_ms_per_token"] <= 50 and c["finetune_usd"] <= 50
        assert c["finetune_hours"] * 60 <= 1440
        assert {k["name"] for k in c["criteria"]} == {"size", "method", "weights"}
    scores = [c["score"] for c in doc["candidates"]]
    assert scores == sorted(scores, reverse=True)
    # the largest models that fit one 24 GB card are 7-8B ones, fine-tuned with (Q)LoRA
    top = doc["candidates"][0]
    assert top["params"] > 7e9 and top["method"] in ("lora", "qlora")
    assert not any(c["name"] == "mixtral-8x7b" for c in doc["candidates"])
    assert any(r["name"] == "mixtral-8x7b" for r in doc["rejected"])


def test_more_gpus_admit_full_fine_tuning():
    import modelpick as mp

    h100 = dict(gpu="h100-sxm", memory_gb=80, batch_size=4)
    one = mp.recommend(_gen_profile(**h100), top=100).to_dict()
    eight = mp.recommend(_gen_profile(**h100, gpus=8), top=100).to_dict()
    full = {(c["name"], c["method"]) for c in eight["candidates"] if c["method"] == "full"}
    assert ("llama-3-8b", "full") in full
    assert ("llama-3-8b", "full") not in {(c["name"], c["method"]) for c in one["candidates"]}


def test_when_nothing_fits_the_nearest_misses_say_what_to_relax():
    from typer.testing import CliRunner

    from modelpick.cli import app

    path = ROOT / "tests" / "advise" / "_tiny_gpu.json"
    profile = _gen_profile(memory_gb=0.05)
    path.write_text(json.dumps(profile))
    try:
        result = CliRunner().invoke(app, ["recommend", str(path), "--json"])
    finally:
        path.unlink()
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["candidates"] == [] and doc["relax"]
    assert any("memory_gb" in line and "QLoRA" in line for line in doc["relax"])


def test_generation_options_can_be_ranked_by_cost():
    import modelpick as mp

    prof = _gen_profile(latency_ms=50, usd=50, batch_size=4)
    prof["generation"]["rank_by"] = "cost"
    doc = mp.recommend(prof, top=100).to_dict()
    costs = [c["finetune_usd"] for c in doc["candidates"]]
    assert costs == sorted(costs) and costs[0] < costs[-1]


def test_decode_reads_at_the_measured_weight_streaming_rate_once_calibrated():
    from modelpick.advise.hardware import load_devices

    s = _shape("llama-3-8b")
    h100 = load_devices()["h100-sxm"]
    measured = h100._replace(weight_stream_bytes_per_s=2.5e12)
    rate, source = llm.decode_bandwidth(measured)
    assert rate == 2.5e12 * llm.DECODE_STREAM_EFFICIENCY and "calibration" in source
    assert llm.decode_tokens_per_s(s, measured, "bf16", 1) == pytest.approx(
        rate / llm.decode_bytes(s, "bf16", 1)
    )
    assert "uncalibrated" in llm.decode_bandwidth(h100)[1]


def test_max_context_and_batch_are_the_largest_that_fit():
    s = _shape("llama-3-8b")
    mem = 24 * GiB
    budget = mem * llm.USABLE_MEMORY
    for p in ("bf16", "int8", "int4"):
        b = llm.max_batch(s, p, mem, 4096)
        assert llm.inference_memory(s, p, 4096, b) <= budget
        assert llm.inference_memory(s, p, 4096, b + 1) > budget
    c = llm.max_context(_shape("mixtral-8x7b"), "int4", 32 * GiB)
    assert 0 < c < 32768  # a 47B model in int4 on 32 GiB: the cache runs out first
    assert llm.inference_memory(_shape("mixtral-8x7b"), "int4", c + 1) > 32 * GiB * 0.9
    assert llm.max_context(s, "bf16", 8 * GiB) == 0  # 16 GiB of weights do not fit 8
