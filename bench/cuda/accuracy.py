#!/usr/bin/env python3
"""Accuracy of the CUDA backend's precisions on a real model, for the GPU machine (no Node.js there): the embedded
all-MiniLM-L6-v2 (models/, the real checkpoint) through libbertrt_cuda.so's C interface (bertrt_cuda.h, called with
ctypes) against HF transformers' FP32 BertModel on the CPU, on the 6,000 sentences of bench/data/serve-sentences.txt.gz
tokenized by HF tokenizers (whose ids equal bertrt's: tests/tokenizer-conformance.test.ts).

Each precision the library can run here -- FP16, INT8 and FP8 on cuBLASLt where it loads, INT8 on the own kernels
(BERTRT_CUBLASLT=0) -- embeds every sentence (packed batches of 64, mean pooling over the tokens, unit length, as the
model's sentence-transformers pooling does) and is compared with the reference's vectors: the cosine per sentence
(mean and min), and how often each sentence's nearest other sentence is the reference's (top-1 agreement). The GPU
issue's gates: FP16 mean cosine >= 0.9999; INT8 and FP8 mean cosine >= 0.995. One JSON object per line.

Usage: python3 bench/cuda/accuracy.py [path/to/libbertrt_cuda.so] (default build/cuda/libbertrt_cuda.so)
"""
import ctypes as C
import gzip
import json
import os
import sys

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
ABI = 5
FP16, INT8, FP8 = 0, 1, 2
F = C.POINTER(C.c_float)


class Config(C.Structure):  # bertrt_cuda_config, field for field
    _fields_ = [(n, C.c_int) for n in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                                       "max_positions", "type_vocab_size")] + [
        ("layer_norm_eps", C.c_float), ("padding_idx", C.c_int), ("rotary", C.c_int), ("rope_theta", C.c_float),
        ("rope_ntk", C.c_float), ("gated", C.c_int), ("activation", C.c_int), ("rel_span", C.c_int),
        ("modern", C.c_int), ("rope_theta_local", C.c_float), ("global_every", C.c_int), ("local_window", C.c_int),
        ("disentangled_span", C.c_int), ("embedding_size", C.c_int), ("layer_groups", C.c_int)]


class Embeddings(C.Structure):  # bertrt_cuda_embeddings
    _fields_ = [(n, F) for n in ("word", "pos", "type", "ln_g", "ln_b", "rel_bias", "final_g", "final_b")] + [
        ("pos_index", C.POINTER(C.c_int32)), ("proj_w", F), ("proj_b", F)]


class Layer(C.Structure):  # bertrt_cuda_layer
    _fields_ = [(n, F) for n in ("q_w", "q_b", "k_w", "k_b", "v_w", "v_b", "o_w", "o_b", "ln1_g", "ln1_b", "i_w", "i_b",
                                 "f_w", "f_b", "ln2_g", "ln2_b", "u_w", "u_b", "pq", "pk")]


def open_library(path):
    lib = C.CDLL(path)
    lib.bertrt_cuda_abi.restype = C.c_int
    lib.bertrt_cuda_probe.argtypes = [C.c_int, C.c_char_p, C.c_size_t]
    lib.bertrt_cuda_create.argtypes = [C.POINTER(Config), C.POINTER(Embeddings), C.POINTER(Layer), C.c_int, C.c_int,
                                       C.POINTER(C.c_void_p), C.c_char_p, C.c_size_t]
    lib.bertrt_cuda_forward.argtypes = [C.c_void_p, C.POINTER(C.c_int32), C.POINTER(C.c_int32), C.POINTER(C.c_int32),
                                        C.c_int, C.c_int, F, C.c_char_p, C.c_size_t]
    lib.bertrt_cuda_destroy.argtypes = [C.c_void_p]
    lib.bertrt_cuda_describe.argtypes = [C.c_void_p, C.c_char_p, C.c_size_t]
    return lib


def weights(model):
    """The checkpoint's tensors as contiguous FP32 arrays (kept alive by the dict) and the C structs pointing at them."""
    sd = {k: np.ascontiguousarray(v.detach().float().numpy()) for k, v in model.state_dict().items()}
    p = lambda name: sd[name].ctypes.data_as(F)  # noqa: E731
    cfg = model.config
    c = Config(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_layers=cfg.num_hidden_layers,
               num_heads=cfg.num_attention_heads, intermediate_size=cfg.intermediate_size,
               max_positions=cfg.max_position_embeddings, type_vocab_size=cfg.type_vocab_size,
               layer_norm_eps=cfg.layer_norm_eps, padding_idx=-1, activation=0)
    emb = Embeddings(word=p("embeddings.word_embeddings.weight"), pos=p("embeddings.position_embeddings.weight"),
                     type=p("embeddings.token_type_embeddings.weight"), ln_g=p("embeddings.LayerNorm.weight"),
                     ln_b=p("embeddings.LayerNorm.bias"))
    layers = (Layer * cfg.num_hidden_layers)()
    for i in range(cfg.num_hidden_layers):
        q = lambda s: p(f"encoder.layer.{i}.{s}")  # noqa: E731
        layers[i] = Layer(q("attention.self.query.weight"), q("attention.self.query.bias"),
                          q("attention.self.key.weight"), q("attention.self.key.bias"),
                          q("attention.self.value.weight"), q("attention.self.value.bias"),
                          q("attention.output.dense.weight"), q("attention.output.dense.bias"),
                          q("attention.output.LayerNorm.weight"), q("attention.output.LayerNorm.bias"),
                          q("intermediate.dense.weight"), q("intermediate.dense.bias"),
                          q("output.dense.weight"), q("output.dense.bias"),
                          q("output.LayerNorm.weight"), q("output.LayerNorm.bias"))
    return sd, c, emb, layers


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def reference(model, batches):
    out = []
    with torch.inference_mode():
        for ids in batches:
            n = max(len(s) for s in ids)
            x = torch.zeros(len(ids), n, dtype=torch.long)
            mask = torch.zeros(len(ids), n, dtype=torch.long)
            for r, s in enumerate(ids):
                x[r, :len(s)] = torch.tensor(s)
                mask[r, :len(s)] = 1
            h = model(input_ids=x, attention_mask=mask, token_type_ids=torch.zeros_like(x)).last_hidden_state
            m = mask.unsqueeze(-1).float()
            out.append(((h * m).sum(1) / m.sum(1)).numpy())
    return unit(np.concatenate(out).astype(np.float64))


