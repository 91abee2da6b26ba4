#!/usr/bin/env python3
"""Exports the embedded model (models/all-MiniLM-L6-v2, F16 file loaded in FP32) to ONNX for the peer benchmark.

Output: bench/.cache/all-MiniLM-L6-v2.onnx (FP32, ~90 MB, not committed) with inputs input_ids, attention_mask,
token_type_ids (int64, [batch, seq]) and output last_hidden_state [batch, seq, 384]: the same graph shape that
transformers.js and the optimum exports use. With --int8 also bench/.cache/all-MiniLM-L6-v2-int8.onnx, made by
onnxruntime.quantization.quantize_dynamic (per-channel weights, dynamic per-tensor activations).
"""
import argparse
import os

import torch
from transformers import AutoModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
OUT = os.path.join(ROOT, "bench", ".cache")


class Wrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--int8", action="store_true")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    model = AutoModel.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    path = os.path.join(OUT, "all-MiniLM-L6-v2.onnx")
    torch.onnx.export(
        Wrapper(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), path,
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]},
        opset_version=17, dynamo=False,
    )
    print("wrote", path)
    if args.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        q = os.path.join(OUT, "all-MiniLM-L6-v2-int8.onnx")
        quantize_dynamic(path, q, per_channel=True, weight_type=QuantType.QInt8)
        print("wrote", q)


if __name__ == "__main__":
    main()
