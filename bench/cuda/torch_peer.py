"""The PyTorch peer of bench/cuda/bench_cuda.cu, run on the same GPU in the same session: HF transformers'
BertModel with random weights (BERT-base and MiniLM-L6 shapes) in FP16, attention 'eager' and 'sdpa', batch
{1, 32, 128} x sequence {128, 384}, no padding (every sequence full length, as in bench_cuda). Median of passes
after 3 warm-ups (until 1 s or 200 passes), hidden states left on the GPU. One JSON object per line.
Run on the device machine: python3 bench/cuda/torch_peer.py [bert-base|minilm-l6]"""
import json
import sys
import time

import torch
from transformers import BertConfig, BertModel

SHAPES = {"bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
          "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)}


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else None
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__}), flush=True)
    for name, shape in SHAPES.items():
        if only and only != name:
            continue
        for attn in ("eager", "sdpa"):
            cfg = BertConfig(vocab_size=30522, max_position_embeddings=512, **shape)
            model = BertModel(cfg, add_pooling_layer=False, attn_implementation=attn).half().cuda().eval()
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
                            if it >= 8 and sum(times) > 1000:
                                break
                    ms = sorted(times)[len(times) // 2]
                    print(json.dumps({"model": name, "peer": f"torch-fp16-{attn}", "batch": batch, "seq": seq,
                                      "ms": round(ms, 4), "seq_per_s": round(batch * 1000 / ms, 1)}), flush=True)
            del model
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
