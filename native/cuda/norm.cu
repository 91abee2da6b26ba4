#include "common.cuh"
#include "norm.cuh"

namespace bertrt_cuda {
namespace {

constexpr int kThreads = 256;

// Writes the normalized row (values recomputed by `value(j)`, which each thread calls for its own columns only)
// to every requested output.
template <typename Value>
__device__ void normalize_row(Value value, int row, int cols, const float* gamma, const float* beta, float eps,
                              RowOut out) {
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
  if (out.f8) {
    amax = block_max(amax, scratch);
    const float scale = amax > 0.f ? amax / kFp8Max : 1.f;
    const float inv = 1.f / scale;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) out.f8[base + j] = __nv_fp8_e4m3(out.x32[base + j] * inv);
    if (threadIdx.x == 0) out.q_scale[row] = scale;
  } else if (out.q8) {
    amax = block_max(amax, scratch);
    const float scale = amax > 0.f ? amax / 127.f : 1.f;
    const float inv = 1.f / scale;
    // each thread re-reads only the x32 entries it wrote itself, so no barrier is needed
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
      const float q = fminf(fmaxf(rintf(out.x32[base + j] * inv), -127.f), 127.f);
      out.q8[base + j] = static_cast<int8_t>(q);
    }
    if (threadIdx.x == 0) out.q_scale[row] = scale;
  }
}

__global__ void embed_layernorm_kernel(const int32_t* __restrict__ ids, const int32_t* __restrict__ type_ids,
                                       const int32_t* __restrict__ positions, int cols, const float* __restrict__ word,
                                       const float* __restrict__ pos, const float* __restrict__ type,
                                       const float* __restrict__ gamma, const float* __restrict__ beta, float eps,
                                       RowOut out) {
  const int t = blockIdx.x;
  const float* w = word + static_cast<size_t>(ids[t]) * cols;
  const float* p = pos ? pos + static_cast<size_t>(positions[t]) * cols : nullptr;  // (rotary positions: no table)
  const float* ty = type ? type + static_cast<size_t>(type_ids ? type_ids[t] : 0) * cols : nullptr;
  normalize_row([&](int j) { return w[j] + (p ? p[j] : 0.f) + (ty ? ty[j] : 0.f); }, t, cols, gamma, beta, eps, out);
}

__global__ void layernorm_kernel(const float* __restrict__ in, int cols, const float* __restrict__ gamma,
                                 const float* __restrict__ beta, float eps, RowOut out) {
  const float* x = in + static_cast<size_t>(blockIdx.x) * cols;
  normalize_row([&](int j) { return x[j]; }, blockIdx.x, cols, gamma, beta, eps, out);
}

// One value quantized with the row's inverse scale: INT8 rounded to nearest even and clamped to +-127, or E4M3
// (the conversion rounds to nearest even and saturates to +-448).
__device__ __forceinline__ void store_q(int8_t* q, float v) { *q = static_cast<int8_t>(fminf(fmaxf(rintf(v), -127.f), 127.f)); }
__device__ __forceinline__ void store_q(__nv_fp8_e4m3* q, float v) { *q = __nv_fp8_e4m3(v); }

template <typename Q>
__global__ void quantize_rows_kernel(const __half* __restrict__ in, int cols, Q* __restrict__ q, float* __restrict__ scale,
                                     float qmax) {
  __shared__ float scratch[32];
  const size_t base = static_cast<size_t>(blockIdx.x) * cols;
  float amax = 0.f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) amax = fmaxf(amax, fabsf(__half2float(in[base + j])));
  amax = block_max(amax, scratch);
  const float s = amax > 0.f ? amax / qmax : 1.f;
  const float inv = 1.f / s;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) store_q(q + base + j, __half2float(in[base + j]) * inv);
  if (threadIdx.x == 0) scale[blockIdx.x] = s;
}

}  // namespace

void embed_layernorm(const int32_t* ids, const int32_t* type_ids, const int32_t* positions, int tokens, int cols,
                     const float* word, const float* pos, const float* type, const float* gamma, const float* beta,
                     float eps, RowOut out, cudaStream_t stream) {
  if (tokens <= 0) return;
  embed_layernorm_kernel<<<tokens, kThreads, 0, stream>>>(ids, type_ids, positions, cols, word, pos, type, gamma,
                                                          beta, eps, out);
}

void layernorm(const float* in, int rows, int cols, const float* gamma, const float* beta, float eps, RowOut out,
               cudaStream_t stream) {
  if (rows <= 0) return;
  layernorm_kernel<<<rows, kThreads, 0, stream>>>(in, cols, gamma, beta, eps, out);
}

void quantize_rows(const __half* in, int rows, int cols, int8_t* q, float* scale, cudaStream_t stream) {
  if (rows <= 0) return;
  quantize_rows_kernel<int8_t><<<rows, kThreads, 0, stream>>>(in, cols, q, scale, 127.f);
}

void quantize_rows(const __half* in, int rows, int cols, __nv_fp8_e4m3* q, float* scale, cudaStream_t stream) {
  if (rows <= 0) return;
  quantize_rows_kernel<__nv_fp8_e4m3><<<rows, kThreads, 0, stream>>>(in, cols, q, scale, kFp8Max);
}

}  // namespace bertrt_cuda
