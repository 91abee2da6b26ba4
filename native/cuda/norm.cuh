// Row-wise kernels that end one stage and produce the next GEMM's input in one pass: embedding lookup +
// LayerNorm, LayerNorm of (GEMM output + residual, already summed by the GEMM epilogue), and per-row INT8
// quantization. LayerNorm statistics are FP32 (two passes: mean, then variance about the mean).
#pragma once
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

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
