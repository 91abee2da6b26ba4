#!/usr/bin/env python3
"""What 8-bit attention would cost in accuracy on all-MiniLM-L6-v2 (a quantize-dequantize simulation in PyTorch FP32,
so only the rounding differs): the GEMMs stay FP32, attention's two products are rounded as a CPU kernel would feed
them, and each scheme's sentence vectors (mean pooling, the first N sentences of bench/data/sentences.txt in batches
of 32) are compared with FP32's by cosine. Schemes: Q, K, P and V in bfloat16 (what bertrt's INT8 and BF16 run today);
Q and K in s8 (symmetric, one scale per token and head) with P.V in bfloat16; and all of it in 8 bits (P as u8 against
its row's maximum, V as s8 with one scale per head and channel over the sequence), what VNNI's u8 x s8 products take.
Prints the results; bench/results/development-ab.md records the run it was written for.
Run: tools/.venv/bin/python tools/simulate_attention_quantization.py [N=600]   (about a minute on 2 cores)"""
import os
import sys

import torch
from transformers import AttentionInterface, AutoModel, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")


def bf16(x):
    return x.to(torch.bfloat16).to(torch.float32)


def s8(x, dim):
    """Symmetric 8-bit rounding with one scale per slice along dim."""
    scale = x.abs().amax(dim=dim, keepdim=True).clamp_min(1e-30) / 127
    return (x / scale).round().clamp(-127, 127) * scale


def u8_of_row_max(p):
    """Probabilities as u8 steps of their row's maximum / 255."""
    top = p.amax(dim=-1, keepdim=True)
    return (p / top * 255).round() * top / 255


def make_attention(qk, pv):
    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        q, k = qk(query), qk(key)  # [batch, heads, tokens, head_dim]: per token and head
        scores = torch.matmul(q, k.transpose(-1, -2)) * scaling
        if attention_mask is not None:
            scores = scores + attention_mask
        p, v = pv(torch.softmax(scores, dim=-1), value)
        return torch.matmul(p, v).transpose(1, 2).contiguous(), None

    return attention


SCHEMES = [
    ("FP32", lambda x: x, lambda p, v: (p, v)),
    ("Q, K, P, V in bfloat16 (bertrt's INT8 and BF16 today)", bf16, lambda p, v: (bf16(p), bf16(v))),
    ("Q, K in s8 per token and head; P, V in bfloat16", lambda x: s8(x, -1), lambda p, v: (bf16(p), bf16(v))),
    ("Q, K in s8; P in u8 of its row's maximum; V in s8 per head and channel", lambda x: s8(x, -1),
     lambda p, v: (u8_of_row_max(p), s8(v, -2))),
]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    torch.set_num_threads(os.cpu_count() or 1)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModel.from_pretrained(MODEL, dtype=torch.float32).eval()
    with open(os.path.join(ROOT, "bench", "data", "sentences.txt"), encoding="utf-8") as f:
        sentences = [s for s in f.read().split("\n") if s][:n]
    vectors = {}
    for i, (name, qk, pv) in enumerate(SCHEMES):
        AttentionInterface.register(f"sim{i}", make_attention(qk, pv))
        model.set_attn_implementation(f"sim{i}")
        out = []
        with torch.no_grad():
            for b in range(0, len(sentences), 32):
                enc = tok(sentences[b:b + 32], padding=True, truncation=True, max_length=256, return_tensors="pt")
                mask = enc["attention_mask"].unsqueeze(-1).float()
                h = model(**enc).last_hidden_state
                out.append(torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1))
        vectors[name] = torch.cat(out)
    ref = vectors["FP32"]
    print(f"all-MiniLM-L6-v2, {len(sentences)} sentences, GEMMs in FP32; cosine of each scheme's vectors to FP32's")
    for name, _, _ in SCHEMES[1:]:
        c = (vectors[name] * ref).sum(-1)
        print(f"  {name}: mean {c.mean():.6f}, min {c.min():.6f}")


if __name__ == "__main__":
    main()
