#!/bin/sh
# On a GPU machine (the `device` tool's; no Node.js there): builds the CUDA backend with the machine's nvcc, runs
# the GPU tests, then bertrt's benchmark (each kernel alone, then the encoder) and the PyTorch peer (cuBLAS and SDPA
# kernels, then transformers' BertModel) in the same session, the precisions' accuracy on the real MiniLM
# (accuracy.py), then the serving replay (bench_cuda serve: real
# sentences from 256 closed-loop clients through the server's batching policy), writing everything to $OUT (or
# bench/results/cuda-run/ when OUT is unset); compute-sanitizer's memcheck and racecheck over the tests come last. Each step runs even when
# an earlier one failed, and says so. Summarize with: node bench/cuda/report.mjs <dir>
#   BERTRT_BENCH_SECONDS  time per benchmark point (default 1)
#   BERTRT_PREBUILT       a folder holding test_cuda and bench_cuda built elsewhere, used if the build here fails
#   BERTRT_SANITIZERS=0   skips compute-sanitizer
set -u
cd "$(dirname "$0")/../.."
out="${OUT:-bench/results/cuda-run}"
mkdir -p "$out"
step() { echo "== $*"; }
# at most seven files: gpu.txt, log.txt (build, disassembly counts, stderr), test_cuda.txt, sanitize.txt and the three
# .jsonl that report.mjs reads
log="$out/log.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
"$nvcc" --version | tail -2 | tee "$log"
# cuBLASLt for the FP16, INT8 and FP8 GEMMs (native/cuda/cublaslt.cuh; opt-in, and the tests and bench_cuda turn it on): the CUDA
# toolkit's, else the nvidia-cublas wheel's that PyTorch brought; BERTRT_CUBLASLT set beforehand wins (0: own kernels)
if [ -z "${BERTRT_CUBLASLT:-}" ]; then
  for f in /usr/local/cuda/lib64/libcublasLt.so.13 /usr/local/cuda/lib64/libcublasLt.so.12 \
           $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null | tr ' ' '\n' | sed 's|$|/nvidia/*/lib/libcublasLt.so.1[23]|'); do
    for g in $f; do
      if [ -f "$g" ]; then export BERTRT_CUBLASLT="$g"; break 2; fi
    done
  done
fi
echo "cuBLASLt: ${BERTRT_CUBLASLT:-not found}" | tee -a "$log"
bin=build/cuda
step build
if ! { timeout 240 cmake -S . -B build/cuda -DCMAKE_BUILD_TYPE=Release -DBERTRT_CUDA=ON -DBERTRT_TESTS=ON -DBERTRT_BENCH=ON \
         -DCMAKE_CUDA_COMPILER="$nvcc" -DBERTRT_CUDA_ARCHS="${BERTRT_CUDA_ARCHS:-90-real}" &&
       timeout 240 cmake --build build/cuda -j 16 --target bertrt_cuda test_cuda bench_cuda; } >> "$log" 2>&1; then
  tail -20 "$log"
  if [ -n "${BERTRT_PREBUILT:-}" ]; then echo "build failed: using $BERTRT_PREBUILT"; bin="$BERTRT_PREBUILT"; fi
fi
command -v cuobjdump > /dev/null && cuobjdump --dump-sass "$bin/bench_cuda" 2>/dev/null |
  grep -oE '(HMMA|IMMA|HGMMA|LDSM|LDGSTS)[.A-Z0-9]*' | sort | uniq -c >> "$log"
step test_cuda
BERTRT_TEST_VERBOSE=1 timeout 150 "$bin/test_cuda" > "$out/test_cuda.txt" 2>&1
echo "test_cuda exit $?"
grep -E "FAIL|passed" "$out/test_cuda.txt"
step bench kernels
timeout 120 "$bin/bench_cuda" kernels > "$out/bench_cuda.jsonl" 2>> "$log" || tail -3 "$log"
timeout 90 python3 bench/cuda/torch_peer.py kernels > "$out/torch_peer.jsonl" 2>> "$log" || tail -3 "$log"
step bench models
for m in bert-base minilm-l6; do
  timeout 150 "$bin/bench_cuda" "$m" 2>> "$log" | grep -v '"device"' >> "$out/bench_cuda.jsonl"
done
timeout 150 python3 bench/cuda/torch_peer.py bert-base 2>> "$log" | grep -v '"device"' >> "$out/torch_peer.jsonl"
timeout 90 python3 bench/cuda/torch_peer.py minilm-l6 2>> "$log" | grep -v '"device"' >> "$out/torch_peer.jsonl"
step accuracy
# the precisions on the real all-MiniLM-L6-v2 against HF transformers' FP32 (the library through ctypes)
timeout 150 python3 bench/cuda/accuracy.py "$bin/libbertrt_cuda.so" > "$out/accuracy.jsonl" 2>> "$log" || tail -3 "$log"
grep -v '"device"' "$out/accuracy.jsonl" | cut -c1-200
step bench serving
# the request stream as token ids (HF tokenizers, identical to bertrt's), then 256 closed-loop clients through the
# server's batching policy and the C interface (bench_cuda serve)
ids=$(mktemp)
if timeout 60 python3 bench/cuda/serve_ids.py > "$ids" 2>> "$log"; then
  timeout 240 "$bin/bench_cuda" serve "$ids" 256 2>> "$log" | grep -v '"device"' >> "$out/bench_cuda.jsonl"
else
  echo "serve_ids.py failed" | tee -a "$log"
fi
rm -f "$ids"
step sanitizers
if [ "${BERTRT_SANITIZERS:-1}" != 0 ] && command -v compute-sanitizer > /dev/null; then
  for tool in memcheck racecheck; do
    timeout 75 compute-sanitizer --tool $tool --print-limit 20 "$bin/test_cuda" >> "$out/sanitize.txt" 2>&1
    echo "$tool exit $?" | tee -a "$out/sanitize.txt"
    tail -2 "$out/sanitize.txt"
  done
fi
step summary
cat "$out/bench_cuda.jsonl" "$out/torch_peer.jsonl" | sed 's/"kernel": //; s/"model": //; s/"precision": //' | cut -c1-150
