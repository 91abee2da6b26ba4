#!/usr/bin/env python3
"""Golden fixtures for the ONNX backend (tests/onnx.test.ts), every expected value from Python onnxruntime.

1. Three small graphs exported from seeded fixture models, committed under tests/fixtures/onnx/ (about 0.15 MB: their
   embedding tables are external data read from the checkpoint they came from, see externalize()):
   - bert/model.onnx: tests/fixtures/heads/classifier's encoder (BertModel, F16 weights upcast exactly), int64
     input_ids / attention_mask / token_type_ids, output last_hidden_state [batch, seq, 16]. The folder also has the
     classifier's config.json and tokenizer, so the native engine runs the same weights beside it.
   - xlmr-pooled/model.onnx: tests/fixtures/families/xlm-roberta's encoder behind mean pooling, int32 inputs (no token
     types), output sentence_embedding [batch, 16] in float16: the pooled path, int32 feeds, an F16 output, and
     RoBERTa positions that onnxruntime derives from the pad id (1) inside the graph. Its tokenizer is
     tests/fixtures/tokenizer/xlmr.tokenizer.json.br, which the test unpacks beside a copy.
   - bert-logits/model.onnx: the classifier fixture whole (BertForSequenceClassification), output logits: the
     text-classification pipeline on the graph's own head, against transformers' pipeline.
   Large float32 initializers are stored as float16 behind Cast nodes (the seeded weights are float16 values: the
   same numbers, half the bytes).
   - bad-inputs.onnx: an Identity graph over an input named pixel_values (bertrt refuses it by name).
   Expected values: each sequence run alone (batch 1, no padding) in onnxruntime; the test batches them with padding.
2. The real ONNX files tools/fetch_real_models.sh assembles (.scratch/real-models/onnx-*): each model's sentence
   vectors for TEXTS, tokenized by HF tokenizers with the folder's tokenizer.json, one text per onnxruntime run,
   pooled as the model is (bge: CLS; MiniLM: mean; paraphrase-MiniLM-L3-v2: the graph's own output '461'),
   L2-normalized -> tests/fixtures/real/onnx.json.br.
Usage: tools/.venv/bin/python tools/make_onnx_fixtures.py [--real-only] (in a fresh clone, after `npx tsx tests/helpers/fixtures-setup.ts`: it writes the heads models git keeps as .br)
"""
import argparse
import base64
import json
import os
import random
import shutil
import sys

import numpy as np
import onnxruntime as ort
import torch
from transformers import AutoModel

from export_onnx import Wrapper as Hidden  # input_ids, attention_mask, token_type_ids -> last_hidden_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "onnx")
REAL = os.environ.get("BERTRT_REAL_MODELS", os.path.join(ROOT, ".scratch", "real-models"))

# the real models' texts: English and a little of everything a tokenizer meets
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on stage.",
    "How do I bake sourdough bread at home?",
    "Embeddings map sentences to vectors.",
    "The Eiffel Tower is in Paris, France.",
    "I can't believe it's already December!",
    "Stock prices fell sharply after the announcement.",
    "She reads a book under the old oak tree every Sunday afternoon, while the children play nearby.",
    "GPUs accelerate matrix multiplication.",
    "what is the capital of australia",
    "Café au lait, naïve résumé — déjà vu.",
    "Tokyo (東京) is the capital of Japan.",
    "x",
    "Numbers like 3.14159 and 2,718 appear in text too.",
    "The committee postponed its decision until further notice, citing incomplete data from the regional offices "
    "and the need for an independent review of the methodology used in the preliminary report.",
    "Hello world",
]


def f32_b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


