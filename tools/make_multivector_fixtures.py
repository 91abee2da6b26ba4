#!/usr/bin/env python3
"""References for tests/multivector.test.ts: bge-m3's three outputs from FlagEmbedding and ColBERT vectors from pylate.

  m3        FlagEmbedding 1.4's BGEM3FlagModel.encode (dense, lexical weights, ColBERT vectors) on two XLM-R encoders
            with seeded bge-m3 heads (colbert_linear.pt, sparse_linear.pt saved as FlagEmbedding saves them, F16):
              m3     the seeded XLM-R of tests/fixtures/families/xlm-roberta (hidden 16), CLS pooling: 200 inputs
                     (corpus lines, 10 at the 128-token limit, literal pad tokens)
              m3-e5  the real multilingual-e5-small (tools/fetch_real_models.sh), hidden 384, colbert_dim 64: 40 corpus lines
            Stored per text: dense, every lexical weight (id, value), the ColBERT vectors of every eighth text (of
            every twentieth for m3-e5: 64 floats a token), and M3's colbert_score of each text against the next.
            FlagEmbedding 1.4 imports a decoder-only reranker written for transformers 4 at package import; that one
            module's missing import is stubbed here (the M3 code path never touches it).
            Run: tools/.venv/bin/python tools/make_multivector_fixtures.py m3
  colbert   pylate 1.6's ColBERT on the embedded all-MiniLM-L6-v2 with a seeded Dense 384 -> 128 (F16), prefixes
            [unused0] / [unused1] (in BERT's vocabulary, so the checkpoint is the embedded one), query_length 32
            with [MASK] expansion not attended to, document_length 180, the punctuation skip-list: 200 documents
            (corpus lines, 8 past 180 tokens), 60 queries (8 past 32 tokens). Stored: the kept-token count of every
            output, the vectors of every 64th document and 30th query (float16), pylate's colbert_scores of every query
            against every document.
            pylate 1.6 pins sentence-transformers 5.3 and transformers <= 5.3, so it runs in its own venv that
            borrows torch and the rest from tools/.venv:
              python3 -m venv tools/.venv-pylate
              echo "$PWD/tools/.venv/lib/python3.11/site-packages" > tools/.venv-pylate/lib/python3.11/site-packages/zz_main.pth
              tools/.venv-pylate/bin/pip install --no-deps sentence-transformers==5.3.0 transformers==5.3.0 pylate==1.6.0 tokenizers==0.22.2
              tools/.venv-pylate/bin/pip install httpx 'huggingface-hub>=1.3,<2'
            Run: tools/.venv-pylate/bin/python tools/make_multivector_fixtures.py colbert
  tokens    sentence-transformers' encode(output_value="token_embeddings") on the embedded all-MiniLM-L6-v2, 200 corpus
            lines (10 past its 256-token limit): every token vector of every hundredth text, and for every text each
            token vector's dot products with 2 fixed random unit directions (all tokens checked, 2 floats a token).
            Run: tools/.venv/bin/python tools/make_multivector_fixtures.py tokens
Writes tests/fixtures/outputs/{m3,m3-e5,colbert,tokens}.json.gz and the head files under tests/fixtures/outputs/<name>/; then
npx tsx tools/compress_fixtures.ts.
"""
import base64
import gzip
import io
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "outputs")
MODELS = os.environ.get("BERTRT_REAL_MODELS", os.path.join(ROOT, ".scratch", "real-models"))


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def b64_f16(a):
    """unit vectors rounded to float16 (relative error 2^-11: a cosine error near 1e-7, far inside the test's 1e-5)"""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f2").tobytes()).decode()


def corpus():
    return [t for t in json.load(gzip.open(os.path.join(FIX, "tokenizer", "corpus.json.gz"), "rt", encoding="utf-8")) if t.strip()]


def longs(texts, tok_len, limit, n, start):
    out = []
    for k in range(n):
        s, i = "", start + k * 37
        while tok_len(s) < limit:
            s = (s + " " + texts[i % len(texts)]).strip()
            i += 1
        out.append(s)
    return out


def write(name, doc):
    with gzip.GzipFile(os.path.join(OUT, name + ".json.gz"), "wb", compresslevel=9, mtime=0) as g, io.TextIOWrapper(g, encoding="utf-8") as f:
        json.dump(doc, f)


