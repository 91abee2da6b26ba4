#!/usr/bin/env python3
"""Exports a model folder (default: the embedded models/all-MiniLM-L6-v2, F16 file loaded in FP32) to ONNX for the
peer benchmarks.

Output: bench/.cache/<name>.onnx (FP32, not committed) with inputs input_ids, attention_mask and, for models with token
types, token_type_ids (int64, [batch, seq]) and output last_hidden_state [batch, seq, hidden]: the same graph shape that
transformers.js and the optimum exports use. With --int8 also bench/.cache/<name>-int8.onnx, made by
onnxruntime.quantization.quantize_dynamic (per-channel weights, dynamic per-tensor activations).
Usage: tools/export_onnx.py [--int8] [--model DIR]   (name: the folder's name)
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


class NoTypes(torch.nn.Module):  # MPNet: no token types
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--model", default=MODEL)
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    name = os.path.basename(os.path.normpath(args.model))
    model = AutoModel.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.full((2, 16), 5, dtype=torch.long)
    path = os.path.join(OUT, name + ".onnx")
    types = getattr(model.config, "type_vocab_size", 0) and model.config.model_type != "mpnet"
    inputs = ["input_ids", "attention_mask"] + (["token_type_ids"] if types else [])
    args_ = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if types else ())
    torch.onnx.export(
        (Wrapper if types else NoTypes)(model), args_, path,
        input_names=inputs, output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "seq"} for n in inputs + ["last_hidden_state"]},
        opset_version=17, dynamo=False,
    )
    print("wrote", path)
    if args.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        q = os.path.join(OUT, name + "-int8.onnx")
        quantize_dynamic(path, q, per_channel=True, weight_type=QuantType.QInt8)
        print("wrote", q)


if __name__ == "__main__":
    main()
