#include <mma.h>

#include "attention.cuh"
#include "common.cuh"

namespace bertrt_cuda {
namespace {

using namespace nvcuda;

constexpr int kBlock = 64;     // queries per block, and keys per step
constexpr int kThreads = 128;  // 4 warps; warp w owns query rows [16w, 16w + 16)
constexpr int kLdP = kBlock + 8;
constexpr int kLdS = kBlock + 4;

template <int D>
struct Smem {
  static constexpr int kLdH = D + 8;  // halfs per Q/K/V row (16 bytes of padding)
  static constexpr int kLdO = D + 4;  // floats per O row
  static constexpr size_t q = 0;
  static constexpr size_t k = q + sizeof(__half) * kBlock * kLdH;
  static constexpr size_t v = k + sizeof(__half) * kBlock * kLdH;
  static constexpr size_t p = v + sizeof(__half) * kBlock * kLdH;
  static constexpr size_t s = p + sizeof(__half) * kBlock * kLdP;
  static constexpr size_t o = s + sizeof(float) * kBlock * kLdS;
  static constexpr size_t bytes = o + sizeof(float) * kBlock * kLdO;
};

// Copies rows [row0, row0 + 64) of one head's D columns (column offset col) of qkv into a shared tile; rows at or
// past `len` are zero.
template <int D>
__device__ __forceinline__ void load_tile(__half* dst, const __half* qkv, size_t ld, int first, int row0, int len,
                                          int col) {
  constexpr int kPieces = D / 8;  // 16-byte pieces per row
  for (int p = threadIdx.x; p < kBlock * kPieces; p += kThreads) {
    const int r = p / kPieces, c = (p % kPieces) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (row0 + r < len) v = *reinterpret_cast<const uint4*>(qkv + static_cast<size_t>(first + row0 + r) * ld + col + c);
    *reinterpret_cast<uint4*>(dst + r * Smem<D>::kLdH + c) = v;
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads) attention_kernel(const __half* __restrict__ qkv,
                                                             const int32_t* __restrict__ cu_seqlens, int hidden,
                                                             float scale_log2, __half* __restrict__ ctx) {
  const int seq = blockIdx.z, head = blockIdx.y, q0 = blockIdx.x * kBlock;
  const int first = cu_seqlens[seq], len = cu_seqlens[seq + 1] - first;
  if (q0 >= len) return;
  extern __shared__ __align__(128) unsigned char smem[];
  using S = Smem<D>;
  __half* Qs = reinterpret_cast<__half*>(smem + S::q);
  __half* Ks = reinterpret_cast<__half*>(smem + S::k);
  __half* Vs = reinterpret_cast<__half*>(smem + S::v);
  __half* Ps = reinterpret_cast<__half*>(smem + S::p);
  float* Ss = reinterpret_cast<float*>(smem + S::s);
  float* Os = reinterpret_cast<float*>(smem + S::o);
  const size_t ld = 3 * static_cast<size_t>(hidden);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = warp * 16 + lane / 2;  // this lane's query row (two lanes per row)
  const int half_cols = lane % 2;        // which half of the key block / of D this lane handles

  load_tile<D>(Qs, qkv, ld, first, q0, len, head * D);
  for (int i = threadIdx.x; i < kBlock * S::kLdO; i += kThreads) Os[i] = 0.f;
  float m = -INFINITY, l = 0.f;  // running max (log2 domain) and sum of this lane's row

  for (int k0 = 0; k0 < len; k0 += kBlock) {
    __syncthreads();  // previous K/V no longer in use (and Q/O initialized on the first pass)
    load_tile<D>(Ks, qkv, ld, first, k0, len, hidden + head * D);
    load_tile<D>(Vs, qkv, ld, first, k0, len, 2 * hidden + head * D);
    __syncthreads();

    // S = Q K^T for this warp's 16 rows x 64 keys
#pragma unroll
    for (int j = 0; j < kBlock / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < D; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
        wmma::load_matrix_sync(fa, Qs + warp * 16 * S::kLdH + kk, S::kLdH);
        wmma::load_matrix_sync(fb, Ks + j * 16 * S::kLdH + kk, S::kLdH);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(Ss + warp * 16 * kLdS + j * 16, acc, kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    // online softmax over this lane's 32 of the row's 64 scores (keys past the end masked)
    const float* srow = Ss + row * kLdS + half_cols * 32;
    __half* prow = Ps + row * kLdP + half_cols * 32;
    const int valid = min(32, max(0, len - k0 - half_cols * 32));
    float tile_max = -INFINITY;
    for (int c = 0; c < valid; ++c) tile_max = fmaxf(tile_max, srow[c] * scale_log2);
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);  // finite: every key block holds at least one valid key
    float sum = 0.f;
    for (int c = 0; c < 32; ++c) {
      const float p = c < valid ? exp2f(srow[c] * scale_log2 - m_new) : 0.f;
      prow[c] = __float2half_rn(p);
      sum += p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const float alpha = exp2f(m - m_new);  // 0 on the first block (m = -inf)
    l = l * alpha + sum;
    m = m_new;
    float* orow = Os + row * S::kLdO + half_cols * (D / 2);
    for (int c = 0; c < D / 2; ++c) orow[c] *= alpha;
    __syncwarp();

    // O += P V for this warp's rows
#pragma unroll
    for (int j = 0; j < D / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, Os + warp * 16 * S::kLdO + j * 16, S::kLdO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kBlock; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb;
        wmma::load_matrix_sync(fa, Ps + warp * 16 * kLdP + kk, kLdP);
        wmma::load_matrix_sync(fb, Vs + kk * S::kLdH + j * 16, S::kLdH);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(Os + warp * 16 * S::kLdO + j * 16, acc, S::kLdO, wmma::mem_row_major);
    }
    __syncwarp();
  }

  if (q0 + row < len) {
    const float inv = 1.f / l;
    const float* orow = Os + row * S::kLdO + half_cols * (D / 2);
    __half* out = ctx + static_cast<size_t>(first + q0 + row) * hidden + head * D + half_cols * (D / 2);
    for (int c = 0; c < D / 2; ++c) out[c] = __float2half_rn(orow[c] * inv);
  }
}

template <int D>
std::string prepare() {
  BERTRT_CUDA_TRY(cudaFuncSetAttribute(attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(Smem<D>::bytes)));
  return {};
}

template <int D>
std::string launch(const __half* qkv, const int32_t* cu, int n_seqs, int max_len, int heads, __half* ctx,
                   cudaStream_t stream) {
  const float scale_log2 = 1.4426950408889634f / sqrtf(static_cast<float>(D));
  dim3 grid((max_len + kBlock - 1) / kBlock, heads, n_seqs);
  attention_kernel<D><<<grid, kThreads, Smem<D>::bytes, stream>>>(qkv, cu, heads * D, scale_log2, ctx);
  return cuda_error(cudaGetLastError(), "attention kernel launch");
}

}  // namespace

bool attention_supports(int head_dim) { return head_dim == 32 || head_dim == 64 || head_dim == 128; }

std::string attention_prepare(int head_dim) {
  switch (head_dim) {
    case 32: return prepare<32>();
    case 64: return prepare<64>();
    case 128: return prepare<128>();
    default: return "attention: head size " + std::to_string(head_dim) + " is not supported (32, 64 or 128)";
  }
}

std::string attention(const __half* qkv, const int32_t* cu_seqlens, int n_seqs, int max_len, int heads, int head_dim,
                      __half* ctx, cudaStream_t stream) {
  if (n_seqs <= 0 || max_len <= 0) return {};
  switch (head_dim) {
    case 32: return launch<32>(qkv, cu_seqlens, n_seqs, max_len, heads, ctx, stream);
    case 64: return launch<64>(qkv, cu_seqlens, n_seqs, max_len, heads, ctx, stream);
    case 128: return launch<128>(qkv, cu_seqlens, n_seqs, max_len, heads, ctx, stream);
    default: return "attention: head size " + std::to_string(head_dim) + " is not supported (32, 64 or 128)";
  }
}

}  // namespace bertrt_cuda
