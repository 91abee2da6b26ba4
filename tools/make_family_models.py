#!/usr/bin/env python3
"""Seeded tiny models of the families past BERT, and transformers' outputs on them, for tests/families.test.ts.

No small real checkpoints of these families exist offline, so each is made here from transformers' own classes with a
small config (hidden 16, 2 heads, 2 layers), random weights from a fixed seed (initializer_range raised so that
attention is far from uniform), saved as a sentence-transformers folder (Transformer + mean Pooling + Normalize) with
model.safetensors in F16 to keep the tree small (the tokenizer.json is not copied: the test takes it from
tests/fixtures/tokenizer/<name>.tokenizer.json.br); every reference runs in FP32 on the F16-rounded weights.
  xlm-roberta  XLMRobertaModel over tests/fixtures/tokenizer/xlmr.tokenizer.json (XLM-R's pipeline, Unigram, 8,001
               ids); RoBERTa and CamemBERT are the same computation in transformers and one family here: the test
               runs these weights under their model_type too
  albert       AlbertModel over xlmr.tokenizer.json: embedding_size 8, 3 layers sharing one group, gelu_new
  electra      ElectraModel over multilingual.tokenizer.json (BERT's WordPiece, token types): embedding_size 8
  modernbert   ModernBertModel over modernbert.tokenizer.json: 3 layers, layer 1 a 16-token sliding window, RoPE, GeGLU
  deberta-v2   DebertaV2Model over xlmr.tokenizer.json: disentangled attention, 16 log buckets up to 64, no absolute positions
  nomic-bert   NomicBertModel (transformers 5's port of nomic-ai's remote code) over multilingual.tokenizer.json (BERT's
               WordPiece, token types): RoPE, SwiGLU, no biases
  gte          GteModel (transformers 5's port of Alibaba's "NewModel") over xlmr.tokenizer.json: RoPE, GeGLU, one
               token type; its fixture also holds hidden states with the remote code's NTK-scaled RoPE (rope_scaling
               factor 2: inverse frequencies of theta * 2, divided by 2^(2 / head_dim), as Alibaba's
               NTKScalingRotaryEmbedding computes them), put into transformers' rotary module by hand
  mpnet        MPNetModel over roberta.tokenizer.json (MPNet's own tokenizer is WordPiece over 30,527 ids, 1 MB of
               embeddings at this size; the encoder is what this fixture checks, the tokenizer has its own),
               relative_attention_num_buckets 32 and 256 positions so long inputs reach the log-spaced buckets
Per model, tests/fixtures/families/<name>.json.gz holds: the inputs (200 texts of the tokenizer corpus, long ones,
pairs, literal pad tokens), HF tokenizers' ids, the last hidden states of the model in FP32 (base64 float32: all tokens of every
eighth input, the mean over tokens of every input) and sentence-transformers' normalized embeddings of the single
texts.
Heads (xlm-roberta, mpnet, albert, electra, modernbert, deberta-v2): the family's sequence-classification head (classifier.dense + out_proj), MLM head
(lm_head) and token-classification head (classifier) are seeded too and saved into the same
model.safetensors beside the encoder (their names do not collide; transformers loads each head class from the file
and ignores the others); the test writes the config.json of each task (architectures, id2label). Outputs of
transformers' text-classification (single texts and pairs), token-classification (aggregation none and simple) and
fill-mask (top 5) pipelines are stored under "heads".
Run: tools/.venv/bin/python tools/make_family_models.py [nomic-bert] [gte] (no names: every model; the names make
only those, leaving the other fixtures as they are), then npx tsx tools/compress_fixtures.ts (git holds each
model.safetensors as model.safetensors.br; tests/helpers/fixtures-setup.ts unpacks it: run that first in a fresh clone
before a script here that reads these folders)
"""
import base64
import gzip
import io
import json
import os
import shutil
import sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer
from safetensors.torch import load_file, save_file
from transformers import (DebertaV2Config, DebertaV2ForSequenceClassification, DebertaV2ForTokenClassification,
                          DebertaV2Model, AlbertConfig, AlbertForMaskedLM, AlbertForSequenceClassification, AlbertForTokenClassification,
                          AlbertModel, AutoConfig, ElectraConfig, ElectraForMaskedLM, ElectraForSequenceClassification,
                          ElectraForTokenClassification, ElectraModel, ModernBertConfig, ModernBertForMaskedLM,
                          ModernBertForSequenceClassification, ModernBertForTokenClassification, ModernBertModel, MPNetConfig, MPNetForMaskedLM, MPNetForSequenceClassification,
                          MPNetForTokenClassification, MPNetModel,
                          GteConfig, GteForSequenceClassification, GteForTokenClassification, GteModel,
                          NomicBertConfig, NomicBertForMaskedLM, NomicBertForSequenceClassification,
                          NomicBertForTokenClassification, NomicBertModel,
                          RobertaConfig, RobertaModel, XLMRobertaConfig, XLMRobertaForMaskedLM,
                          XLMRobertaForSequenceClassification, XLMRobertaForTokenClassification, XLMRobertaModel,
                          pipeline)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "families")


