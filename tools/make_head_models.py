#!/usr/bin/env python3
"""Tiny BERT models with task heads, and HF pipeline outputs on them, for tests/heads.test.ts.

No fine-tuned head checkpoints are available offline, so this script makes them: seeded random BERT encoders
(2 layers, hidden 16, 2 heads) over the multilingual test vocabulary (tests/fixtures/tokenizer/
multilingual.tokenizer.json, ~9,900 tokens), each with a real head and a real config (id2label, problem_type),
saved as HF directories with model.safetensors (F16, to keep the fixtures small; references run in FP32 on the
F16-rounded weights). initializer_range is raised so outputs are far from uniform and
rankings are not decided by rounding. Models:
  classifier   BertForSequenceClassification, 3 labels (softmax)
  multilabel   BertForSequenceClassification, 3 labels, problem_type multi_label_classification (sigmoid)
  ner          BertForTokenClassification, BIO labels for PER / LOC / ORG
  mlm          BertForMaskedLM (decoder tied to the word embeddings)
  reranker     BertForSequenceClassification, 1 label (a cross-encoder: sigmoid)
  nli          BertForSequenceClassification, labels contradiction / neutral / entailment (zero-shot-classification)
  (pooling)    sentence-transformers Transformer(classifier's encoder) + Pooling(weightedmean | lasttoken):
               the unnormalized sentence embeddings of TEXTS (the test rebuilds the ST folder around the weights)
  nsp          BertForNextSentencePrediction: softmax of its two logits (index 0 = "is next") for PAIRS
  distilbert   DistilBertModel (other weight names, no token types, no pooler): last hidden states recorded
  st-dense     sentence-transformers modules after the encoder: Pooling, three Dense modules, Normalize
  (chunked)    chunk-and-pool of a long text over the classifier's encoder (windows of 64 tokens, overlap 8)
Fixture: tests/fixtures/heads/expected.json (stored brotli-compressed as expected.json.br: compress it after a run), from transformers' pipelines (text-classification with top_k=None,
token-classification with aggregation none, simple, first, average and max, fill-mask with top_k and targets) and, for the reranker,
sigmoid of the logit as sentence-transformers' CrossEncoder computes it.
Run: tools/.venv/bin/python tools/make_head_models.py
"""
import json
import os
import shutil

import torch
from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, BertForNextSentencePrediction,
                          BertForSequenceClassification, BertTokenizerFast,
                          DistilBertConfig, DistilBertModel,
                          BertForTokenClassification, pipeline)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "heads")
TOKENIZER = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "multilingual.tokenizer.json")

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
TEXTS = ["The weather is lovely today.", "Mr. O'Neil flew from Paris to New York City.", "Zażółć gęślą jaźń, São Paulo!",
         "I ❤️ NY 🗽 — best trip ever", "東京は日本の首都です。", "", "a", "Angela Merkel met Emmanuel Macron in Berlin."]
PAIRS = [("A man is eating food.", "A man is eating a piece of bread."), ("How old are you?", "The weather is nice."),
         ("Paris is in France.", "Paris is the capital of France.")]


LONG = " ".join(TEXTS[1:3] + TEXTS[7:8]) * 3

VOCAB = len(json.load(open(TOKENIZER, encoding="utf-8"))["model"]["vocab"])


def config(**kw):
    return BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                      max_position_embeddings=64, initializer_range=0.5, **kw)


def save(model, name, tok):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    # The word table (~10,000 x 16, most of a fixture's bytes) rounded to multiples of 1/8: random F16 mantissas do
    # not compress, a coarse grid does (about a third of the bytes), and the values are as good a random init. F16 on
    # disk keeps the fixtures small; the in-memory model and every reference below run in FP32 on the same rounded
    # weights.
    with torch.no_grad():
        table = model.get_input_embeddings().weight
        table.copy_(torch.round(table * 8) / 8)
    model.half().save_pretrained(d, safe_serialization=True)
    model.float()
    tok.save_pretrained(d)
    for f in ["vocab.txt", "special_tokens_map.json"]:
        p = os.path.join(d, f)
        if os.path.exists(p):
            os.remove(p)
    return d


