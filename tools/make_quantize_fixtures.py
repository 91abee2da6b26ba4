#!/usr/bin/env python3
"""sentence-transformers' quantize_embeddings on the golden MiniLM vectors, for tests/quantize.test.ts.

Inputs: the first 40 normalized all-MiniLM-L6-v2 embeddings of tests/fixtures/golden-minilm.json.gz (made by
tools/make_golden.py), plus a small matrix with a constant column (a zero-width range: sentence-transformers then uses
a step of 1) and a dimension that is not a multiple of 8 (packbits pads). Outputs, as base64 bytes: int8 and uint8 with
ranges from the embeddings themselves, from calibration embeddings (the first 20 calibrate the last 20) and given
explicitly; binary and ubinary. Writes tests/fixtures/quantize.json.gz.
Run: tools/.venv/bin/python tools/make_quantize_fixtures.py
"""
import base64
import gzip
import io
import json
import os

import numpy as np
from sentence_transformers.quantization import quantize_embeddings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def main():
    golden = json.loads(__import__("brotli").decompress(open(os.path.join(ROOT, "tests", "fixtures", "golden-minilm.json.br"), "rb").read()))
    emb = np.stack([np.frombuffer(base64.b64decode(s["embedding"]), dtype="<f4") for s in golden["sentences"][:40]])
    small = np.array([[0.5, -1.0, 0.25, 2.0, 0.0, -0.125, 0.75, 1.5, -2.0, 0.3],
                      [0.5, 1.0, -0.25, -2.0, 0.1, 0.125, -0.75, 0.5, 2.0, -0.3],
                      [0.5, 0.2, 0.0, 1.0, -0.1, 0.0, 0.0, -1.5, 0.0, 0.0]], dtype=np.float32)
    ranges = np.array([np.full(emb.shape[1], -0.15, dtype=np.float32), np.full(emb.shape[1], 0.15, dtype=np.float32)])
    out = {"dim": int(emb.shape[1]), "n": int(emb.shape[0]), "small": b64(small), "small_shape": list(small.shape), "cases": []}
    def case(name, data, precision, **kw):
        q = quantize_embeddings(data, precision=precision, **kw)
        out["cases"].append({"name": name, "input": name.split(":")[0], "precision": precision, "dtype": str(q.dtype),
                             "shape": list(q.shape), "data": b64(q)})
    for p in ["int8", "uint8"]:
        case(f"golden:{p}:self", emb, p)
        case(f"golden:{p}:calibration", emb[20:], p, calibration_embeddings=emb[:20])
        case(f"golden:{p}:ranges", emb, p, ranges=ranges)
        case(f"small:{p}:self", small, p)
    for p in ["binary", "ubinary"]:
        case(f"golden:{p}", emb, p)
        case(f"small:{p}", small, p)
    out["ranges"] = [-0.15, 0.15]
    with gzip.GzipFile(os.path.join(ROOT, "tests", "fixtures", "quantize.json.gz"), "wb", compresslevel=9, mtime=0) as g, io.TextIOWrapper(g, encoding="utf-8") as f:
        json.dump(out, f)
    print(len(out["cases"]), "cases")


if __name__ == "__main__":
    main()
