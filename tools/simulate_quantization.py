#!/usr/bin/env python3
"""Where INT8's error comes from on all-MiniLM-L6-v2: quantize-dequantize simulations in PyTorch FP32 (so only the
rounding differs) over the same corpus and measures as bench/accuracy.ts, written to
bench/results/quant-simulation.md. Schemes: bertrt's INT8 (s8 weights per output channel, u8 activations per token
with a zero point), the symmetric s8 activations it used before, weights alone, block scales along K, BF16
everywhere, INT8 with some GEMMs kept in BF16, weights rounded by GPTQ (error feedback through each layer's
input Gram matrix) instead of to nearest, and SmoothQuant's per-channel smoothing of GEMM inputs (what bertrt's INT8
does for the two GEMMs fed by a LayerNorm: native/model/encoder.cc, calibrate_and_pack).
The smoothing factors come, as in the engine, from the FP32 model's per-channel max |x| over 16 sequences of 32
pseudo-random token ids (ids from vocab_size / 30 up), one factor per channel shared by Q, K and V.
GPTQ's calibration text is not the evaluation corpus: the first 512 plain sentences of the package descriptions
(METADATA) installed in the running Python environment, so its rows move a little with that environment.
Run: tools/.venv/bin/python tools/simulate_quantization.py   (about 5 minutes on 2 cores)"""
import glob
import os
import re
import sysconfig
import time

import torch
from transformers import AutoTokenizer, BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
PAIRS = [("The weather is lovely today.", "It's so sunny outside!"), ("The weather is lovely today.", "He drove to the stadium."),
         ("It's so sunny outside!", "He drove to the stadium.")]


def q_rows(x, block=None):
    """Symmetric s8 along the last axis: one scale per row, or per block of `block` columns."""
    if block:
        shape = x.shape
        x = x.reshape(*shape[:-1], shape[-1] // block, block)
    s = x.abs().amax(-1, keepdim=True).clamp_min(1e-12) / 127
    y = torch.round(x / s).clamp(-127, 127) * s
    return y.reshape(shape) if block else y


def q_rows_mse(w, steps=20):
    """Symmetric s8 per row with the scale (max|w| times 1, 0.975, ..., 0.5) that minimizes the squared error."""
    mx = w.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    best, best_err = None, None
    for i in range(steps + 1):
        s = mx * (1.0 - 0.5 * i / steps) / 127
        q = torch.round(w / s).clamp(-127, 127) * s
        err = ((q - w) ** 2).sum(-1, keepdim=True)
        if best is None:
            best, best_err = q, err
        else:
            best, best_err = torch.where(err < best_err, q, best), torch.minimum(err, best_err)
    return best


def q_rows_asym(x):
    """u8 along the last axis with a zero point: the row's range including 0 onto 0..255 (bertrt's activations)."""
    lo = x.amin(-1, keepdim=True).clamp_max(0)
    hi = x.amax(-1, keepdim=True).clamp_min(0)
    s = ((hi - lo) / 255).clamp_min(1e-12)
    z = torch.round(-lo / s).clamp(0, 255)
    return (torch.round(x / s + z).clamp(0, 255) - z) * s


def bf16(x):
    return x.to(torch.bfloat16).to(torch.float32)


def calibration_sentences(n=512):
    """Plain sentences from the package descriptions installed beside this interpreter (not the evaluation corpus)."""
    out = []
    for f in sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "*.dist-info", "METADATA"))):
        body = open(f, encoding="utf-8", errors="ignore").read().split("\n\n", 1)[-1]
        for s in re.split(r"(?<=[.!?])\s+", body):
            s = " ".join(s.split())
            if 30 <= len(s) <= 300 and not re.search(r"[<>{}=|`#*\[\]]", s):
                out.append(s)
    return out[:n]


