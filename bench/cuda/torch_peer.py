"""The PyTorch peer of bench/cuda/bench_cuda.cu, run on the same GPU in the same session: HF transformers'
BertModel with random weights (BERT-base and MiniLM-L6 shapes) in FP16, attention 'eager' and 'sdpa', batch
{1, 32, 128} x sequence {128, 384}, no padding (every sequence full length, as in bench_cuda). Median of passes
after 3 warm-ups (until 1 s, BERTRT_BENCH_SECONDS, or 200 passes), hidden states left on the GPU. One JSON object per line.
With `kernels`: cuBLAS through F.linear (FP16, bias fused), torch._int_mm (INT8 -> INT32) and, on compute capability
8.9+, torch._scaled_mm (FP8 E4M3 with row and column scales -> FP16) on BERT-base's four
linear shapes at 16,384 and 128 tokens, and SDPA at 128 x 128 and 32 x 384, timed as bench_cuda's kernels are
(each call captured 20 times in a CUDA graph, median of 7 replays by CUDA events).
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


def time_ms(fn, per_graph=20):
    """One call's time in ms: `fn` captured 20 times into a CUDA graph (no host gap between launches, as
    bench_cuda times its kernels), median of 7 timed replays after 2, by CUDA events."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(per_graph):
            fn()
    times = []
    for it in range(9):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        graph.replay()
        b.record()
        b.synchronize()
        if it >= 2:
            times.append(a.elapsed_time(b) / per_graph)
    return sorted(times)[len(times) // 2]


def emit(record, fn, flops):
    """Times fn and prints record with its ms and TFLOP/s, or with the error if PyTorch refuses it."""
    try:
        ms = time_ms(fn)
        record.update(ms=round(ms, 5), tflops=round(flops / (ms * 1e9), 1))
    except RuntimeError as e:  # e.g. shapes cuBLASLt's IMMA refuses
        record.update(error=str(e)[:200])
    print(json.dumps(record), flush=True)


def kernels():
    ops = [("qkv", 2304, 768), ("attn-out", 768, 768), ("ffn-in", 3072, 768), ("ffn-out", 768, 3072)]
    fp8 = torch.cuda.get_device_capability(0) >= (8, 9) and hasattr(torch, "_scaled_mm")
    with torch.inference_mode():
        for m in (16384, 128):
            for name, n, k in ops:
                x = torch.rand(m, k, device="cuda", dtype=torch.float16) - 0.5
                w = torch.rand(n, k, device="cuda", dtype=torch.float16) - 0.5
                b = torch.rand(n, device="cuda", dtype=torch.float16)
                shape = {"kernel": "gemm", "op": name, "m": m, "n": n, "k": k}
                emit({**shape, "peer": "cublas-fp16"}, lambda: torch.nn.functional.linear(x, w, b), 2 * m * n * k)
                x8 = torch.randint(-127, 128, (m, k), device="cuda", dtype=torch.int8)
                w8 = torch.randint(-127, 128, (n, k), device="cuda", dtype=torch.int8)
                emit({**shape, "peer": "cublas-int8"}, lambda: torch._int_mm(x8, w8.t()), 2 * m * n * k)
                if fp8:  # E4M3 with per-row x per-column FP32 scales to FP16 (torch._scaled_mm: cuBLASLt's FP8 GEMM)
                    xf = (torch.rand(m, k, device="cuda") - 0.5).to(torch.float8_e4m3fn)
                    wf = (torch.rand(n, k, device="cuda") - 0.5).to(torch.float8_e4m3fn)
                    sx = torch.rand(m, 1, device="cuda") + 0.5
                    sw = torch.rand(1, n, device="cuda") + 0.5
                    emit({**shape, "peer": "cublas-fp8"},
                         lambda: torch._scaled_mm(xf, wf.t(), scale_a=sx, scale_b=sw, out_dtype=torch.float16), 2 * m * n * k)
        for seqs, length in ((128, 128), (32, 384), (1, 128)):
            q, k_, v = (torch.rand(seqs, 12, length, 64, device="cuda", dtype=torch.float16) - 0.5 for _ in range(3))
            emit({"kernel": "attention", "seqs": seqs, "len": length, "peer": "sdpa-fp16"},
                 lambda: torch.nn.functional.scaled_dot_product_attention(q, k_, v), 4 * seqs * 12 * length * length * 64)


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
