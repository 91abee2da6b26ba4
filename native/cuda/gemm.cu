#include <cuda_pipeline.h>
#include <mma.h>

#include <type_traits>

#include "common.cuh"
#include "gemm.cuh"

namespace bertrt_cuda {
namespace {

using namespace nvcuda;

constexpr int BM = 64, BN = 64, kThreads = 128;  // 4 warps in a 2x2 grid, each 32x32 of C (2x2 fragments)

// Shared-memory layout of a staged BM x BK tile (rows of A or of W, K-contiguous). WMMA wants fragment pointers
// 32-byte aligned: FP16 rows padded to BK + 8 halfs (80 bytes: 16-row fragments and 16-wide K steps stay aligned,
// and the padding spreads banks); INT8 stored as 16-column slabs [BK/16][BM][16] (a 16-byte K step is one slab).
template <typename T, int BK>
struct Layout;
template <int BK>
struct Layout<__half, BK> {
  static constexpr int kTile = BM * (BK + 8);
  static constexpr int kLd = BK + 8;
  __device__ static int at(int r, int c) { return r * kLd + c; }
};
template <int BK>
struct Layout<int8_t, BK> {
  static constexpr int kTile = BM * BK;
  static constexpr int kLd = 16;
  __device__ static int at(int r, int c) { return (c / 16) * BM * 16 + r * 16 + (c % 16); }
};

// Stages a BM x BK tile of A and a BN x BK tile of W at k0 into shared memory with 16-byte cp.async copies;
// pieces past the matrix (rows beyond m or n, columns beyond k) are zero-filled, from a valid source address.
template <typename T, int BK>
__device__ __forceinline__ void stage(T* As, T* Ws, const T* a, const T* w, int m0, int n0, int k0, int m, int n,
                                      int k) {
  constexpr int kPer = 16 / sizeof(T);  // elements per piece
  constexpr int kPieces = BK / kPer;    // pieces per tile row
  for (int p = threadIdx.x; p < BM * kPieces; p += kThreads) {
    const int r = p / kPieces, c = (p % kPieces) * kPer;
    const int dst = Layout<T, BK>::at(r, c);
    const bool col_in = k0 + c < k;
    const bool a_in = col_in && m0 + r < m, w_in = col_in && n0 + r < n;
    __pipeline_memcpy_async(As + dst, a_in ? a + static_cast<size_t>(m0 + r) * k + k0 + c : a, 16, a_in ? 0 : 16);
    __pipeline_memcpy_async(Ws + dst, w_in ? w + static_cast<size_t>(n0 + r) * k + k0 + c : w, 16, w_in ? 0 : 16);
  }
}

template <typename Acc>
__device__ __forceinline__ void epilogue(const float* Cs, int ldc, int m0, int n0, int m, int n, const Epilogue& e,
                                         const float* a_scale, const float* w_scale) {
  for (int i = threadIdx.x; i < BM * BN; i += kThreads) {
    const int r = i / BN, c = i % BN;
    const int gm = m0 + r, gn = n0 + c;
    if (gm >= m || gn >= n) continue;
    float v = Cs[r * ldc + c];
    if (a_scale) v *= a_scale[gm] * w_scale[gn];
    if (e.bias) v += e.bias[gn];
    if (e.gelu) v = gelu_erf(v);
    const size_t o = static_cast<size_t>(gm) * n + gn;
    if (e.residual) v += e.residual[o];
    if (e.c32) e.c32[o] = v;
    if (e.c16) e.c16[o] = __float2half_rn(v);
  }
}

// T: __half or int8_t inputs; Acc: float or int accumulators. K tiles of BK elements (64 bytes per row: 32 halfs
// or 64 int8), padded by 16 bytes per row against bank conflicts.
template <typename T, typename Acc, int BK>
__global__ void __launch_bounds__(kThreads) gemm_kernel(const T* __restrict__ a, const T* __restrict__ w, int m,
                                                        int n, int k, Epilogue e, const float* __restrict__ a_scale,
                                                        const float* __restrict__ w_scale) {
  using L = Layout<T, BK>;
  constexpr int kTile = L::kTile;  // elements per staged tile
  constexpr int LDC = BN + 4;
  // two stages of (A, W) tiles; the FP32 C tile for the epilogue reuses the same memory afterwards
  constexpr int kStageBytes = 2 * 2 * kTile * static_cast<int>(sizeof(T));
  constexpr int kCBytes = BM * LDC * 4;
  __shared__ __align__(128) unsigned char smem[kStageBytes > kCBytes ? kStageBytes : kCBytes];
  T* tiles = reinterpret_cast<T*>(smem);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int warp = threadIdx.x / 32, wm = (warp / 2) * 32, wn = (warp % 2) * 32;

  using In = typename std::conditional<std::is_same<T, __half>::value, __half, signed char>::type;
  wmma::fragment<wmma::accumulator, 16, 16, 16, Acc> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], static_cast<Acc>(0));