def gptq(w, gram, damp=0.01):
    """Per-output-channel s8 weights (scale max|w|/127, as bertrt's) rounded column by column along K, each
    column's rounding error pushed onto the columns not yet rounded through the inverse Gram matrix of the layer's
    inputs (GPTQ, Frantar et al. 2022), instead of rounding every weight to nearest."""
    w = w.double().clone()
    s = w.abs().amax(1).clamp_min(1e-12) / 127
    h = gram.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    h += damp * torch.mean(torch.diag(h)) * torch.eye(h.shape[0], dtype=torch.float64)
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.zeros_like(w)
    for i in range(w.shape[1]):
        q[:, i] = torch.round(w[:, i] / s).clamp(-127, 127) * s
        err = (w[:, i] - q[:, i]) / u[i, i]
        w[:, i + 1:] -= err[:, None] * u[i, i + 1:][None, :]
    return q.float()


def smooth_factors(x_max, w_max):
    """SmoothQuant with alpha = 1/2: s_j = sqrt(max|x_j| / max_i |W_ij|); 1 where either is 0."""
    s = torch.sqrt(x_max / w_max)
    return torch.where(torch.isfinite(s) & (s > 0), s, torch.ones_like(s))


def main():
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = BertModel.from_pretrained(MODEL, dtype=torch.float32).eval()
    texts = [l for l in open(os.path.join(ROOT, "bench", "data", "sentences.txt"), encoding="utf-8").read().split("\n") if l]
    linears = {n: (m, m.weight.data.clone()) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "encoder" in n}
    # GPTQ's input Gram matrices, from the FP32 model over the calibration sentences (one at a time: no padding)
    grams = {n: torch.zeros(m.in_features, m.in_features, dtype=torch.float64) for n, (m, _) in linears.items()}

    def gather(name):
        def hook(mod, inp):
            x = inp[0].reshape(-1, inp[0].shape[-1]).double()
            grams[name].add_(x.T @ x)
        return hook

    hooks = [m.register_forward_pre_hook(gather(n)) for n, (m, _) in linears.items()]
    with torch.no_grad():
        for sentence in calibration_sentences():
            model(**tok([sentence], return_tensors="pt", truncation=True, max_length=256))
    for h in hooks:
        h.remove()
    gptq_w = {n: gptq(w, grams[n]) for n, (_, w) in linears.items()}
    # smoothing: per-channel max |input| over the engine's calibration batch of pseudo-random ids
    x_max = {n: torch.zeros(m.in_features) for n, (m, _) in linears.items()}

    def observe(name):
        def hook(mod, inp):
            x_max[name] = torch.maximum(x_max[name], inp[0].reshape(-1, inp[0].shape[-1]).abs().amax(0))
        return hook

    hooks = [m.register_forward_pre_hook(observe(n)) for n, (m, _) in linears.items()]
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model(input_ids=torch.randint(vocab // 30, vocab, (16, 32), generator=gen))
    for h in hooks:
        h.remove()
    smooth = {}
    for n, (_, w) in linears.items():
        if "attention.self" in n:  # one factor per channel for the stacked Q/K/V, as in the engine
            base = n.rsplit(".", 1)[0]
            w_max = torch.stack([linears[f"{base}.{p}"][1].abs().amax(0) for p in ("query", "key", "value")]).amax(0)
        else:
            w_max = w.abs().amax(0)
        smooth[n] = smooth_factors(x_max[n], w_max)
    # GPTQ over smoothed weights: the Gram matrix of the smoothed inputs x / s
    gptq_sw = {n: gptq(w * smooth[n][None, :], grams[n] / smooth[n].double()[:, None] / smooth[n].double()[None, :])
               for n, (_, w) in linears.items()}
    for m, _ in linears.values():
        m.register_forward_pre_hook(lambda mod, inp: (mod.pre(inp[0]),) if getattr(mod, "pre", None) else None)

    def kind(name):
        return "qkv" if "attention.self" in name else "out" if "attention.output" in name else "ffn_in" if "intermediate" in name else "ffn_out"

    def configure(scheme):
        for name, (m, w) in linears.items():
            mode = scheme(kind(name))
            if mode == "fp32":
                m.weight.data, m.pre = w.clone(), None
            elif mode == "bf16":
                m.weight.data, m.pre = bf16(w), bf16
            elif mode == "w8":
                m.weight.data, m.pre = q_rows(w), None
            elif mode.startswith("block"):
                b = int(mode[5:])
                m.weight.data, m.pre = q_rows(w, b), (lambda x, b=b: q_rows(x, b))
            elif mode == "int8sym":  # per output channel, symmetric per token
                m.weight.data, m.pre = q_rows(w), q_rows
            elif mode == "gptq-w8":
                m.weight.data, m.pre = gptq_w[name].clone(), None
            elif mode == "gptq-int8":
                m.weight.data, m.pre = gptq_w[name].clone(), q_rows_asym
            elif mode == "a8":  # FP32 weights, activations u8 per token
                m.weight.data, m.pre = w.clone(), q_rows_asym
            elif mode == "int8-mse":  # weights per channel with the squared-error-optimal clipping
                m.weight.data, m.pre = q_rows_mse(w), q_rows_asym
            elif mode == "int8-wblock256":  # weights in blocks of 256 along K, activations per token
                m.weight.data, m.pre = q_rows(w, 256), q_rows_asym
            elif mode in ("smooth", "smooth-gptq"):  # x / s quantized per token, W * s per channel; s folded back
                s = smooth[name]
                m.weight.data = (gptq_sw[name] if mode == "smooth-gptq" else q_rows(w * s[None, :])) / s[None, :]
                m.pre = lambda x, s=s: q_rows_asym(x / s) * s
            else:  # int8: per output channel, asymmetric per token (bertrt)
                m.weight.data, m.pre = q_rows(w), q_rows_asym

    @torch.no_grad()
    def embed(batch):
        out = []
        for i in range(0, len(batch), 64):
            enc = tok(batch[i:i + 64], padding=True, truncation=True, max_length=256, return_tensors="pt")
            h = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1))
        return torch.cat(out)

    def top1(v):
        s = v @ v.T
        s.fill_diagonal_(-9)
        return s.argmax(1)

    def pairs():
        return [float(torch.dot(*embed([a, b]))) for a, b in PAIRS]

    configure(lambda k: "fp32")
    ref, ref_pairs = embed(texts), pairs()
    ref_top = top1(ref)
    schemes = [
        ("INT8: weights s8 per channel, activations u8 per token with a zero point (bertrt before smoothing)", lambda k: "int8"),
        ("bertrt INT8: the same, Q/K/V and FFN-in inputs smoothed", lambda k: "smooth" if k in ("qkv", "ffn_in") else "int8"),
        ("the same, all four GEMMs' inputs smoothed", lambda k: "smooth"),
        ("weights s8 per channel, activations s8 per token (symmetric, bertrt before)", lambda k: "int8sym"),
        ("weights s8 per channel, activations FP32", lambda k: "w8"),
        ("weights and activations in blocks of 128 along K", lambda k: "block128"),
        ("blocks of 64", lambda k: "block64"),
        ("blocks of 32", lambda k: "block32"),
        ("INT8, Q/K/V projections in BF16", lambda k: "bf16" if k == "qkv" else "int8"),
        ("INT8, FFN-in in BF16", lambda k: "bf16" if k == "ffn_in" else "int8"),
        ("INT8, Q/K/V and attention output in BF16", lambda k: "bf16" if k in ("qkv", "out") else "int8"),
        ("BF16 everywhere (bertrt's BF16)", lambda k: "bf16"),
        ("weights s8 per channel rounded by GPTQ, activations FP32", lambda k: "gptq-w8"),
        ("weights s8 per channel rounded by GPTQ, activations u8 per token with a zero point", lambda k: "gptq-int8"),
        ("bertrt INT8 (Q/K/V and FFN-in smoothed), weights rounded by GPTQ",
         lambda k: "smooth-gptq" if k in ("qkv", "ffn_in") else "gptq-int8"),
        # mixed precision on top of bertrt's INT8: which GEMMs would have to stay in BF16 for the top-1 gate
        ("bertrt INT8, FFN-out in BF16", lambda k: "bf16" if k == "ffn_out" else "smooth" if k in ("qkv", "ffn_in") else "int8"),
        ("bertrt INT8, both FFN GEMMs in BF16 (INT8 only in attention's projections)",
         lambda k: "bf16" if k in ("ffn_in", "ffn_out") else "smooth" if k == "qkv" else "int8"),
        ("bertrt INT8, Q/K/V and attention output in BF16 (INT8 only in the FFN)",
         lambda k: "bf16" if k in ("qkv", "out") else "smooth" if k == "ffn_in" else "int8"),
        # where FFN-out's error comes from: its weights or its activations, and cheaper fixes for the weights
        ("bertrt INT8, FFN-out weights FP32 (activations still u8 per token)",
         lambda k: "a8" if k == "ffn_out" else "smooth" if k in ("qkv", "ffn_in") else "int8"),
        ("bertrt INT8, FFN-out weights s8 in blocks of 256 along K",
         lambda k: "int8-wblock256" if k == "ffn_out" else "smooth" if k in ("qkv", "ffn_in") else "int8"),
        ("bertrt INT8, FFN-out weights s8 with squared-error-optimal clipping",
         lambda k: "int8-mse" if k == "ffn_out" else "smooth" if k in ("qkv", "ffn_in") else "int8"),
    ]
    rows = []
    for name, scheme in schemes:
        configure(scheme)
        v = embed(texts)
        cos = (v * ref).sum(1)
        rows.append((name, float(cos.mean()), float(cos.min()), float((top1(v) == ref_top).float().mean()) * 100,
                     max(abs(a - b) for a, b in zip(pairs(), ref_pairs))))
        print(rows[-1], flush=True)
    lines = [
        "# Quantization error by scheme — all-MiniLM-L6-v2 (simulation)",
        "",
        f"Made {time.strftime('%Y-%m-%d')} by `tools/simulate_quantization.py`: PyTorch FP32 with GEMM inputs and weights",
        "quantized and dequantized in place, so only the rounding differs from FP32; the same 1,200 sentences",
        "(bench/data/sentences.txt), mean pooling, and the same measures and gates as bench/results/accuracy.md",
        "(gates: mean ≥ 0.995, min ≥ 0.98, top-1 ≥ 97%, pairs Δ ≤ 0.005). The GPTQ rows' calibration text is 512",
        "sentences of the package descriptions installed in the Python environment that ran the tool, not the corpus.",
        "",
        "| scheme | cosine mean | cosine min | top-1 unchanged | quickstart pairs, largest Δ |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {n} | {m:.5f} | {mn:.4f} | {t:.1f}% | {p:.4f} |" for n, m, mn, t, p in rows],
        "",
        "Reading: top-1 agreement on this corpus of short quotations (many near-tied neighbours) stays below 97% for",
        "every scheme with 8-bit weights in all four GEMMs rounded to nearest, even with FP32 activations, and with",
        "the attention projections or FFN-in kept in BF16 (FFN-out is the exception: see the end). Rounding the same",
        "8-bit weights by GPTQ (calibrated on other text)",
        "brings weights-only quantization over 97%, but with per-token 8-bit activations on top, top-1 stays near 95%:",
        "once the weights are rounded well, the activations are the limit. Smoothing the inputs of the two GEMMs fed by",
        "a LayerNorm (bertrt's INT8 now) halves the cosine error and brings the pairs within 0.005; smoothing all four",
        "GEMMs does no better, and GPTQ on top of the smoothing adds little (top-1 still ~95.5%). The GEMM that costs",
        "the most is FFN-out, whose input is GELU's output: keeping it alone in BF16 on top of bertrt's INT8 meets every",
        "gate here (top-1 97.3%, mean 0.99965), at the price of a third of the GEMM work at BF16's half rate; keeping",
        "the attention projections in BF16 instead gains little. Even with FFN-out's weights exact (its activations",
        "still 8-bit) top-1 is 96.6%, and its weights in blocks of 256 along K or clipped for the least squared error",
        "stay at 95.6-96.0%: no change to the 8-bit scheme alone reaches 97% on this corpus.",
    ]
    out = os.path.join(ROOT, "bench", "results", "quant-simulation.md")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
