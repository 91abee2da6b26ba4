// Kernel microbenchmarks, shared by the C++ bench executable and `bertrt bench` (through the addon): each runs
// a kernel on the engine's pool with random inputs and reports seconds per call and achieved GFLOPS, next to the
// machine's FP32 FMA peak measured in the same process.
#pragma once
#include <string>
#include <vector>

#include "../core/thread_pool.h"

namespace bertrt::bench {

struct Result {
  std::string op;     // gemm, attention, layernorm, peak
  std::string isa;
  std::string shape;  // human-readable
  double seconds = 0;  // per call, best of the repeats
  double gflops = 0;   // 0 where FLOPs are not the measure (layernorm: GB/s in gbps)
  double gbps = 0;
};

// FP32 FMA peak of `threads` threads: register-only FMA chains, no memory traffic.
Result fp32_peak(ThreadPool& pool, int threads);
// INT8 multiply-accumulate peak (VNNI vpdpbusd where the CPU has it): ops counted as 2 per multiply-add.
Result s8_peak(ThreadPool& pool, int threads);
// INT8 GEMM with pre-quantized activations (the quantization sweep is timed separately as op "quantize").
Result gemm_s8(ThreadPool& pool, const std::string& isa, int m, int n, int k, bool gelu, double min_seconds);
// BF16 GEMM with pre-converted activations (AVX512-BF16 only; an empty result elsewhere).
Result gemm_bf16(ThreadPool& pool, int m, int n, int k, bool gelu, double min_seconds);
Result quantize(ThreadPool& pool, const std::string& isa, int m, int k, double min_seconds);
// FP32 GEMM + bias (+ GELU); halves: weights that are exact halves, packed as half panels (an F16 checkpoint's).
Result gemm(ThreadPool& pool, const std::string& isa, int m, int n, int k, bool gelu, bool halves, double min_seconds);
// bf16: the AVX512-BF16 kernel (the caller checks cpu::kernels_bf16() first)
Result attention(ThreadPool& pool, const std::string& isa, int batch, int len, int heads, int head_dim, double min_seconds,
                 bool bf16 = false, int window = 0);
Result layernorm(ThreadPool& pool, const std::string& isa, int rows, int hidden, double min_seconds);

}  // namespace bertrt::bench