def ours(lib, model_ptr, batches, hidden):
    err = C.create_string_buffer(512)
    out = []
    for ids in batches:
        flat = np.ascontiguousarray(np.concatenate([np.asarray(s, dtype=np.int32) for s in ids]))
        cu = np.zeros(len(ids) + 1, dtype=np.int32)
        cu[1:] = np.cumsum([len(s) for s in ids])
        h = np.empty((len(flat), hidden), dtype=np.float32)
        i32 = C.POINTER(C.c_int32)
        rc = lib.bertrt_cuda_forward(model_ptr, flat.ctypes.data_as(i32), None, cu.ctypes.data_as(i32), len(ids),
                                     len(flat), h.ctypes.data_as(F), err, 512)
        if rc != 0:
            raise RuntimeError(err.value.decode())
        out.extend(h[cu[i]:cu[i + 1]].mean(0) for i in range(len(ids)))
    return unit(np.asarray(out, dtype=np.float64))


def top1(v):
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    return s.argmax(1)


def main():
    lib_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "cuda", "libbertrt_cuda.so")
    lib = open_library(lib_path)
    info = C.create_string_buffer(512)
    if lib.bertrt_cuda_abi() != ABI:
        sys.exit(f"accuracy.py: {lib_path} has ABI {lib.bertrt_cuda_abi()}, this script speaks {ABI}")
    if lib.bertrt_cuda_probe(0, info, 512) != 0:
        sys.exit(f"accuracy.py: no usable GPU: {info.value.decode()}")
    print(json.dumps({"device": info.value.decode(), "torch": torch.__version__}), flush=True)
    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)  # the model's max_seq_length (sentence_bert_config.json)
    with gzip.open(os.path.join(ROOT, "bench", "data", "serve-sentences.txt.gz"), "rt", encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f if line.strip()]
    ids = [e.ids for e in tok.encode_batch(sentences)]
    batches = [ids[i:i + 64] for i in range(0, len(ids), 64)]
    torch.set_num_threads(os.cpu_count() or 1)
    model = BertModel.from_pretrained(MODEL, add_pooling_layer=False, dtype=torch.float32).eval()  # (the file is F16)
    ref = reference(model, batches)
    ref_top1 = top1(ref)
    keep, cfg, emb, layers = weights(model)
    # cuBLASLt as run.sh found it (its path in BERTRT_CUBLASLT), else the loader's; off for the own kernels' INT8
    lt_choice = os.environ.get("BERTRT_CUBLASLT", "1")
    for label, precision in (("fp16", FP16), ("int8", INT8), ("int8-own", INT8), ("fp8", FP8)):
        os.environ["BERTRT_CUBLASLT"] = "0" if label == "int8-own" else lt_choice  # (read at each model's creation)
        handle = C.c_void_p()
        err = C.create_string_buffer(1024)
        rc = lib.bertrt_cuda_create(C.byref(cfg), C.byref(emb), layers, precision, 0, C.byref(handle), err, 1024)
        if rc != 0:
            print(json.dumps({"accuracy": "all-MiniLM-L6-v2", "precision": label, "error": err.value.decode()}), flush=True)
            continue
        lib.bertrt_cuda_describe(handle, info, 512)
        try:
            v = ours(lib, handle, batches, cfg.hidden_size)
        finally:
            lib.bertrt_cuda_destroy(handle)
        cos = (v * ref).sum(1)
        gate = 0.9999 if precision == FP16 else 0.995
        print(json.dumps({"accuracy": "all-MiniLM-L6-v2", "precision": label, "sentences": len(sentences),
                          "cosine_mean": round(float(cos.mean()), 6), "cosine_min": round(float(cos.min()), 6),
                          "top1_agreement": round(float((top1(v) == ref_top1).mean()), 4), "gate_mean": gate,
                          "gate_met": bool(cos.mean() >= gate), "gemm": info.value.decode()}), flush=True)


if __name__ == "__main__":
    main()
