#!/usr/bin/env python3
"""The request stream of the GPU serving benchmark as token ids, for bench_cuda serve (the GPU machine has no Node.js,
so HF `tokenizers` does what bertrt's tokenizer does, identically: tests/tokenizer-conformance.test.ts): each line of
bench/data/serve-sentences.txt.gz through all-MiniLM-L6-v2's tokenizer.json (BERT's uncased WordPiece, the vocabulary
of both bench_cuda models), special tokens added, at most 512 tokens; one line of space-separated ids per sentence.

Usage: python3 bench/cuda/serve_ids.py > ids.txt
"""
import gzip
import os
import sys

from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    tok = Tokenizer.from_file(os.path.join(ROOT, "models", "all-MiniLM-L6-v2", "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(512)
    with gzip.open(os.path.join(ROOT, "bench", "data", "serve-sentences.txt.gz"), "rt", encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f if line.strip()]
    out = sys.stdout
    for enc in tok.encode_batch(sentences):
        out.write(" ".join(map(str, enc.ids)) + "\n")


if __name__ == "__main__":
    main()
