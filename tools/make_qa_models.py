#!/usr/bin/env python3
"""Tiny extractive-QA models and DistilBERT task heads, and HF pipeline outputs on them, for tests/heads.test.ts.

Separate from make_head_models.py because transformers 5 removed the question-answering pipeline: this script
needs transformers 4.x (4.57 was used), e.g.
    pip install --target /tmp/tf4 "transformers<5"
    PYTHONPATH=/tmp/tf4 tools/.venv/bin/python tools/make_qa_models.py
Models (seeded random init, 2 layers, hidden 16, over tests/fixtures/tokenizer/multilingual.tokenizer.json), saved
as F16 safetensors to keep the fixtures small; the references run in FP32 on the same F16-rounded weights:
  qa              BertForQuestionAnswering
  distilbert-qa   DistilBertForQuestionAnswering
  distilbert-cls  DistilBertForSequenceClassification (pre_classifier + ReLU + classifier), 3 labels
  distilbert-ner  DistilBertForTokenClassification, BIO labels
  distilbert-mlm  DistilBertForMaskedLM (vocab_transform, GELU, vocab_layer_norm, vocab_projector tied)
Fixture: tests/fixtures/heads/expected-qa.json (brotli-compressed to .json.br by tools/compress_fixtures.ts): question-answering pipeline results (top_k, doc_stride windows over
long contexts, max_answer_len, handle_impossible_answer, align_to_words false), and the DistilBERT heads through the
text-classification, token-classification and fill-mask pipelines.
"""
import json
import os

import torch
from transformers import (BertConfig, BertForQuestionAnswering, BertTokenizerFast, DistilBertConfig, DistilBertTokenizerFast,
                          DistilBertForMaskedLM, DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
                          DistilBertForTokenClassification, pipeline)

from make_head_models import NER_LABELS, OUT, TOKENIZER, VOCAB, save  # F16 save, same tokenizer and labels

LONG = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the "
        "engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. Locally nicknamed "
        "« La dame de fer », it was constructed as the centrepiece of the 1889 World's Fair. Although initially "
        "criticised by some of France's leading artists and intellectuals for its design, it has since become a "
        "global cultural icon of France 🇫🇷 and one of the most recognisable structures in the world. São Paulo, "
        "Zürich and Kraków have nothing comparable — or so Renée says.")
CASES = [
    {"question": "Who designed the tower?", "context": LONG},
    {"question": "Where is the tower?", "context": "The tower stands in Paris, next to the river Seine, since 1889."},
    {"question": "Qui a construit la tour ?", "context": "Gustave Eiffel a construit la tour. Elle mesure 330 mètres."},
    {"question": "What does Renée love?", "context": "Renée ❤️ São Paulo and Kraków 🗽 more than anything else in life."},
    {"question": "What?", "context": "東京は日本の首都です。 Tokyo is the capital of Japan and a very large city."},
]
TEXTS = ["The weather is lovely today.", "Mr. O'Neil flew from Paris to New York City.", "Zażółć gęślą jaźń, São Paulo!",
         "I ❤️ NY 🗽 — best trip ever", "", "Angela Merkel met Emmanuel Macron in Berlin."]


def bert_config(**kw):
    return BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                      max_position_embeddings=64, initializer_range=0.5, **kw)


def distil_config(**kw):
    return DistilBertConfig(vocab_size=VOCAB, dim=16, n_layers=2, n_heads=2, hidden_dim=32, max_position_embeddings=64,
                            initializer_range=0.5, **kw)


def pipe(task, d, **kw):
    return pipeline(task, model=d, tokenizer=d, device="cpu", model_kwargs={"torch_dtype": torch.float32}, **kw)


def plain(x):
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    if hasattr(x, "item"):
        return x.item()
    return x


def qa_results(d):
    p = pipe("question-answering", d)
    out = []
    variants = [{}, {"top_k": 3}, {"top_k": 2, "max_answer_len": 3}, {"top_k": 3, "handle_impossible_answer": True},
                {"top_k": 2, "align_to_words": False}, {"top_k": 2, "doc_stride": 16, "max_seq_len": 40}]
    for c in CASES:
        for v in variants:
            r = p(question=c["question"], context=c["context"], **v)
            out.append({**c, "options": v, "result": plain(r if isinstance(r, list) else [r])})
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = BertTokenizerFast(tokenizer_file=TOKENIZER, do_lower_case=False, unk_token="[UNK]", sep_token="[SEP]",
                            pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=64)
    dtok = DistilBertTokenizerFast(tokenizer_file=TOKENIZER, do_lower_case=False, unk_token="[UNK]", sep_token="[SEP]",
                                   pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=64)
    out = {"cases": CASES, "texts": TEXTS}
    torch.manual_seed(11)
    d = save(BertForQuestionAnswering(bert_config()).eval(), "qa", tok)
    out["qa"] = qa_results(d)
    torch.manual_seed(12)
    d = save(DistilBertForQuestionAnswering(distil_config()).eval(), "distilbert-qa", dtok)
    out["distilbert_qa"] = qa_results(d)
    torch.manual_seed(13)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    d = save(DistilBertForSequenceClassification(distil_config(num_labels=3, id2label=labels,
                                                               label2id={v: k for k, v in labels.items()})).eval(),
             "distilbert-cls", dtok)
    p = pipe("text-classification", d)
    out["distilbert_cls"] = [plain(p(t, top_k=None)) for t in TEXTS]
    torch.manual_seed(14)
    d = save(DistilBertForTokenClassification(distil_config(num_labels=len(NER_LABELS), id2label=dict(enumerate(NER_LABELS)),
                                                            label2id={l: i for i, l in enumerate(NER_LABELS)})).eval(),
             "distilbert-ner", dtok)
    out["distilbert_ner"] = {}
    for agg in ["none", "simple", "first"]:
        p = pipe("token-classification", d, aggregation_strategy=agg, ignore_labels=[])
        out["distilbert_ner"][agg] = [plain(p(t)) for t in TEXTS]
    torch.manual_seed(15)
    d = save(DistilBertForMaskedLM(distil_config()).eval(), "distilbert-mlm", dtok)
    p = pipe("fill-mask", d)
    masked = ["The weather is [MASK] today.", "Paris is the [MASK] of France.", "[MASK]"]
    out["distilbert_mlm"] = {"texts": masked, "top5": [plain(p(t, top_k=5)) for t in masked]}
    with open(os.path.join(OUT, "expected-qa.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print("ok")


if __name__ == "__main__":
    main()
