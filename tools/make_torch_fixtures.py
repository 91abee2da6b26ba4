#!/usr/bin/env python3
"""pytorch_model.bin fixtures written by torch.save itself, for tests/torch.test.ts (lib/model/torch.ts).

tests/fixtures/torch/
  bert-bin/          a seeded tiny BERT (vocab 96, hidden 16, 2 heads, 2 layers) as pytorch_model.bin: word
                     embeddings BF16, layer 0 F16, the rest F32, plus the int64 position_ids buffer, the way
                     transformers' save_pretrained(safe_serialization=False) writes a state dict (torch.save of an
                     OrderedDict with _metadata)
  bert-safetensors/  the same state dict through safetensors.torch.save_file: the reference the .bin must equal bit
                     for bit
  tensors.bin        one tensor per storage class and layout: F32 / F16 / BF16 / F64 / I64 / I32 / I8 / U8 / BOOL, a
                     0-d scalar, two names sharing one storage (tied), views at an offset, an empty tensor;
  tensors.json       each tensor's dtype, shape and values as torch's tolist() gives them (float64 in JSON)
  strided.bin        a transposed (non-contiguous) view, which the reader must refuse
  evil-*.bin         pickles that call os.system, builtins.eval, subprocess via a class's __reduce__, build an
                     object (NEWOBJ / BUILD on a class), or name an unknown global: each must be refused, and none of
                     their commands may run (each would create a marker file the test checks for)
With --embedded DIR: also the embedded model (models/all-MiniLM-L6-v2) as DIR/pytorch_model.bin beside its config,
for the local check in tests/torch.test.ts (45 MB; not committed).
Run: tools/.venv/bin/python tools/make_torch_fixtures.py [--embedded .scratch/torch-minilm]
"""
import collections
import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "torch")
MARKER = "/tmp/bertrt-pickle-ran"


def state_dict(tensors):
    sd = collections.OrderedDict(tensors)
    sd._metadata = collections.OrderedDict({"": {"version": 1}, "embeddings": {"version": 1}})
    return sd


def tiny_bert():
    g = torch.Generator().manual_seed(1234)
    V, H, I, L, P = 96, 16, 32, 2, 64

    def r(*shape, dtype=torch.float32, scale=0.5):
        return (torch.randn(*shape, generator=g) * scale).to(dtype)

    t = collections.OrderedDict()
    t["embeddings.word_embeddings.weight"] = r(V, H, dtype=torch.bfloat16)
    t["embeddings.position_embeddings.weight"] = r(P, H)
    t["embeddings.token_type_embeddings.weight"] = r(2, H)
    t["embeddings.LayerNorm.weight"] = 1 + r(H, scale=0.1)
    t["embeddings.LayerNorm.bias"] = r(H, scale=0.1)
    t["embeddings.position_ids"] = torch.arange(P).unsqueeze(0)
    for l in range(L):
        dt = torch.float16 if l == 0 else torch.float32
        p = f"encoder.layer.{l}."
        for m in ("query", "key", "value"):
            t[p + f"attention.self.{m}.weight"] = r(H, H, dtype=dt)
            t[p + f"attention.self.{m}.bias"] = r(H, dtype=dt, scale=0.1)
        t[p + "attention.output.dense.weight"] = r(H, H, dtype=dt)
        t[p + "attention.output.dense.bias"] = r(H, dtype=dt, scale=0.1)
        t[p + "attention.output.LayerNorm.weight"] = 1 + r(H, dtype=dt, scale=0.1)
        t[p + "attention.output.LayerNorm.bias"] = r(H, dtype=dt, scale=0.1)
        t[p + "intermediate.dense.weight"] = r(I, H, dtype=dt)
        t[p + "intermediate.dense.bias"] = r(I, dtype=dt, scale=0.1)
        t[p + "output.dense.weight"] = r(H, I, dtype=dt)
        t[p + "output.dense.bias"] = r(H, dtype=dt, scale=0.1)
        t[p + "output.LayerNorm.weight"] = 1 + r(H, dtype=dt, scale=0.1)
        t[p + "output.LayerNorm.bias"] = r(H, dtype=dt, scale=0.1)
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": V, "hidden_size": H,
        "num_hidden_layers": L, "num_attention_heads": 2, "intermediate_size": I, "hidden_act": "gelu",
        "max_position_embeddings": P, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    }
    return t, config


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


class Obj:  # pickled with NEWOBJ-free REDUCE of copyreg / BUILD of its __dict__
    def __init__(self):
        self.x = 1


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    t, config = tiny_bert()
    for name in ("bert-bin", "bert-safetensors"):
        os.makedirs(os.path.join(OUT, name))
        with open(os.path.join(OUT, name, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
    torch.save(state_dict(t), os.path.join(OUT, "bert-bin", "pytorch_model.bin"))
    save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(OUT, "bert-safetensors", "model.safetensors"))

    base = torch.arange(24, dtype=torch.float32) / 7 - 1
    tensors = collections.OrderedDict()
    tensors["f32"] = base.reshape(2, 3, 4)
    tensors["f16"] = (base * 3).to(torch.float16).reshape(4, 6)
    tensors["bf16"] = (base * 5).to(torch.bfloat16)
    tensors["f64"] = (base.double() / 3).reshape(6, 4)
    tensors["i64"] = torch.arange(-3, 5, dtype=torch.int64)
    tensors["i32"] = torch.arange(-2, 4, dtype=torch.int32).reshape(2, 3)
    tensors["i8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    tensors["u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    tensors["bool"] = torch.tensor([True, False, True])
    tensors["scalar"] = torch.tensor(2.5)
    tensors["tied"] = tensors["f32"]
    tensors["row1"] = tensors["f16"][1]  # a view at offset 6 of f16's storage
    tensors["tail"] = base[20:]  # a view of a storage that no other name holds
    tensors["empty"] = torch.zeros(0, 4)
    torch.save(state_dict(tensors), os.path.join(OUT, "tensors.bin"))
    ref = {}
    for k, v in tensors.items():
        ref[k] = {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "values": v.flatten().tolist()}
    with open(os.path.join(OUT, "tensors.json"), "w") as f:
        json.dump(ref, f)
    torch.save(state_dict({"t": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()}), os.path.join(OUT, "strided.bin"))

    # Hostile pickles inside a genuine torch zip (torch.save writes whatever object it is given)
    evil = {
        "os-system": Evil(os.system, f"touch {MARKER}-os-system"),
        "eval": Evil(eval, f"open('{MARKER}-eval', 'w')"),
        "subprocess": Evil(__import__("subprocess").call, ["touch", f"{MARKER}-subprocess"]),
        "object": Obj(),
        "in-tensor-dict": collections.OrderedDict({"w": torch.ones(2), "x": Evil(os.system, f"touch {MARKER}-nested")}),
    }
    for name, obj in evil.items():
        torch.save(obj, os.path.join(OUT, f"evil-{name}.bin"))

    if "--embedded" in sys.argv:
        dst = sys.argv[sys.argv.index("--embedded") + 1]
        src = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
        os.makedirs(dst, exist_ok=True)
        shutil.copy(os.path.join(src, "config.json"), dst)
        torch.save(state_dict(load_file(os.path.join(src, "model.safetensors"))), os.path.join(dst, "pytorch_model.bin"))
        print("wrote", dst)


if __name__ == "__main__":
    main()
