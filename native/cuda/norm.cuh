// Row-wise kernels that end one stage and produce the next GEMM's input in one pass: embedding lookup +
// LayerNorm, LayerNorm of (GEMM output + residual, already summed by the GEMM epilogue), and per-row INT8
// quantization. LayerNorm statistics are FP32 (two passes: mean, then variance about the mean).
#pragma once
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../core/quantize.h"
#include "common.cuh"

namespace bertrt_cuda {

// Where a row-wise kernel writes: the FP32 residual stream, and the next GEMM's input as FP16, as INT8 with a per-row
// scale (symmetric, scale = max|x| / 127), or as FP8 E4M3 with a per-row scale (scale = max|x| / 448, E4M3's largest
// finite value; x / scale rounded to nearest even, saturating). Null members are not written; q8 and f8 share q_scale.
struct RowOut {
  float* x32 = nullptr;          // [rows][cols]
  __half* x16 = nullptr;         // [rows][cols]
  int8_t* q8 = nullptr;          // [rows][cols]
  __nv_fp8_e4m3* f8 = nullptr;   // [rows][cols]
  float* q_scale = nullptr;      // [rows]
};

constexpr float kFp8Max = 448.f;  // E4M3's largest finite magnitude

// FP8 weight quantization (core/quantize.h's symmetric per-channel scheme with qmax 448; host code): q =
// e4m3(W * (448 / max|W[r]|)) by cuda_fp8.h's conversion (nearest, ties to even, saturating at +-448).
inline void quantize_weight_rows_fp8(const float* w, int n, int k, __nv_fp8_e4m3* q, float* scale) {
  bertrt::quantize_weight_rows_symmetric(w, n, k, kFp8Max, [](float v) { return __nv_fp8_e4m3(v); }, q, scale);
}

// One value quantized with the row's inverse scale: INT8 rounded to nearest even and clamped to +-127, or E4M3
// (the conversion rounds to nearest even and saturates to +-448).
__device__ __forceinline__ void store_q(int8_t* q, float v) { *q = static_cast<int8_t>(fminf(fmaxf(rintf(v), -127.f), 127.f)); }
__device__ __forceinline__ void store_q(__nv_fp8_e4m3* q, float v) { *q = __nv_fp8_e4m3(v); }

// The LayerNorm of one row, for a kernel with a block per row: `value(j)` gives the row's column j (called up to three
// times per column, by the thread that owns it: j = threadIdx.x + i * blockDim.x, so a value may read a location the
// output overwrites), and the normalized row goes to every requested output of `out`. Used by the kernels of norm.cu
// and by cuBLASLt's fused epilogue (cublaslt.cu), so that both give the same bits.
template <typename Value>
__device__ void normalize_row(Value value, int row, int cols, const float* gamma, const float* beta,
                              float eps, RowOut out) {
  __shared__ float scratch[32];
  float s = 0.f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) s += value(j);
  const float mean = block_sum(s, scratch) / cols;
  float v = 0.f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    const float d = value(j) - mean;
    v += d * d;
  }
  const float rstd = rsqrtf(block_sum(v, scratch) / cols + eps);
  const size_t base = static_cast<size_t>(row) * cols;
  float amax = 0.f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    const float y = (value(j) - mean) * rstd * gamma[j] + beta[j];
    out.x32[base + j] = y;
    if (out.x16) out.x16[base + j] = __float2half_rn(y);
    amax = fmaxf(amax, fabsf(y));
  }
  if (out.f8 || out.q8) {
    amax = block_max(amax, scratch);
    const float scale = amax > 0.f ? amax / (out.f8 ? kFp8Max : 127.f) : 1.f;
    const float inv = 1.f / scale;
    // each thread re-reads only the x32 entries it wrote itself, so no barrier is needed
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
      if (out.f8) store_q(out.f8 + base + j, out.x32[base + j] * inv);
      else store_q(out.q8 + base + j, out.x32[base + j] * inv);
    }
    if (threadIdx.x == 0) out.q_scale[row] = scale;
  }
}

// out = LayerNorm(word[ids] + pos[positions] + type[type_ids]); type and type_ids may be null (no token types).
void embed_layernorm(const int32_t* ids, const int32_t* type_ids, const int32_t* positions, int tokens, int cols,
                     const float* word, const float* pos, const float* type, const float* gamma, const float* beta,
                     float eps, RowOut out, cudaStream_t stream);

// out = LayerNorm(in) row by row.
void layernorm(const float* in, int rows, int cols, const float* gamma, const float* beta, float eps, RowOut out,
               cudaStream_t stream);

// q[r][c] = round(in[r][c] / scale[r]), scale[r] = max_c |in[r][c]| / 127 (1 for an all-zero row).
void quantize_rows(const __half* in, int rows, int cols, int8_t* q, float* scale, cudaStream_t stream);
// q[r][c] = e4m3(in[r][c] / scale[r]), scale[r] = max_c |in[r][c]| / 448 (1 for an all-zero row).
void quantize_rows(const __half* in, int rows, int cols, __nv_fp8_e4m3* q, float* scale, cudaStream_t stream);

}  // namespace bertrt_cuda
