#include "common.cuh"
#include "norm.cuh"

namespace bertrt_cuda {
namespace {

constexpr int kThreads = 256;

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
