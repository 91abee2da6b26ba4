#!/usr/bin/env python3
"""Base-sized models of the families no real checkpoint of is reachable here, with seeded random weights, for
bench/families.ts only. Speed does not depend on the weights' values; the accuracy columns compare the two engines on
the same weights. FP32 safetensors and a mean-pooling sentence-transformers folder under $BERTRT_REAL_MODELS/<name>
(default .scratch/real-models), never committed:
  modernbert-base  transformers' ModernBertConfig defaults (hidden 768, 22 layers, 12 heads, intermediate 1152 GeGLU, a
                   global layer every 3rd and a 128-token window in the others), the ModernBERT byte-level BPE test
                   tokenizer; ~600 MB
  nomic-base       nomic-embed-text-v1.5's shape: transformers' NomicBertConfig defaults (hidden 768, 12 layers, 12
                   heads, intermediate 3072 SwiGLU, RoPE theta 1000, vocabulary 30,528) with bert-base-uncased's
                   WordPiece (the embedded model's tokenizer.json, which nomic-embed-text uses); ~550 MB
Run: tools/.venv/bin/python tools/make_base_shapes.py [modernbert-base] [nomic-base]   (no names: both), then
     tools/.venv/bin/python tools/export_onnx.py --int8 --model .scratch/real-models/<name>
"""
import json
import os
import sys

import brotli
import torch
from transformers import ModernBertConfig, ModernBertModel, NomicBertConfig, NomicBertModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.environ.get("BERTRT_REAL_MODELS", os.path.join(ROOT, ".scratch", "real-models"))


def st_folder(out, tokenizer, special, max_len):
    open(os.path.join(out, "tokenizer.json"), "wb").write(tokenizer)
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", **special, "model_max_length": max_len},
              open(os.path.join(out, "tokenizer_config.json"), "w"))
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(out, "modules.json"), "w"))
    json.dump({"max_seq_length": max_len, "do_lower_case": False}, open(os.path.join(out, "sentence_bert_config.json"), "w"))
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    json.dump({"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True}, open(os.path.join(out, "1_Pooling", "config.json"), "w"))
    print("wrote", out)


BERT_SPECIAL = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"}


def modernbert_base():
    out = os.path.join(MODELS, "modernbert-base")
    torch.manual_seed(8)
    cfg = ModernBertConfig(pad_token_id=3, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
    ModernBertModel(cfg).eval().save_pretrained(out, safe_serialization=True)
    tok = brotli.decompress(open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "modernbert.tokenizer.json.br"), "rb").read())
    st_folder(out, tok, BERT_SPECIAL, 512)


def nomic_base():
    out = os.path.join(MODELS, "nomic-base")
    torch.manual_seed(13)
    NomicBertModel(NomicBertConfig()).eval().save_pretrained(out, safe_serialization=True)
    tok = open(os.path.join(ROOT, "models", "all-MiniLM-L6-v2", "tokenizer.json"), "rb").read()
    st_folder(out, tok, {**BERT_SPECIAL, "model_input_names": ["input_ids", "token_type_ids", "attention_mask"]}, 512)


def main():
    only = set(sys.argv[1:])
    if not only or "modernbert-base" in only:
        modernbert_base()
    if not only or "nomic-base" in only:
        nomic_base()


if __name__ == "__main__":
    main()
