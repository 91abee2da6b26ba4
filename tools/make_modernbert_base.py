#!/usr/bin/env python3
"""A ModernBERT-base-shaped model with seeded random weights, for bench/families.ts only (no real ModernBERT checkpoint
is reachable here): transformers' ModernBertConfig defaults (hidden 768, 22 layers, 12 heads, intermediate 1152 GeGLU,
a global layer every 3rd and a 128-token window in the others), FP32 safetensors, the ModernBERT byte-level BPE test
tokenizer, a mean-pooling sentence-transformers folder. ~600 MB under $BERTRT_REAL_MODELS/modernbert-base (default
.scratch/real-models), never committed. Speed does not depend on the weights' values; accuracy columns compare the two
engines on the same weights.
Run: tools/.venv/bin/python tools/make_modernbert_base.py && tools/.venv/bin/python tools/export_onnx.py --int8 --model .scratch/real-models/modernbert-base
"""
import json
import os

import brotli
import torch
from transformers import ModernBertConfig, ModernBertModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(os.environ.get("BERTRT_REAL_MODELS", os.path.join(ROOT, ".scratch", "real-models")), "modernbert-base")


def main():
    torch.manual_seed(8)
    cfg = ModernBertConfig(pad_token_id=3, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
    ModernBertModel(cfg).eval().save_pretrained(OUT, safe_serialization=True)
    tok = brotli.decompress(open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "modernbert.tokenizer.json.br"), "rb").read())
    open(os.path.join(OUT, "tokenizer.json"), "wb").write(tok)
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
               "unk_token": "[UNK]", "mask_token": "[MASK]", "model_max_length": 512}, open(os.path.join(OUT, "tokenizer_config.json"), "w"))
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(OUT, "modules.json"), "w"))
    json.dump({"max_seq_length": 512, "do_lower_case": False}, open(os.path.join(OUT, "sentence_bert_config.json"), "w"))
    os.makedirs(os.path.join(OUT, "1_Pooling"), exist_ok=True)
    json.dump({"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True}, open(os.path.join(OUT, "1_Pooling", "config.json"), "w"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