# --------------------------------------------------------------------------------------------------------- bge-m3
def m3_model(name, src, tokenizer_json, hidden, pooling_dir, colbert_dim):
    """A bge-m3 folder in a temp dir: the encoder's files, CLS pooling, seeded heads (also kept under OUT/name)."""
    d = tempfile.mkdtemp()
    for f in os.listdir(src):
        p = os.path.join(src, f)
        if os.path.isfile(p):
            shutil.copy(p, d)
    if tokenizer_json:
        open(os.path.join(d, "tokenizer.json"), "wb").write(tokenizer_json)
    keep = os.path.join(OUT, name)
    shutil.rmtree(keep, ignore_errors=True)
    os.makedirs(os.path.join(keep, "1_Pooling"))
    pool = {"word_embedding_dimension": hidden, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    for base in (d, keep):
        os.makedirs(os.path.join(base, "1_Pooling"), exist_ok=True)
        json.dump(pool, open(os.path.join(base, "1_Pooling", "config.json"), "w"))
    if pooling_dir:  # the encoder folder has no sentence-transformers files: add them
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
                  open(os.path.join(d, "modules.json"), "w"))
    g = torch.Generator().manual_seed(3)
    colbert = {"weight": (torch.randn(colbert_dim, hidden, generator=g) / hidden ** 0.5).half(), "bias": (torch.randn(colbert_dim, generator=g) * 0.1).half()}
    # sparse: a positive bias so that about half the tokens get a weight
    sparse = {"weight": (torch.randn(1, hidden, generator=g) / hidden ** 0.5).half(), "bias": torch.tensor([0.05]).half()}
    for base in (d, keep):
        torch.save(colbert, os.path.join(base, "colbert_linear.pt"))
        torch.save(sparse, os.path.join(base, "sparse_linear.pt"))
    return d


def m3_refs(name, d, texts, max_len, colbert_every, colbert_dim):
    import types
    stub = types.ModuleType("transformers.modeling_attn_mask_utils")
    for n in ["AttentionMaskConverter", "_prepare_4d_attention_mask", "_prepare_4d_causal_attention_mask", "_prepare_4d_causal_attention_mask_for_sdpa"]:
        setattr(stub, n, lambda *a, **k: None)
    sys.modules.setdefault("transformers.modeling_attn_mask_utils", stub)
    from FlagEmbedding import BGEM3FlagModel
    m = BGEM3FlagModel(d, use_fp16=False, devices="cpu", normalize_embeddings=True, colbert_dim=colbert_dim)
    out = m.encode(texts, batch_size=16, max_length=max_len, return_dense=True, return_sparse=True, return_colbert_vecs=True)
    rec = []
    for i, t in enumerate(texts):
        lw = sorted((int(k), float(v)) for k, v in out["lexical_weights"][i].items())
        r = {"text": t, "dense": b64(out["dense_vecs"][i]), "sparse_ids": [k for k, _ in lw], "sparse_values": b64([v for _, v in lw]),
             "colbert_rows": int(out["colbert_vecs"][i].shape[0])}
        if i % colbert_every == 0:
            r["colbert"] = b64(out["colbert_vecs"][i])
        if i + 1 < len(texts):
            r["colbert_score_next"] = float(m.colbert_score(out["colbert_vecs"][i], out["colbert_vecs"][i + 1]))
        rec.append(r)
    write(name, {"model": name, "max_length": max_len, "texts": rec})
    print(name, len(rec), "texts")


def m3():
    import brotli
    from tokenizers import Tokenizer
    texts = corpus()
    rs = np.random.RandomState(23)
    xlmr = brotli.decompress(open(os.path.join(FIX, "tokenizer", "xlmr.tokenizer.json.br"), "rb").read())
    tok = Tokenizer.from_str(xlmr.decode())
    pick = [texts[i] for i in rs.choice(len(texts), 188, replace=False)]
    items = pick + longs(texts, lambda s: len(tok.encode(s).ids), 140, 10, 11) + ["Hello <pad> world.", "<pad><pad> starts padded <pad>"]
    d = m3_model("m3", os.path.join(FIX, "families", "xlm-roberta"), xlmr, 16, False, 16)
    m3_refs("m3", d, items, 128, 8, 16)
    e5 = os.path.join(MODELS, "multilingual-e5-small")
    if os.path.exists(os.path.join(e5, "model.safetensors")):
        d = m3_model("m3-e5", e5, None, 384, not os.path.exists(os.path.join(e5, "modules.json")), 64)
        m3_refs("m3-e5", d, [texts[i] for i in rs.choice(len(texts), 40, replace=False)], 512, 20, 64)
    else:
        print("skipped m3-e5: run tools/fetch_real_models.sh first")


