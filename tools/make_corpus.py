#!/usr/bin/env python3
"""Builds bench/data/sentences.txt: 1,200 real English sentences of natural lengths for the real-length benchmark, and
bench/data/serve-sentences.txt.gz: the first 6,000 of the same draw (so its first 1,200 lines are sentences.txt), the
request stream of the GPU serving benchmark (bench/cuda/run.sh).

Source: the Debian package `fortunes` (version recorded in bench/data/README.md), whose files are collections of
quotations, proverbs and jokes under BSD-style terms. Each fortune is split into sentences; sentences of 3 to 400
characters are kept, deduplicated, and 1,200 are drawn with a fixed seed, so the length distribution is the
corpus's own, not chosen by us. Skipped: the ascii-art files and anything with a tab (tables, verse layout).

Usage: python3 tools/make_corpus.py   (runs `apt-get download fortunes` in a temporary folder)
"""
import glob
import gzip
import os
import random
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "data", "sentences.txt")
N = 1200
N_SERVE = 6000


def main():
    tmp = tempfile.mkdtemp()
    subprocess.check_call(["apt-get", "download", "fortunes"], cwd=tmp, stdout=subprocess.DEVNULL)
    deb = glob.glob(os.path.join(tmp, "fortunes_*.deb"))[0]
    version = subprocess.check_output(["dpkg-deb", "-f", deb, "Version"], text=True).strip()
    subprocess.check_call(["dpkg", "-x", deb, os.path.join(tmp, "x")])
    files = sorted(f for f in glob.glob(os.path.join(tmp, "x", "usr", "share", "games", "fortunes", "*"))
                   if "." not in os.path.basename(f) and "art" not in os.path.basename(f))
    seen, sentences = set(), []
    for f in files:
        text = open(f, encoding="utf-8", errors="replace").read()
        for fortune in text.split("\n%\n"):
            if "\t" in fortune:
                continue
            flat = re.sub(r"\s+", " ", fortune).strip()
            flat = re.sub(r"\s*--\s*[A-Z][^.!?]*$", "", flat)  # attribution lines
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", flat):
                s = s.strip()
                if 3 <= len(s) <= 400 and s not in seen:
                    seen.add(s)
                    sentences.append(s)
    random.Random(20261125).shuffle(sentences)
    chosen = sentences[:N]
    with open(OUT, "w", encoding="utf-8") as out:
        out.write("\n".join(chosen) + "\n")
    with open(os.path.join(ROOT, "bench", "data", "serve-sentences.txt.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:  # (mtime 0: the same bytes on every run)
            out.write(("\n".join(sentences[:N_SERVE]) + "\n").encode("utf-8"))
    with open(os.path.join(ROOT, "bench", "data", "README.md"), "w") as r:
        r.write(f"""# Benchmark data

`sentences.txt`: {len(chosen)} English sentences, one per line, made by `tools/make_corpus.py` from the Debian
package `fortunes` {version} (quotations and proverbs; {len(sentences)} distinct sentences found, {len(chosen)} drawn
with a fixed seed). Used by the real-length workload in `bench/`, where each text keeps its natural length.

`serve-sentences.txt.gz`: the first {min(N_SERVE, len(sentences))} sentences of the same draw (its first {len(chosen)} lines are
`sentences.txt`), the request stream of the GPU serving benchmark (`bench/cuda/run.sh`, `bench_cuda serve`).
""")
    lens = sorted(len(s) for s in chosen)
    print(f"{len(chosen)} sentences from fortunes {version}; chars p10 {lens[len(lens)//10]} median {lens[len(lens)//2]} p90 {lens[9*len(lens)//10]} max {lens[-1]}")


if __name__ == "__main__":
    main()