def load_brotli_json(path):
    import brotli  # pip install brotli (only this script needs it)
    return json.loads(brotli.decompress(open(path, "rb").read()))


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def inputs(tok, max_tokens):
    corpus = json.load(gzip.open(os.path.join(FIX, "tokenizer", "corpus.json.gz"), "rt", encoding="utf-8"))
    texts = [t for t in corpus if t.strip()]
    rs = np.random.RandomState(17)
    pick = [texts[i] for i in rs.choice(len(texts), 167, replace=False)]
    # long inputs: corpus lines joined until the tokenizer's count reaches the model's limit
    longs = []
    for k in range(10):
        s, i = "", k * 37
        while len(tok.encode(s).ids) < max_tokens - 8:
            s = (s + " " + texts[i % len(texts)]).strip()
            i += 1
        longs.append(s)
    pairs = [(texts[i], texts[i + 1]) for i in rs.choice(len(texts) - 1, 20, replace=False)]
    # a literal pad token inside the text: RoBERTa's positions skip it (it takes padding_idx's row)
    pads = ["Hello <pad> world.", "<pad><pad> starts padded, ends padded <pad>"]
    return [(t, None) for t in pick + longs + pads] + pairs + [(pads[0], texts[5])]


def save(model, name, tok_file, max_seq, mask):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model.half().save_pretrained(d, safe_serialization=True)
    model.float()
    shutil.copy(tok_file, os.path.join(d, "tokenizer.json"))  # for sentence-transformers; removed after
    # (BERT-style: the token types go to the model, as a BertTokenizer's would; PreTrainedTokenizerFast drops them)
    special = ({"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]",
                **({"model_input_names": ["input_ids", "token_type_ids", "attention_mask"]} if name in ("electra", "nomic-bert") else {})}
               if mask == "[MASK]" else
               {"bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>",
                "unk_token": "<unk>", "mask_token": "<mask>"})
    json.dump({"model_max_length": max_seq, "tokenizer_class": "PreTrainedTokenizerFast", **special},
              open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(d, "modules.json"), "w"), indent=1)
    json.dump({"max_seq_length": max_seq, "do_lower_case": False}, open(os.path.join(d, "sentence_bert_config.json"), "w"))
    os.makedirs(os.path.join(d, "1_Pooling"))
    json.dump({"word_embedding_dimension": model.config.hidden_size, "pooling_mode_mean_tokens": True},
              open(os.path.join(d, "1_Pooling", "config.json"), "w"))
    return d