# --------------------------------------------------------------------------------------------------------- ColBERT
def colbert():
    from pylate import models, scores
    torch.manual_seed(5)
    src = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
    m = models.ColBERT(model_name_or_path=src, device="cpu", query_prefix="[unused0]", document_prefix="[unused1]",
                       query_length=32, document_length=180, embedding_size=128)
    tmp = tempfile.mkdtemp()
    m.save(tmp)
    # the Dense weights in F16 (half the bytes in the tree); the reference reloads them into FP32
    from safetensors.torch import load_file, save_file
    dense = os.path.join(tmp, "1_Dense", "model.safetensors")
    save_file({k: v.half() for k, v in load_file(dense).items()}, dense)
    keep = os.path.join(OUT, "colbert")
    shutil.rmtree(keep, ignore_errors=True)
    os.makedirs(os.path.join(keep, "1_Dense"))
    for f in ["modules.json", "config_sentence_transformers.json", "1_Dense/config.json", "1_Dense/model.safetensors"]:
        shutil.copy(os.path.join(tmp, f), os.path.join(keep, f))
    m = models.ColBERT(model_name_or_path=tmp, device="cpu", model_kwargs={"dtype": torch.float32})
    m.float()
    assert m.query_prefix_id == m.tokenizer.convert_tokens_to_ids("[unused0]") and len(m.tokenizer) == 30522
    texts = corpus()
    rs = np.random.RandomState(29)
    tl = lambda s: len(m.tokenizer(s)["input_ids"])
    docs = [texts[i] for i in rs.choice(len(texts), 192, replace=False)] + longs(texts, tl, 200, 8, 5)
    queries = [texts[i][:120] for i in rs.choice(len(texts), 52, replace=False)] + longs(texts, tl, 40, 8, 17)
    d_emb = m.encode(docs, is_query=False, batch_size=16)
    q_emb = m.encode(queries, is_query=True, batch_size=16)
    # pylate's scorer, one document at a time: over a padded batch it multiplies padded rows by a zero mask, so a
    # query token whose similarities to a short document are all negative would score 0 there instead of its max
    qs = torch.stack([torch.as_tensor(q) for q in q_emb])
    sc = torch.cat([scores.colbert_scores(qs, torch.as_tensor(x)[None]) for x in d_emb], dim=1)
    # and an unpadded float64 max-sim of our own beside it
    q64 = [np.asarray(q, dtype=np.float64) for q in q_emb]
    d64 = [np.asarray(x, dtype=np.float64) for x in d_emb]
    direct = np.array([[float((q @ x.T).max(1).sum()) for x in d64] for q in q64])
    assert np.abs(direct - sc.numpy()).max() < 1e-4, np.abs(direct - sc.numpy()).max()
    doc = {
        "documents": [{"text": t, "rows": int(e.shape[0]), **({"vectors16": b64_f16(e)} if i % 64 == 0 else {})} for i, (t, e) in enumerate(zip(docs, d_emb))],
        "queries": [{"text": t, "rows": int(e.shape[0]), **({"vectors16": b64_f16(e)} if i % 30 == 0 else {})} for i, (t, e) in enumerate(zip(queries, q_emb))],
        "scores": b64(direct[:, :60]),  # every query against the first 60 documents
    }
    write("colbert", doc)
    print("colbert", len(docs), "documents", len(queries), "queries")


# ---------------------------------------------------------------------------------------------- token vectors
def tokens():
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(os.path.join(ROOT, "models", "all-MiniLM-L6-v2"), device="cpu", model_kwargs={"dtype": torch.float32})
    texts = corpus()
    rs = np.random.RandomState(31)
    tl = lambda s: len(st.tokenizer(s)["input_ids"])
    items = [texts[i] for i in rs.choice(len(texts), 190, replace=False)] + longs(texts, tl, 300, 10, 3)
    emb = st.encode(items, output_value="token_embeddings", batch_size=16, convert_to_numpy=False)
    dirs = rs.standard_normal((2, 384))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    rec = []
    for i, (t, e) in enumerate(zip(items, emb)):
        e = e.float().numpy().astype(np.float64)
        r = {"text": t, "rows": int(e.shape[0]), "proj": b64(e @ dirs.T)}
        if i % 100 == 0:
            r["vectors"] = b64(e)
        rec.append(r)
    write("tokens", {"directions": b64(dirs), "texts": rec})
    print("tokens", len(rec), "texts")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    {"m3": m3, "colbert": colbert, "tokens": tokens}[sys.argv[1]]()