def make_chunk_fixture(tok):
    """Chunk-and-pool reference for a text far over the classifier's 64 positions: HF tokenizers' overflowing
    windows (max_length 64, stride 8), BertModel's last hidden states per window, mean pooling per window, then the
    windows combined (mean weighted by each window's non-special tokens, or element-wise max) and L2-normalized."""
    from transformers import BertModel
    text = " ".join([TEXTS[1], TEXTS[2], TEXTS[7], TEXTS[3], TEXTS[0]] * 4)
    model = BertModel.from_pretrained(os.path.join(OUT, "classifier"), add_pooling_layer=False, dtype=torch.float32).eval()
    enc = tok(text, max_length=64, truncation=True, stride=8, return_overflowing_tokens=True, return_special_tokens_mask=True)
    vecs, weights = [], []
    with torch.no_grad():
        for ids, types, special in zip(enc["input_ids"], enc["token_type_ids"], enc["special_tokens_mask"]):
            h = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types])).last_hidden_state[0].double()
            vecs.append(h.mean(0))
            weights.append(len(ids) - sum(special))
    v = torch.stack(vecs)
    w = torch.tensor(weights, dtype=torch.float64)[:, None]
    mean = (v * w).sum(0) / w.sum()
    mx = v.max(0).values
    norm = lambda x: (x / x.norm()).tolist()
    return {"text": text, "overlap": 8, "windows": len(vecs), "mean": norm(mean), "max": norm(mx)}