  const int steps = (k + BK - 1) / BK;
  stage<T, BK>(tiles, tiles + kTile, a, w, m0, n0, 0, m, n, k);
  __pipeline_commit();
  for (int s = 0; s < steps; ++s) {
    if (s + 1 < steps) {
      T* next = tiles + ((s + 1) & 1) * 2 * kTile;
      stage<T, BK>(next, next + kTile, a, w, m0, n0, (s + 1) * BK, m, n, k);
    }
    __pipeline_commit();
    __pipeline_wait_prior(1);  // this step's stage has landed
    __syncthreads();
    const T* As = tiles + (s & 1) * 2 * kTile;
    const T* Ws = As + kTile;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, In, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, In, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], reinterpret_cast<const In*>(As + L::at(wm + 16 * i, kk)), L::kLd);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], reinterpret_cast<const In*>(Ws + L::at(wn + 16 * j, kk)), L::kLd);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();  // everyone is done with this stage before it is refilled
  }
  __pipeline_wait_prior(0);
  __syncthreads();

  float* Cs = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      if constexpr (std::is_same<Acc, float>::value) {
        wmma::store_matrix_sync(Cs + (wm + 16 * i) * LDC + wn + 16 * j, acc[i][j], LDC, wmma::mem_row_major);
      } else {
        // int32 accumulators, exact, converted to float in place (the int and float views share the tile)
        int* Ci = reinterpret_cast<int*>(Cs);
        wmma::store_matrix_sync(Ci + (wm + 16 * i) * LDC + wn + 16 * j, acc[i][j], LDC, wmma::mem_row_major);
      }
    }
  __syncthreads();
  if constexpr (!std::is_same<Acc, float>::value) {
    int* Ci = reinterpret_cast<int*>(Cs);
    for (int i = threadIdx.x; i < BM * LDC; i += kThreads) Cs[i] = static_cast<float>(Ci[i]);
    __syncthreads();
  }
  epilogue<Acc>(Cs, LDC, m0, n0, m, n, e, a_scale, w_scale);
}

}  // namespace

bool gemm_f16(const __half* a, const __half* w, int m, int n, int k, const Epilogue& e, cudaStream_t stream) {
  if (m < 0 || n <= 0 || k <= 0 || k % 8 != 0) return false;
  if (m == 0) return true;
  dim3 grid((n + BN - 1) / BN, (m + BM - 1) / BM);
  gemm_kernel<__half, float, 32><<<grid, kThreads, 0, stream>>>(a, w, m, n, k, e, nullptr, nullptr);
  return true;
}

bool gemm_s8(const int8_t* a, const float* a_scale, const int8_t* w, const float* w_scale, int m, int n, int k,
             const Epilogue& e, cudaStream_t stream) {
  if (m < 0 || n <= 0 || k <= 0 || k % 16 != 0 || !a_scale || !w_scale) return false;
  if (m == 0) return true;
  dim3 grid((n + BN - 1) / BN, (m + BM - 1) / BM);
  gemm_kernel<int8_t, int, 64><<<grid, kThreads, 0, stream>>>(a, w, m, n, k, e, a_scale, w_scale);
  return true;
}

}  // namespace bertrt_cuda
