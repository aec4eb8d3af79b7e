"""Decoder sizing against what PyTorch really allocates, for configurations small enough to
build here (docs/llm.md, "Measured").

For each small decoder (GPT-2, Llama, Mistral, Qwen2 and Mixtral shapes at a few million
parameters):
- parameters: the graph's count against the built torch model's;
- KV cache: `advise.llm.kv_cache_bytes` against the K/V tensors Hugging Face transformers keeps
  after a bf16 forward pass with `use_cache=True` (the same configuration, random weights);
- training memory: the graph walk (`advise.predict.train_memory`, the peak of one AdamW step
  under bf16 autocast) and the LLM formula (`advise.llm.train_memory`) against the allocator's
  peak of one real step (`measure.memory.measure_step_memory`).
- decode: tokens/s of greedy decoding with the HF model on this CPU, beside the bandwidth bound.

    python benchmarks/llm_memory.py [--seq 256] [--batch 4]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("USE_TF", "0")

CONFIGS = {
    "gpt2-shape": dict(
        dim=256,
        depth=4,
        heads=4,
        ffn=1024,
        vocab=8000,
        context=1024,
        norm="layer",
        mlp="gelu",
        positions="learned",
        bias=True,
        tie_embeddings=True,
    ),
    "llama-shape": dict(dim=256, depth=4, heads=8, kv_heads=2, ffn=704, vocab=8000, context=2048),
    "mistral-shape (window 128)": dict(
        dim=256, depth=4, heads=8, kv_heads=2, ffn=704, vocab=8000, context=2048, sliding_window=128
    ),
    "qwen2-shape": dict(
        dim=256,
        depth=4,
        heads=8,
        kv_heads=1,
        ffn=704,
        vocab=8000,
        context=2048,
        qkv_bias=True,
        tie_embeddings=True,
    ),
    "mixtral-shape": dict(
        dim=256,
        depth=2,
        heads=8,
        kv_heads=2,
        ffn=512,
        vocab=8000,
        context=2048,
        experts=4,
        experts_per_token=2,
    ),
}


def hf_kv_bytes(hp, seq: int, batch: int) -> int | None:
    try:
        import torch
        import transformers
    except ImportError:
        return None
    common = dict(
        vocab_size=hp.vocab,
        hidden_size=hp.dim,
        num_hidden_layers=hp.depth,
        num_attention_heads=hp.heads,
    )
    if hp.positions == "learned":
        cfg = transformers.GPT2Config(
            vocab_size=hp.vocab,
            n_embd=hp.dim,
            n_layer=hp.depth,
            n_head=hp.heads,
            n_positions=hp.context,
        )
        model = transformers.GPT2LMHeadModel(cfg)
    else:
        cls = "Mistral" if hp.sliding_window else "Llama"
        extra = {"sliding_window": hp.sliding_window} if hp.sliding_window else {}
        if hp.experts:
            cls, extra = (
                "Mixtral",
                {
                    "num_local_experts": hp.experts,
                    "num_experts_per_tok": hp.experts_per_token,
                },
            )
        cfg = getattr(transformers, f"{cls}Config")(
            intermediate_size=hp.ffn_dim,
            num_key_value_heads=hp.n_kv_heads,
            max_position_embeddings=hp.context,
            **common,
            **extra,
        )
        model = getattr(transformers, f"{cls}ForCausalLM")(cfg)
    model = model.to(torch.bfloat16).eval()
    tokens = torch.randint(0, hp.vocab, (batch, seq))
    with torch.no_grad():
        out = model(tokens, use_cache=True)
    cache = out.past_key_values
    total = 0
    layers = getattr(cache, "layers", None)
    if layers is not None:  # transformers >= 4.56: one cache object per layer
        for layer in layers:
            for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if t is not None:
                    total += t.numel() * t.element_size()
    else:
        for k, v in cache:
            total += k.numel() * k.element_size() + v.numel() * v.element_size()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()

    from modelpick.advise import llm
    from modelpick.advise.predict import train_memory
    from modelpick.backends import get_backend
    from modelpick.families.base import IOSpec
    from modelpick.families.decoder import DecoderParams, build_graph
    from modelpick.graph import cost
    from modelpick.measure.memory import measure_step_memory

    be = get_backend("torch")
    print(
        "| shape | params graph / torch | KV cache formula / HF measured | train step peak: "
        "measured | graph walk (error) | LLM formula (error) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, kw in CONFIGS.items():
        hp = DecoderParams(**kw)
        io = IOSpec("text", "generation", "tokens", (args.seq,), hp.vocab, hp.vocab)
        graph = build_graph(name, hp, io)
        gc = cost(graph, "torch")
        built = be.build(graph, "cpu", "bf16")
        torch_params = sum(p.numel() for p in built.model.parameters())
        s = llm.shape_of(hp, gc)
        kv_formula = llm.kv_cache_bytes(s, args.seq, args.batch)
        kv_hf = hf_kv_bytes(hp, args.seq, args.batch)
        m = measure_step_memory(be, built, args.batch)
        walk = train_memory(gc, args.batch, "bf16", "cpu").total_bytes
        formula = llm.train_memory(s, args.seq, args.batch).total
        peak = m.peak_bytes

        def err(x, peak=peak):
            return f"{100 * (x - peak) / peak:+.1f}%"

        kv_text = f"{kv_formula:,} / {kv_hf:,}" if kv_hf is not None else f"{kv_formula:,} / –"
        print(
            f"| {name} | {gc.params:,} / {torch_params:,} | {kv_text} | {peak / 2**20:,.1f} MiB "
            f"| {walk / 2**20:,.1f} MiB ({err(walk)}) | {formula / 2**20:,.1f} MiB "
            f"({err(formula)}) |",
            flush=True,
        )
        del built


if __name__ == "__main__":
    main()