def make_dense_fixture():
    """sentence-transformers Transformer(classifier) + Pooling(mean) + three Dense modules (Tanh; GELU with a
    residual; Identity without bias, with a projected residual) + Normalize. Only the modules after the Transformer
    are kept (st-dense/); the test puts them beside the classifier's weights."""
    import tempfile
    from torch import nn
    from sentence_transformers import SentenceTransformer, models as st_models
    torch.manual_seed(10)
    tr = st_models.Transformer(os.path.join(OUT, "classifier"), max_seq_length=64, model_kwargs={"dtype": torch.float32})
    mods = [tr, st_models.Pooling(16, pooling_mode="mean"),
            st_models.Dense(16, 12, activation_function=nn.Tanh()),
            st_models.Dense(12, 12, activation_function=nn.GELU(), use_residual=True),
            st_models.Dense(12, 8, bias=False, activation_function=nn.Identity(), use_residual=True),
            st_models.Normalize()]
    for m in mods[2:5]:
        with torch.no_grad():
            for prm in m.parameters():
                prm.normal_(0, 0.5)
    st = SentenceTransformer(modules=mods, device="cpu")
    texts = [t for t in TEXTS if t]
    d = os.path.join(OUT, "st-dense")
    shutil.rmtree(d, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        st.save(tmp)
        os.makedirs(d)
        shutil.copy(os.path.join(tmp, "modules.json"), d)
        for sub in sorted(os.listdir(tmp)):
            if sub[0].isdigit() and os.path.isdir(os.path.join(tmp, sub)):
                shutil.copytree(os.path.join(tmp, sub), os.path.join(d, sub))
    return {
        "texts": texts,
        "normalized": st.encode(texts, convert_to_numpy=True).tolist(),
        "truncated4": st.encode(texts, convert_to_numpy=True, truncate_dim=4, normalize_embeddings=True).tolist(),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = BertTokenizerFast(tokenizer_file=TOKENIZER, do_lower_case=False, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                                  cls_token="[CLS]", mask_token="[MASK]", model_max_length=64)
    out = {}
    torch.manual_seed(1)
    cls = BertForSequenceClassification(config(num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                                               label2id={"negative": 0, "neutral": 1, "positive": 2})).eval()
    d = save(cls, "classifier", tok)
    p = pipeline("text-classification", model=d, tokenizer=d, device="cpu", dtype=torch.float32)
    out["classifier"] = {
        "single": [p(t, top_k=None) for t in TEXTS],
        "top2": [p(t, top_k=2) for t in TEXTS],
        "pairs": [p({"text": a, "text_pair": b}, top_k=None) for a, b in PAIRS],
        # a text over the 64 positions, cut from the right (truncation=True)
        "long": {"text": LONG, "right": p(LONG, top_k=None, truncation=True)},
    }
    torch.manual_seed(2)
    ml = BertForSequenceClassification(config(num_labels=3, problem_type="multi_label_classification",
                                              id2label={0: "sports", 1: "politics", 2: "science"},
                                              label2id={"sports": 0, "politics": 1, "science": 2})).eval()
    d = save(ml, "multilabel", tok)
    p = pipeline("text-classification", model=d, tokenizer=d, device="cpu", dtype=torch.float32)
    out["multilabel"] = {"single": [p(t, top_k=None) for t in TEXTS]}
    torch.manual_seed(3)
    ner = BertForTokenClassification(config(num_labels=len(NER_LABELS), id2label=dict(enumerate(NER_LABELS)),
                                            label2id={l: i for i, l in enumerate(NER_LABELS)})).eval()
    d = save(ner, "ner", tok)
    out["ner"] = {}
    for agg in ["none", "simple", "first", "average", "max"]:
        p = pipeline("token-classification", model=d, tokenizer=d, device="cpu", dtype=torch.float32, aggregation_strategy=agg,
                     ignore_labels=[])
        res = [p(t) for t in TEXTS]
        out["ner"][agg] = [[{k: (float(v) if k == "score" else v) for k, v in e.items()} for e in r] for r in res]
    torch.manual_seed(4)
    mlm = BertForMaskedLM(config()).eval()
    d = save(mlm, "mlm", tok)
    p = pipeline("fill-mask", model=d, tokenizer=d, device="cpu", dtype=torch.float32)
    masked = ["The weather is [MASK] today.", "Paris is the [MASK] of France.", "[MASK]"]
    out["mlm"] = {
        "texts": masked,
        "top5": [[{k: (float(v) if k == "score" else v) for k, v in r.items()} for r in p(t, top_k=5)] for t in masked],
        "targets": [[{k: (float(v) if k == "score" else v) for k, v in r.items()} for r in p(t, targets=["Paris", "the", "is"])] for t in masked],
    }
    torch.manual_seed(5)
    rr = BertForSequenceClassification(config(num_labels=1)).eval()
    d = save(rr, "reranker", tok)
    t = AutoTokenizer.from_pretrained(d)
    query = "What is the capital of France?"
    docs = ["Paris is the capital of France.", "Berlin is in Germany.", "The weather is nice.", "France's capital city is Paris."]
    with torch.no_grad():
        logits = rr(**t([query] * len(docs), docs, return_tensors="pt", padding=True)).logits[:, 0]
    out["reranker"] = {"query": query, "documents": docs, "logits": logits.tolist(), "scores": torch.sigmoid(logits).tolist()}
    torch.manual_seed(8)
    nli = BertForSequenceClassification(config(num_labels=3, id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
                                               label2id={"contradiction": 0, "neutral": 1, "entailment": 2})).eval()
    d = save(nli, "nli", tok)
    p = pipeline("zero-shot-classification", model=d, tokenizer=d, device="cpu", dtype=torch.float32)
    labels = ["travel", "cooking", "dancing", "politics"]
    out["zeroshot"] = [
        {"text": t, "labels": labels, "multi_label": ml, "template": tpl, "result": p(t, candidate_labels=labels, multi_label=ml, hypothesis_template=tpl)}
        for t in TEXTS[:5] for ml in (False, True) for tpl in ("This example is {}.", "The topic is {}")
    ] + [{"text": TEXTS[1], "labels": ["travel"], "multi_label": False, "template": "This example is {}.",
          "result": p(TEXTS[1], candidate_labels=["travel"])}]
    from sentence_transformers import SentenceTransformer, models as st_models
    out["pooling"] = {}
    for mode in ["weightedmean", "lasttoken"]:
        tr = st_models.Transformer(os.path.join(OUT, "classifier"), max_seq_length=64, model_kwargs={"dtype": torch.float32})
        st = SentenceTransformer(modules=[tr, st_models.Pooling(16, pooling_mode=mode)], device="cpu")
        out["pooling"][mode] = st.encode([t for t in TEXTS if t], convert_to_numpy=True).tolist()
    texts = [t for t in TEXTS if t]
    tr = st_models.Transformer(os.path.join(OUT, "classifier"), max_seq_length=64, model_kwargs={"dtype": torch.float32})
    st = SentenceTransformer(modules=[tr, st_models.Pooling(16, pooling_mode=("cls", "max", "mean_sqrt_len_tokens"))], device="cpu")
    out["pooling"]["cls+max+mean_sqrt_len_tokens"] = st.encode(texts, convert_to_numpy=True).tolist()
    for mode in ["mean", "cls", "weightedmean"]:
        st = SentenceTransformer(modules=[tr, st_models.Pooling(16, pooling_mode=mode, include_prompt=False)], device="cpu")
        out["pooling"][f"{mode}-without-prompt"] = st.encode(texts, prompt="query: ", convert_to_numpy=True).tolist()
    out["pooling_texts"] = texts
    torch.manual_seed(9)
    nsp = BertForNextSentencePrediction(config()).eval()
    d = save(nsp, "nsp", tok)
    t = AutoTokenizer.from_pretrained(d)
    with torch.no_grad():
        probs = [torch.softmax(nsp(**t(a, b, return_tensors="pt")).logits[0], -1).tolist() for a, b in PAIRS]
    out["nsp"] = probs
    torch.manual_seed(7)
    db = DistilBertModel(DistilBertConfig(vocab_size=VOCAB, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                                          max_position_embeddings=64, initializer_range=0.5)).eval()
    d = save(db, "distilbert", tok)
    t = AutoTokenizer.from_pretrained(d)
    hidden = []
    with torch.no_grad():
        for text in TEXTS:
            enc = t(text, return_tensors="pt")
            hidden.append(db(input_ids=enc["input_ids"]).last_hidden_state[0].flatten().tolist())
    out["distilbert"] = {"hidden": hidden}
    out["dense"] = make_dense_fixture()
    out["chunked"] = make_chunk_fixture(tok)
    out["texts"] = TEXTS
    out["pairs"] = PAIRS
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print("ok")


if __name__ == "__main__":
    main()
