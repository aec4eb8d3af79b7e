"""Decode and prefill speed: `advise.llm`'s predictions against a real run on this machine.

Random-weight Hugging Face models of the catalog's shapes (GPT-2 124M, Qwen2-0.5B; built from
their configs, nothing downloaded), fp32 on the CPU: a prefill of `--prompt` tokens, then
`--new` greedy decoding steps one token at a time with the KV cache; the median step time
against `llm.decode_tokens_per_s` (bytes read per step over the device's bandwidth × 0.6) and
the implied bandwidth efficiency.

    python benchmarks/llm_decode.py [--prompt 256] [--new 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("USE_TF", "0")

SHAPES = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", {}),
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
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt", type=int, default=256)
    ap.add_argument("--new", type=int, default=32)
    args = ap.parse_args()

    import torch
    import transformers

    from modelpick.advise import llm
    from modelpick.advise.catalog import build_named, load_catalog
    from modelpick.advise.hardware import resolve_device
    from modelpick.advise.profile import parse_profile
    from modelpick.api import with_calibration

    raw, _ = resolve_device("cpu", None)
    device, _ = with_calibration(raw, "torch", [], lambda m: None)
    cat = load_catalog()
    torch.manual_seed(0)
    print(
        f"device: {device.name}, {raw.bandwidth_bytes_per_s / 1e9:.0f} GB/s assumed, "
        f"weight streaming {device.weight_stream_bytes_per_s / 1e9:.1f} GB/s measured "
        "(0: not calibrated; run `modelpick bench --device cpu`)"
    )
    print(
        "| model | prefill tok/s: measured / predicted | decode tok/s: measured / predicted "
        "uncalibrated / calibrated | decode's share of the streaming rate |"
    )
    print("|---|---:|---:|---:|")
    for name, (config_cls, model_cls, kw) in SHAPES.items():
        arch = cat.get(name)
        prof = parse_profile(
            {
                "name": "p",
                "domain": "text",
                "task": "generation",
                "input": {"seq_len": args.prompt, "vocab_size": arch.hparams.vocab},
                "data": {"train_samples": 1},
                "budget": {"device": "cpu", "memory_gb": 8, "train_minutes": 1},
            }
        )
        built = build_named(cat, name, prof)
        s = llm.shape_of(built.arch.hparams, built.cost)
        model = getattr(transformers, model_cls)(getattr(transformers, config_cls)(**kw)).eval()
        tokens = torch.randint(0, arch.hparams.vocab, (1, args.prompt))
        with torch.no_grad():
            model(tokens[:, :16])  # warm-up
            t0 = time.perf_counter()
            out = model(tokens, use_cache=True)
            prefill_s = time.perf_counter() - t0
            cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
            steps = []
            for _ in range(args.new):
                t0 = time.perf_counter()
                out = model(nxt, past_key_values=cache, use_cache=True)
                steps.append(time.perf_counter() - t0)
                cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        step = statistics.median(steps)
        ctx = args.prompt + args.new // 2
        raw_decode = llm.decode_tokens_per_s(s, raw, "fp32", ctx)
        cal_decode = llm.decode_tokens_per_s(s, device, "fp32", ctx)
        pred_prefill = llm.prefill_tokens_per_s(s, device, args.prompt)
        moved = llm.decode_bytes(s, "fp32", ctx)
        share = (
            f"{moved / step / device.weight_stream_bytes_per_s:.2f}"
            if device.weight_stream_bytes_per_s
            else "–"
        )
        print(
            f"| {name} | {args.prompt / prefill_s:,.0f} / {pred_prefill:,.0f} | "
            f"{1 / step:.1f} / {raw_decode:.1f} / {cal_decode:.1f} | {share} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