def make(name, model, tok_file, max_seq, mask="<mask>", extra=None):
    torch.manual_seed(0)
    d = save(model, name, tok_file, max_seq, mask)
    model = type(model).from_pretrained(d, dtype=torch.float32).eval()
    tok = Tokenizer.from_file(tok_file)
    tok.enable_truncation(max_seq)
    items = inputs(tok, max_seq)
    rec = []
    with torch.no_grad():
        for n, (a, b) in enumerate(items):
            enc = tok.encode(a, b) if b is not None else tok.encode(a)
            ids = torch.tensor([enc.ids])
            types = {"token_type_ids": torch.tensor([enc.type_ids])} if getattr(model.config, "type_vocab_size", 0) > 1 else {}
            h = model(input_ids=ids, **types).last_hidden_state[0].numpy()
            r = {"a": a, "b": b, "ids": enc.ids, "mean": b64(h.mean(0))}
            if n % 8 == 0:
                r["hidden"] = b64(h)
            rec.append(r)
    st = SentenceTransformer(d, device="cpu", model_kwargs={"dtype": torch.float32})  # the config says float16
    singles = [r for r in rec if r["b"] is None]
    emb = st.encode([r["a"] for r in singles], batch_size=16, convert_to_numpy=True)
    for r, e in zip(singles, emb):
        r["st"] = b64(e)
    heads = make_heads(name, d, model.config, mask) if name in HEADS else None
    os.remove(os.path.join(d, "tokenizer.json"))  # the test takes it from tests/fixtures/tokenizer
    if extra:
        extra(model, rec)
    out = {"heads": heads, "model": name, "tokenizer": os.path.basename(tok_file).replace(".tokenizer.json", ""), "hidden_size": model.config.hidden_size, "max_seq_length": max_seq, "inputs": rec}
    with gzip.GzipFile(os.path.join(OUT, name + ".json.gz"), "wb", compresslevel=9, mtime=0) as g, io.TextIOWrapper(g, encoding="utf-8") as f:  # mtime 0: the same bytes on every run
        json.dump(out, f)
    print(name, len(rec), "inputs,", sum(len(r["ids"]) for r in rec), "tokens")


NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
SENTIMENT = ["negative", "neutral", "positive"]
HEADS = {"xlm-roberta": (XLMRobertaForSequenceClassification, XLMRobertaForMaskedLM, XLMRobertaForTokenClassification),
         # (ALBERT's token classifier is named "classifier" like its sequence classifier: one of them per file)
         "albert": (AlbertForSequenceClassification, AlbertForMaskedLM, None),
         "electra": (ElectraForSequenceClassification, ElectraForMaskedLM, ElectraForTokenClassification),
         "mpnet": (MPNetForSequenceClassification, MPNetForMaskedLM, MPNetForTokenClassification),
         "modernbert": (ModernBertForSequenceClassification, ModernBertForMaskedLM, ModernBertForTokenClassification),
         "deberta-v2": (DebertaV2ForSequenceClassification, None, DebertaV2ForTokenClassification),
         "nomic-bert": (NomicBertForSequenceClassification, NomicBertForMaskedLM, NomicBertForTokenClassification),
         # (GTE's MLM head has a decoder bias of its own, not an alias of a tied one: not built here)
         "gte": (GteForSequenceClassification, None, GteForTokenClassification)}
HEAD_TEXTS = ["The weather is lovely today.", "Mr. O'Neil flew from Paris to New York City.", "Zażółć gęślą jaźń, São Paulo!",
              "I love NY, best trip ever", "Angela Merkel met Emmanuel Macron in Berlin.", "a"]
