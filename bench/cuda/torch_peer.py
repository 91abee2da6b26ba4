"""The PyTorch peer of bench/cuda/bench_cuda.cu, run on the same GPU in the same session: HF transformers'
BertModel with random weights (BERT-base and MiniLM-L6 shapes) in FP16, attention 'eager' and 'sdpa', batch
{1, 32, 128} x sequence {128, 384}, no padding (every sequence full length, as in bench_cuda). Median of passes
after 3 warm-ups (until 1 s, BERTRT_BENCH_SECONDS, or 200 passes), hidden states left on the GPU. One JSON object per line.
With `kernels`: cuBLAS through F.linear (FP16, bias fused) and torch._int_mm (INT8 -> INT32) on BERT-base's four
linear shapes at 16,384 and 128 tokens, and SDPA at 128 x 128 and 32 x 384, timed as bench_cuda's kernels are
(CUDA events, median of 20 after 3 warm-ups).
Run on the device machine: python3 bench/cuda/torch_peer.py [kernels|bert-base|minilm-l6]"""
import json
import sys
import time

import os

import torch
from transformers import BertConfig, BertModel

BUDGET_MS = 1000 * float(os.environ.get("BERTRT_BENCH_SECONDS", "1"))
SHAPES = {"bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
          "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)}


def time_ms(fn):
    times = []
    for it in range(23):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        if it >= 3:
            times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def kernels():
    ops = [("qkv", 2304, 768), ("attn-out", 768, 768), ("ffn-in", 3072, 768), ("ffn-out", 768, 3072)]
    with torch.inference_mode():
        for m in (16384, 128):
            for name, n, k in ops:
                x = torch.rand(m, k, device="cuda", dtype=torch.float16) - 0.5
                w = torch.rand(n, k, device="cuda", dtype=torch.float16) - 0.5
                b = torch.rand(n, device="cuda", dtype=torch.float16)
                ms = time_ms(lambda: torch.nn.functional.linear(x, w, b))
                print(json.dumps({"kernel": "gemm", "op": name, "m": m, "n": n, "k": k, "peer": "cublas-fp16",
                                  "ms": round(ms, 5), "tflops": round(2 * m * n * k / (ms * 1e9), 1)}), flush=True)
                x8 = torch.randint(-127, 128, (m, k), device="cuda", dtype=torch.int8)
                w8 = torch.randint(-127, 128, (n, k), device="cuda", dtype=torch.int8)
                try:
                    ms = time_ms(lambda: torch._int_mm(x8, w8.t()))
                    print(json.dumps({"kernel": "gemm", "op": name, "m": m, "n": n, "k": k, "peer": "cublas-int8",
                                      "ms": round(ms, 5), "tflops": round(2 * m * n * k / (ms * 1e9), 1)}), flush=True)
                except RuntimeError as e:  # shapes cuBLASLt's IMMA refuses
                    print(json.dumps({"kernel": "gemm", "op": name, "m": m, "peer": "cublas-int8", "error": str(e)[:200]}), flush=True)
        for seqs, length in ((128, 128), (32, 384)):
            q, k_, v = (torch.rand(seqs, 12, length, 64, device="cuda", dtype=torch.float16) - 0.5 for _ in range(3))
            ms = time_ms(lambda: torch.nn.functional.scaled_dot_product_attention(q, k_, v))
            print(json.dumps({"kernel": "attention", "seqs": seqs, "len": length, "peer": "sdpa-fp16", "ms": round(ms, 5),
                              "tflops": round(4 * seqs * 12 * length * length * 64 / (ms * 1e9), 1)}), flush=True)


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else None
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__}), flush=True)
    if only in (None, "kernels"):
        kernels()
        if only == "kernels":
            return
    for name, shape in SHAPES.items():
        if only and only != name:
            continue
        for attn in ("eager", "sdpa"):
            # transformers 5 takes the attention implementation from the config, not as a model argument
            cfg = BertConfig(vocab_size=30522, max_position_embeddings=512, attn_implementation=attn, **shape)
            model = BertModel(cfg, add_pooling_layer=False).half().cuda().eval()
            assert model.config._attn_implementation == attn
            for batch in (1, 32, 128):
                for seq in (128, 384):
                    ids = torch.randint(1000, 21000, (batch, seq), device="cuda")
                    mask = torch.ones_like(ids)
                    times = []
                    with torch.inference_mode():
                        for it in range(203):
                            torch.cuda.synchronize()
                            t0 = time.perf_counter()
                            model(input_ids=ids, attention_mask=mask)
                            torch.cuda.synchronize()
                            d = (time.perf_counter() - t0) * 1000
                            if it >= 3:
                                times.append(d)
                            if it >= 13 and sum(times) > BUDGET_MS:
                                break
                    ms = sorted(times)[len(times) // 2]
                    print(json.dumps({"model": name, "peer": f"torch-fp16-{attn}", "batch": batch, "seq": seq,
                                      "ms": round(ms, 4), "seq_per_s": round(batch * 1000 / ms, 1)}), flush=True)
            del model
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
