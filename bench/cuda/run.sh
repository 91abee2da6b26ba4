#!/bin/sh
# On a GPU machine (the `device` tool's; no Node.js there): builds the CUDA backend with the machine's nvcc, runs
# the GPU tests, then bertrt's benchmark and the PyTorch peer in the same session, writing everything to $OUT
# (or bench/results/cuda/ when OUT is unset). Summarize with: node bench/cuda/report.mjs <dir>
set -eu
cd "$(dirname "$0")/../.."
out="${OUT:-bench/results/cuda}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" || true
node_free_build() {
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  cmake -S . -B build/cuda -DCMAKE_BUILD_TYPE=Release -DBERTRT_CUDA=ON -DBERTRT_TESTS=ON -DBERTRT_BENCH=ON \
        -DCMAKE_CUDA_COMPILER="$nvcc" -DBERTRT_CUDA_ARCHS="${BERTRT_CUDA_ARCHS:-90-real}" > "$out/cmake.log"
  cmake --build build/cuda -j 16 --target bertrt_cuda test_cuda bench_cuda >> "$out/cmake.log"
}
node_free_build
./build/cuda/test_cuda | tee "$out/test_cuda.txt"
./build/cuda/bench_cuda | tee "$out/bench_cuda.jsonl"
python3 bench/cuda/torch_peer.py | tee "$out/torch_peer.jsonl"