HEAD_PAIRS = [("A man is eating food.", "A man is eating a piece of bread."), ("How old are you?", "The weather is nice.")]
# families whose heads share names (ModernBERT's head.* and classifier in every task): each head in its own
# heads-<class>.safetensors beside the encoder, which the test merges into the task's folder
SEPARATE = {"modernbert", "deberta-v2", "nomic-bert", "gte"}
# the MLM decoders (tied to the word embeddings) and the bias aliases they carry
TIED = {"lm_head.decoder.weight", "lm_head.decoder.bias", "predictions.decoder.weight", "predictions.decoder.bias",
        "generator_lm_head.weight", "decoder.weight", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
MASKED = ["The capital of France is<mask>.", "She drank a cup of<mask> this morning.", "<mask> is the best medicine."]


def head_config(d, arch, labels):
    c = json.load(open(os.path.join(d, "config.json")))
    c["architectures"] = [arch]
    c["id2label"] = {str(i): l for i, l in enumerate(labels)}
    c["label2id"] = {l: i for i, l in enumerate(labels)}
    return c


def make_heads(name, d, cfg, mask="<mask>"):
    """Seeded heads over the saved encoder, saved into its model.safetensors; pipeline outputs on them."""
    seq_cls, mlm_cls, tok_cls = HEADS[name]
    prefix = seq_cls.base_model_prefix
    base = load_file(os.path.join(d, "model.safetensors"))
    merged = dict(base)
    models = {}
    for cls, labels in [(seq_cls, SENTIMENT), (mlm_cls, None), (tok_cls, NER)]:
        if cls is None:
            continue
        c = AutoConfig.from_pretrained(d)
        if labels:
            c.num_labels = len(labels)
        torch.manual_seed(len(models) + 10)
        m = cls(c)
        # the head's tensors: all but the encoder's (a pooler lives in the base model: ALBERT's and BERT's)
        head = {k: v for k, v in m.state_dict().items()
                if (not k.startswith(prefix + ".") or k.startswith(prefix + ".pooler")) and "position_ids" not in k}
        with torch.no_grad():  # biases away from zero (HF initializes them to 0); a decoder's bias is the head's
            for k, v in head.items():
                if k.endswith("bias") and k not in TIED:
                    v.normal_(0, 0.5)
        kept = {k: v.detach().half().contiguous() for k, v in head.items() if k not in TIED}  # (the decoder is tied)
        if name in SEPARATE:
            save_file(kept, os.path.join(d, f"heads-{cls.__name__}.safetensors"), metadata={"format": "pt"})
        else:
            merged.update(kept)
        models[cls.__name__] = labels
    save_file(merged, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    tmp = d + ".task"
    out = {}
    for cls, labels in [(seq_cls, SENTIMENT), (mlm_cls, None), (tok_cls, NER)]:
        if cls is None:
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(d, tmp)
        if name in SEPARATE:  # this task's folder: the encoder and this head in one file
            one = dict(merged)
            one.update(load_file(os.path.join(d, f"heads-{cls.__name__}.safetensors")))
            save_file(one, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
            for f in os.listdir(tmp):
                if f.startswith("heads-"):
                    os.remove(os.path.join(tmp, f))
        c = head_config(d, cls.__name__, labels or [])
        if not labels:
            c.pop("id2label"), c.pop("label2id")
        json.dump(c, open(os.path.join(tmp, "config.json"), "w"))
        kw = dict(model=tmp, tokenizer=tmp, device="cpu", dtype=torch.float32)
        if cls is seq_cls:
            p = pipeline("text-classification", **kw)
            out["classification"] = {"single": [p(t, top_k=None) for t in HEAD_TEXTS],
                                     "pairs": [p({"text": a, "text_pair": b}, top_k=None) for a, b in HEAD_PAIRS]}
        elif cls is mlm_cls:
            p = pipeline("fill-mask", **kw)
            out["fill_mask"] = [[{"token": r["token"], "token_str": r["token_str"], "score": float(r["score"])} for r in p(t.replace("<mask>", mask), top_k=5)] for t in MASKED]
        else:
            out["ner"] = {}
            for agg in ["none", "simple"]:
                p = pipeline("token-classification", aggregation_strategy=agg, **kw)
                out["ner"][agg] = [[{k: (float(v) if k == "score" else v) for k, v in e.items()} for e in p(t)] for t in HEAD_TEXTS]
    shutil.rmtree(tmp)
    out.update({"texts": HEAD_TEXTS, "pairs": HEAD_PAIRS, "masked": [t.replace("<mask>", mask) for t in MASKED], "sentiment": SENTIMENT, "ner_labels": NER,
                "architectures": {"classification": seq_cls.__name__, "fill_mask": mlm_cls.__name__ if mlm_cls else None,
                                  "ner": tok_cls.__name__ if tok_cls else None}})
    return out


def main():
    only = set(sys.argv[1:])
    os.makedirs(OUT, exist_ok=True)
    tmp = os.path.join(OUT, ".tok")
    os.makedirs(tmp, exist_ok=True)
    toks = {}
    for n in ["roberta", "xlmr", "modernbert"]:
        toks[n] = os.path.join(tmp, n + ".tokenizer.json")
        json.dump(load_brotli_json(os.path.join(FIX, "tokenizer", n + ".tokenizer.json.br")), open(toks[n], "w"))
    common = dict(vocab_size=8001, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                  initializer_range=0.5, pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    bert_tok = os.path.join(FIX, "tokenizer", "multilingual.tokenizer.json")
    vocab = len(json.load(open(bert_tok, encoding="utf-8"))["model"]["vocab"])
    if only:
        make_rotary(only, common, toks, bert_tok, vocab)
        shutil.rmtree(tmp)
        return
    torch.manual_seed(2)
    make("xlm-roberta", XLMRobertaModel(XLMRobertaConfig(max_position_embeddings=130, type_vocab_size=1, **common),
                                        add_pooling_layer=False), toks["xlmr"], 128)
    torch.manual_seed(3)
    mp = MPNetModel(MPNetConfig(max_position_embeddings=258, relative_attention_num_buckets=32, **common),
                    add_pooling_layer=False)
    with torch.no_grad():  # a bias large enough to matter next to scores of this size
        mp.encoder.relative_attention_bias.weight.normal_(0, 2.0)
    make("mpnet", mp, toks["roberta"], 256)
    # ALBERT: embeddings 8 wide projected to 16, the two layers sharing one group's weights, gelu_new
    torch.manual_seed(4)
    make("albert", AlbertModel(AlbertConfig(embedding_size=8, num_hidden_groups=1, inner_group_num=1, hidden_act="gelu_new",
                                            max_position_embeddings=128, type_vocab_size=2, **{**common, "num_hidden_layers": 3}),
                               add_pooling_layer=False), toks["xlmr"], 128)
    # ELECTRA (a discriminator's shape): embeddings 8 wide projected to 16, BERT's WordPiece tokenizer with token types
    torch.manual_seed(5)
    make("electra", ElectraModel(ElectraConfig(embedding_size=8, max_position_embeddings=128, type_vocab_size=2,
                                               **{**common, "vocab_size": vocab, "pad_token_id": 0})), bert_tok, 128, mask="[MASK]")
    # ModernBERT: 3 layers, global every 2nd (0 and 2 global, 1 a sliding window of |i - j| <= 8), no biases, RoPE with
    # the released thetas, GeGLU
    torch.manual_seed(6)
    mb = ModernBertConfig(vocab_size=6002, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=24,
                          max_position_embeddings=128, global_attn_every_n_layers=2, local_attention=16,
                          global_rope_theta=160000.0, local_rope_theta=10000.0, initializer_range=0.5, norm_eps=1e-5,
                          pad_token_id=3, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2,
                          classifier_pooling="mean")  # (mean pooling: the head path the first-token families do not take)
    make("modernbert", ModernBertModel(mb), toks["modernbert"], 128, mask="[MASK]")
    # ModernBERT with its MLP past the GEMM's 256-wide K blocks (intermediate 600): ids only, a 64-entry vocabulary (the weights
    # are what this checks; the one above runs the tokenizer). A residual added into the GEMM's own output once read
    # partial sums past the first K block.
    torch.manual_seed(9)
    wide = ModernBertModel(ModernBertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                            intermediate_size=600, max_position_embeddings=128, global_attn_every_n_layers=2,
                                            local_attention=16, initializer_range=0.1, pad_token_id=3, bos_token_id=1,
                                            eos_token_id=2, cls_token_id=1, sep_token_id=2))
    d = os.path.join(OUT, "modernbert-wide")
    shutil.rmtree(d, ignore_errors=True)
    wide.half().save_pretrained(d, safe_serialization=True)
    wide = ModernBertModel.from_pretrained(d, dtype=torch.float32).eval()
    rs = np.random.RandomState(3)
    seqs = [rs.randint(4, 64, size=n).tolist() for n in (5, 33, 70)]
    with torch.no_grad():
        rec = [{"ids": q, "hidden": b64(wide(input_ids=torch.tensor([q])).last_hidden_state[0].numpy())} for q in seqs]
    with gzip.GzipFile(os.path.join(OUT, "modernbert-wide.json.gz"), "wb", compresslevel=9, mtime=0) as g, io.TextIOWrapper(g, encoding="utf-8") as f:
        json.dump({"hidden_size": 32, "inputs": rec}, f)
    # DeBERTa-v3's shape: disentangled attention (c2p and p2c, shared keys), 16 position buckets up to 64 so that
    # inputs of 128 tokens reach the log buckets and the clamp, LayerNormed relative embeddings, no absolute positions
    torch.manual_seed(7)
    db = DebertaV2Config(vocab_size=8001, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                         max_position_embeddings=128, type_vocab_size=0, relative_attention=True, position_buckets=16,
                         max_relative_positions=64, pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
                         position_biased_input=False, initializer_range=0.5, layer_norm_eps=1e-7, pad_token_id=1,
                         pooler_hidden_act="gelu", hidden_act="gelu")
    make("deberta-v2", DebertaV2Model(db), toks["xlmr"], 128)
    make_rotary(only, common, toks, bert_tok, vocab)
    shutil.rmtree(tmp)


def make_rotary(only, common, toks, bert_tok, vocab):
    """NomicBERT and GTE: BERT's post-norm block with RoPE and a gated FFN."""
    if not only or "nomic-bert" in only:
        # nomic-embed-text's shape: SwiGLU, no biases, theta 1000, BERT's WordPiece with token types
        torch.manual_seed(11)
        nb = NomicBertConfig(**{**common, "vocab_size": vocab, "pad_token_id": 0}, max_position_embeddings=128, type_vocab_size=2,
                             hidden_act="silu", rope_parameters={"rope_type": "default", "rope_theta": 1000.0})
        make("nomic-bert", NomicBertModel(nb), bert_tok, 128, mask="[MASK]", extra=nomic_dynamic)
    if not only or "gte" in only:
        # gte-multilingual's shape: GeGLU (erf GELU), biases on Q/K/V, Wo and the FFN output, one token type, theta 160,000
        torch.manual_seed(12)
        gc = GteConfig(**common, max_position_embeddings=128, type_vocab_size=1, hidden_act="gelu",
                       rope_parameters={"rope_type": "default", "rope_theta": 160000.0})
        make("gte", GteModel(gc), toks["xlmr"], 128, extra=gte_ntk)


def nomic_dynamic(model, rec):
    """Hidden states of single texts (every 64th, and the longest: 120 tokens and more) with transformers' dynamic NTK RoPE (factor 2, trained length 64: the inputs
    past 64 tokens are scaled by their own length), each input run alone on a fresh rotary module (transformers'
    dynamic RoPE keeps the frequencies of the longest input seen; nomic-ai's remote code scales each batch by its
    padded length: for a batch of one, the same), under "dyn"."""
    cfg = NomicBertConfig.from_dict({**model.config.to_dict(), "max_position_embeddings": 64,
                                     "rope_parameters": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1000.0}})
    dyn = NomicBertModel(cfg).eval()
    dyn.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():  # single texts (token types 0): every 64th, and the longest (120 tokens and more)
        for i, r in enumerate(rec):
            if r["b"] is None and (i % 64 == 0 or len(r["ids"]) >= 120):
                dyn.rotary_emb = type(dyn.rotary_emb)(cfg)
                r["dyn"] = b64(dyn(input_ids=torch.tensor([r["ids"]])).last_hidden_state[0].numpy())


def gte_ntk(model, rec):
    """Every eighth input's hidden states with the remote code's NTK-scaled frequencies (factor 2), under "ntk"."""
    dim = model.config.hidden_size // model.config.num_attention_heads
    theta, factor = model.config.rope_parameters["rope_theta"], 2.0
    inv = 1.0 / ((theta * factor) ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    inv = inv / factor ** (2 / dim)
    model.rotary_emb.inv_freq = inv
    model.rotary_emb.original_inv_freq = inv.clone()
    with torch.no_grad():
        for r in rec[::8]:
            r["ntk"] = b64(model(input_ids=torch.tensor([r["ids"]])).last_hidden_state[0].numpy())


if __name__ == "__main__":
    main()