class Logits(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


TEXTS_CLS = ["Hola, ¿qué tal?", "Das ist ein Test.", "short", "a somewhat longer sentence that runs on for several tokens",
             "東京は日本の首都です。", "x"]


class MeanPooledHalf(torch.nn.Module):
    """int32 ids in, mean-pooled sentence vector out in float16."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        ids, mask = input_ids.long(), attention_mask.long()
        h = self.m(input_ids=ids, attention_mask=mask).last_hidden_state
        w = mask.unsqueeze(-1).to(h.dtype)
        return ((h * w).sum(1) / w.sum(1).clamp(min=1e-9)).half()


def export(module, args, names, out_name, path, dyn_out, checkpoint):
    torch.onnx.export(module, args, path, input_names=names, output_names=[out_name],
                      dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names}, out_name: dyn_out},
                      opset_version=17, dynamo=False)
    halve_initializers(path)
    externalize(path, checkpoint)


DATA = "model.onnx_data"  # the external-data name optimum and transformers.js use, which bertrt's Hub client fetches


def externalize(path, checkpoint):
    """Moves each initializer of 1 KB or more whose bytes occur verbatim in the seeded checkpoint the graph was exported
    from (the embedding tables: ~0.3 MB a graph) out to external data in model.onnx_data, at its offset in that
    checkpoint: the committed graph keeps only what the checkpoint lacks (transposed MatMul weights, small tensors).
    model.onnx_data is then a copy of the checkpoint, which git does not hold twice: tests/helpers/fixtures.ts
    onnxFixtures() copies it beside the graph (onnxruntime refuses external data reached through a link)."""
    import onnx
    from onnx import TensorProto

    m = onnx.load(path, load_external_data=False)
    blob = open(checkpoint, "rb").read()
    for init in m.graph.initializer:
        raw = init.raw_data
        at = blob.find(raw) if len(raw) >= 1024 else -1
        if at < 0:
            continue
        init.ClearField("raw_data")
        init.data_location = TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in (("location", DATA), ("offset", str(at)), ("length", str(len(raw)))):
            e = init.external_data.add()
            e.key, e.value = k, v
    onnx.save(m, path)
    shutil.copy(checkpoint, os.path.join(os.path.dirname(path), DATA))  # for this script's own sessions; not committed


def halve_initializers(path):
    """Stores each large float32 initializer as float16 behind a Cast back to float32: the seeded weights are float16
    values (the fixtures' checkpoints are F16), so the graph computes with exactly the same numbers in half the bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(path)
    g = m.graph
    casts = []
    for init in list(g.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(init)
        if a.size < 256 or not np.array_equal(a.astype(np.float16).astype(np.float32), a):
            continue
        h = numpy_helper.from_array(a.astype(np.float16), init.name + "_f16")
        g.initializer.remove(init)
        g.initializer.append(h)
        casts.append(helper.make_node("Cast", [h.name], [init.name], to=TensorProto.FLOAT))
    for c in reversed(casts):
        g.node.insert(0, c)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def classifier_folder(name):
    """tests/fixtures/onnx/NAME with the classifier fixture's config and (a link to) its tokenizer."""
    src, dst = os.path.join(FIX, "heads", "classifier"), os.path.join(OUT, name)
    os.makedirs(dst, exist_ok=True)
    for f in ["config.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(src, f), os.path.join(dst, f))
    link = os.path.join(dst, "tokenizer.json")
    if not os.path.lexists(link):
        os.symlink("../../tokenizer/multilingual.tokenizer.json", link)
    return dst


def seeded_sequences(vocab, specials, n, rng):
    """n id sequences of 1..40 tokens: [first] + random ids + [last], ids past the specials."""
    cls, sep = specials
    out = []
    for _ in range(n):
        body = [rng.randrange(5, vocab) for _ in range(rng.randrange(0, 38))]
        out.append([cls] + body + [sep])
    out.append([cls])  # one token alone
    return out


def make_seeded():
    rng = random.Random(20261202)
    os.makedirs(OUT, exist_ok=True)
    cases = {}

    # bert: the classifier fixture's encoder
    src = src_cls = os.path.join(FIX, "heads", "classifier")
    dst = classifier_folder("bert")
    m = AutoModel.from_pretrained(src, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.full((2, 7), 5, dtype=torch.long)
    path = os.path.join(dst, "model.onnx")
    export(Hidden(m), (ids, torch.ones_like(ids), torch.zeros_like(ids)), ["input_ids", "attention_mask", "token_type_ids"],
           "last_hidden_state", path, {0: "batch", 1: "seq"}, os.path.join(src, "model.safetensors"))
    s = session(path)
    seqs = seeded_sequences(m.config.vocab_size, (2, 3), 40, rng)
    rows = []
    for q in seqs:
        types = [0] * len(q)
        if len(q) > 6:  # a pair: the second half is segment 1
            types = [0] * (len(q) // 2) + [1] * (len(q) - len(q) // 2)
        a = np.array([q], dtype=np.int64)
        h = s.run(["last_hidden_state"], {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.array([types], dtype=np.int64)})[0][0]
        rows.append({"ids": q, "types": types, "hidden": f32_b64(h)})
    cases["bert"] = {"width": int(m.config.hidden_size), "pooled": False, "sequences": rows}

    # bert-logits: the whole BertForSequenceClassification, output logits [batch, labels] (optimum's export); the
    # folder's config.json names the labels. Expected: transformers' own pipeline scores on TEXTS_CLS.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    dst = classifier_folder("bert-logits")
    mc = AutoModelForSequenceClassification.from_pretrained(src_cls, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.full((2, 7), 5, dtype=torch.long)
    path = os.path.join(dst, "model.onnx")
    export(Logits(mc), (ids, torch.ones_like(ids), torch.zeros_like(ids)), ["input_ids", "attention_mask", "token_type_ids"], "logits", path, {0: "batch"},
           os.path.join(src_cls, "model.safetensors"))
    # a fresh instance: the legacy exporter leaves the module it traced computing something else afterwards
    ref = AutoModelForSequenceClassification.from_pretrained(src_cls, dtype=torch.float32, attn_implementation="eager").eval()
    clf = pipeline("text-classification", model=ref, tokenizer=AutoTokenizer.from_pretrained(src_cls))
    cases["bert-logits"] = {"texts": TEXTS_CLS, "scores": [clf(t, top_k=None) for t in TEXTS_CLS]}

    # xlmr-pooled: the XLM-R family fixture behind mean pooling, int32 in, float16 out
    src = os.path.join(FIX, "families", "xlm-roberta")
    dst = os.path.join(OUT, "xlmr-pooled")
    os.makedirs(dst, exist_ok=True)
    shutil.copy(os.path.join(src, "config.json"), os.path.join(dst, "config.json"))
    m = AutoModel.from_pretrained(src, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.full((2, 7), 5, dtype=torch.int32)
    path = os.path.join(dst, "model.onnx")
    export(MeanPooledHalf(m), (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"], "sentence_embedding", path, {0: "batch"},
           os.path.join(src, "model.safetensors"))
    s = session(path)
    seqs = seeded_sequences(m.config.vocab_size, (0, 2), 40, rng)
    rows = []
    for q in seqs:
        a = np.array([q], dtype=np.int32)
        v = s.run(["sentence_embedding"], {"input_ids": a, "attention_mask": np.ones_like(a)})[0][0].astype(np.float32)
        rows.append({"ids": q, "hidden": f32_b64(v)})
    cases["xlmr-pooled"] = {"width": int(m.config.hidden_size), "pooled": True, "sequences": rows}
    # a graph whose input bertrt cannot feed (an image model's): 60 bytes
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Identity", ["pixel_values"], ["last_hidden_state"])], "bad",
                          [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["b", "s", 4])],
                          [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["b", "s", 4])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), os.path.join(OUT, "bad-inputs.onnx"))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"onnxruntime": ort.__version__, "cases": cases}, f)
    for k in ("bert", "bert-logits", "xlmr-pooled"):
        os.remove(os.path.join(OUT, k, DATA))
    print("wrote", OUT, {k: os.path.getsize(os.path.join(OUT, k, "model.onnx")) for k in cases})


# the real folders: (folder, pooling, output)
REAL_MODELS = [
    ("onnx-bge-small-en-v1.5", "cls", "last_hidden_state"),
    ("onnx-all-MiniLM-L6-v2", "mean", "output_0"),  # langchain4j names it so
    ("onnx-all-MiniLM-L6-v2-int8", "mean", "last_hidden_state"),
    ("onnx-paraphrase-MiniLM-L3-v2", "graph", "461"),
]


def make_real():
    from tokenizers import Tokenizer

    out = {"onnxruntime": ort.__version__, "texts": TEXTS, "models": {}}
    for name, pooling, output in REAL_MODELS:
        d = os.path.join(REAL, name)
        if not os.path.exists(os.path.join(d, "model.onnx")):
            print("skipped (run tools/fetch_real_models.sh):", d, file=sys.stderr)
            continue
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(512)
        s = session(os.path.join(d, "model.onnx"))
        names = [i.name for i in s.get_inputs()]
        vecs = []
        for t in TEXTS:
            e = tok.encode(t)
            feed = {"input_ids": np.array([e.ids], dtype=np.int64), "attention_mask": np.array([e.attention_mask], dtype=np.int64)}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.array([e.type_ids], dtype=np.int64)
            y = s.run([output], feed)[0][0]
            v = y if pooling == "graph" else (y[0] if pooling == "cls" else y.mean(axis=0))
            v = v.astype(np.float64)
            vecs.append(f32_b64(v / np.linalg.norm(v)))
        out["models"][name] = {"pooling": pooling, "output": output, "vectors": vecs}
    path = os.path.join(FIX, "real", "onnx.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", path, list(out["models"]))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--real-only", action="store_true")
    a = ap.parse_args()
    if not a.real_only:
        make_seeded()
    make_real()
