#!/usr/bin/env python3
"""Golden fixtures for the embedded model, from the Python reference (HF transformers + sentence-transformers).

Writes tests/fixtures/golden-minilm.json.gz: for each sentence, the reference token ids (HF tokenizers, truncated at
the model's max_seq_length as sentence-transformers does), the normalized sentence embedding (the full ST
pipeline: Transformer -> mean Pooling -> Normalize) and the unnormalized pooled embedding. Vectors are stored as
base64 little-endian float32. The model is the committed models/all-MiniLM-L6-v2 (F16 file), loaded in FP32,
so reference and engine see identical weights.

Run: tools/.venv/bin/python tools/make_golden.py   (see tools/requirements.txt)
"""
import base64
import gzip
import io
import json
import os
import random

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
OUT = os.path.join(ROOT, "tests", "fixtures", "golden-minilm.json.gz")

BASE = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "",
    " ",
    "a",
    "Hello, world!",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The new movie is awesome",
    "The cat sits outside",
    "I love pasta",
    "Do you like pizza?",
    "The stock market fell 3.7% on Tuesday, its worst day since March 2020.",
    "Call me at +1 (555) 010-9999 or e-mail jane.doe@example.com before 5:30pm.",
    "Version 2.14.0-rc.1 fixes CVE-2024-12345; see https://example.org/changelog#v2.",
    "π ≈ 3.14159, e ≈ 2.71828, and √2 ≈ 1.41421.",
    "He said: \"Don't stop — keep going...\" (twice!)",
    "Mr. O'Neil's dog—a 7-year-old beagle—wasn't amused.",
    "C'est la vie, mon ami ; à bientôt !",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El niño comió una manzana en el jardín.",
    "Москва — столица России.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "東京は日本の首都です。",
    "我喜欢学习自然语言处理。",
    "서울은 한국의 수도입니다.",
    "القاهرة هي عاصمة مصر.",
    "ירושלים היא עיר עתיקה.",
    "नमस्ते, आप कैसे हैं?",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "Café, naïve, résumé, jalapeño, façade, coöperate.",
    "I ❤️ NY 🗽 — best trip ever 😂👍🏽",
    "The family 👨‍👩‍👧‍👦 went to the beach 🏖️.",
    "def add(a, b):\n    return a + b  # simple",
    "SELECT name, COUNT(*) FROM users WHERE age > 21 GROUP BY name;",
    "<div class=\"note\">Hello &amp; welcome</div>",
    "ALL CAPS SENTENCE WITH SHOUTING!!!",
    "tabs\tand\nnewlines\r\nmixed   spaces",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "The quick brown fox jumps over the lazy dog.",
    "1234567890 0987654321 3.14159265358979",
    "[CLS] this text mentions [SEP] and [MASK] tokens literally",
]

TOPICS = ["science", "history", "cooking", "sports", "music", "travel", "finance", "medicine", "law", "art"]
SUBJECTS = ["The committee", "A young researcher", "My neighbour", "The old library", "Our team", "The city council",
            "An engineer", "The orchestra", "A small startup", "The hospital"]
VERBS = ["announced", "discovered", "questioned", "celebrated", "rejected", "documented", "improved", "reviewed"]
OBJECTS = ["a new policy on {t}", "an unexpected result in {t}", "the history of {t}", "several books about {t}",
           "the budget for {t} programs", "a controversial paper on {t}", "a festival dedicated to {t}"]
TAILS = ["yesterday.", "after a long debate.", "despite the rain.", "for the third time this year.",
         "with great enthusiasm.", "in front of 2,000 people.", "— to everyone's surprise.", "(again)."]


def sentences():
    rng = random.Random(20261125)
    out = list(BASE)
    while len(out) < 190:
        t = rng.choice(TOPICS)
        out.append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS).format(t=t)} {rng.choice(TAILS)}")
    # long inputs: around and beyond the 256-token limit, which sentence-transformers truncates
    para = " ".join(out[50:120])
    for n_words in [60, 120, 180, 230, 260, 400, 700]:
        out.append(" ".join(para.split()[:n_words]))
    out.append(("lorem ipsum dolor sit amet " * 80).strip())
    out.append("word " * 300)
    out.append("¿" * 40 + " unusual punctuation " + "!?" * 40)
    return out


def b64(a):
    return base64.b64encode(np.asarray(a, dtype="<f4").tobytes()).decode()


def main():
    torch.manual_seed(0)
    model = SentenceTransformer(MODEL, device="cpu", model_kwargs={"dtype": torch.float32})
    model.eval()
    assert next(model.parameters()).dtype == torch.float32
    texts = sentences()
    tok = model.tokenizer
    max_len = model.max_seq_length
    with torch.no_grad():
        normed = model.encode(texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
        features = model.tokenize(texts)
        pooled = model[1](model[0](features))["sentence_embedding"].numpy()
    records = []
    for i, t in enumerate(texts):
        ids = tok(t, truncation=True, max_length=max_len)["input_ids"]
        records.append({"text": t, "ids": ids, "embedding": b64(normed[i]), "pooled": b64(pooled[i])})
    # Sentence-transformers' published quickstart numbers for this model, as a check that the weights are real.
    q = model.encode(BASE[:3], normalize_embeddings=True)
    sims = (q @ q.T).round(4).tolist()
    doc = {
        "model": "models/all-MiniLM-L6-v2",
        "reference": {
            "sentence_transformers": __import__("sentence_transformers").__version__,
            "transformers": __import__("transformers").__version__,
            "tokenizers": __import__("tokenizers").__version__,
            "torch": torch.__version__,
        },
        "max_seq_length": max_len,
        "quickstart_similarity": {"texts": BASE[:3], "computed": sims, "published": [[1.0, 0.666, 0.1046], [0.666, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]},
        "sentences": records,
    }
    with gzip.GzipFile(OUT, "wb", compresslevel=9, mtime=0) as g, io.TextIOWrapper(g, encoding="utf-8") as f:  # mtime 0: same bytes each run
        json.dump(doc, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(records)} sentences -> {OUT}; quickstart similarities {sims}")


if __name__ == "__main__":
    main()
