#include <cuda_pipeline.h>
#include <mma.h>

#include <cstdlib>
#include <string>
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


// ---- Large-tile kernel: 128x128 tiles, 8 warps (2 x 4, each 64x32 of C), K staged 64 bytes at a time through a
// 3-stage cp.async pipeline, fragments loaded with ldmatrix and multiplied with mma.sync: m16n8k16 for FP16,
// m16n8k32 for INT8. Both take 32 bytes of K per step, so the staging, the ldmatrix addressing and the accumulator
// layout are the same for both types; only the instruction differs. The epilogue works from registers.
namespace big {

constexpr int BM = 128, BN = 128, kThreads = 256, kStages = 3;
constexpr int kRowBytes = 64;                  // K bytes staged per row and stage
constexpr int kLdBytes = kRowBytes + 16;       // padded: 8 consecutive rows' 16-byte chunks hit distinct banks
constexpr int kTileBytes = (BM + BN) * kLdBytes;
constexpr int kSmemBytes = kStages * kTileBytes;  // 61,440 bytes: needs the dynamic shared-memory opt-in

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; `bytes` = 0 zero-fills the destination (src must still be valid).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <typename T>
struct Mma;
template <>
struct Mma<__half> {
  using Acc = float;
  __device__ static void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};
template <>
struct Mma<int8_t> {
  using Acc = int;
  __device__ static void run(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// One stage: rows [m0, m0+128) of A and [n0, n0+128) of W, K bytes [kb, kb+64); past the matrix: zeros.
__device__ __forceinline__ void stage(unsigned char* tile, const unsigned char* a, const unsigned char* w, int m0,
                                      int n0, int kb, int m, int n, int kbytes) {
  const uint32_t base = smem_addr(tile);
  // (128 + 128) rows x 4 chunks = 1024 chunks, 4 per thread
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int p = threadIdx.x + i * kThreads;
    const int r = p >> 2, c = (p & 3) * 16;
    const bool is_a = r < BM;
    const int gr = is_a ? m0 + r : n0 + (r - BM);
    const bool in = (is_a ? gr < m : gr < n) && kb + c < kbytes;
    const unsigned char* src = is_a ? a : w;
    if (in) src += static_cast<size_t>(gr) * kbytes + kb + c;
    cp_async16(base + r * kLdBytes + c, src, in ? 16 : 0);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) kernel(const T* __restrict__ a, const T* __restrict__ w, int m, int n,
                                                   int k, Epilogue e, const float* __restrict__ a_scale,
                                                   const float* __restrict__ w_scale) {
  using Acc = typename Mma<T>::Acc;
  extern __shared__ __align__(128) unsigned char smem[];
  const int kbytes = k * static_cast<int>(sizeof(T));
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
  const auto* ab = reinterpret_cast<const unsigned char*>(a);
  const auto* wb = reinterpret_cast<const unsigned char*>(w);

  Acc acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0;

  const int ktiles = (kbytes + kRowBytes - 1) / kRowBytes;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) stage(smem + s * kTileBytes, ab, wb, m0, n0, s * kRowBytes, m, n, kbytes);
    cp_async_commit();
  }
  // ldmatrix row addresses of this lane: A rows (lane % 16) at chunk lane / 16; W (as two n8 x k16 pairs) rows
  // (lane % 8) + 8 (lane / 16) at chunk (lane / 8) % 2
  const int a_row = wm + (lane & 15), a_chunk = (lane >> 4) * 16;
  const int w_row = BM + wn + (lane & 7) + ((lane >> 4) << 3), w_chunk = ((lane >> 3) & 1) * 16;

  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // tile kt has landed for everyone; the slot refilled below was consumed by everyone
    const int next = kt + kStages - 1;
    if (next < ktiles) stage(smem + (next % kStages) * kTileBytes, ab, wb, m0, n0, next * kRowBytes, m, n, kbytes);
    cp_async_commit();
    const uint32_t tile = smem_addr(smem + (kt % kStages) * kTileBytes);
#pragma unroll
    for (int ks = 0; ks < kRowBytes; ks += 32) {
      uint32_t fa[4][4], fb[2][4];
#pragma unroll
      for (int i = 0; i < 4; ++i) ldmatrix_x4(fa[i], tile + (a_row + 16 * i) * kLdBytes + ks + a_chunk);
#pragma unroll
      for (int j = 0; j < 2; ++j) ldmatrix_x4(fb[j], tile + (w_row + 16 * j) * kLdBytes + ks + w_chunk);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) Mma<T>::run(acc[i][j], fa[i], fb[j >> 1][(j & 1) * 2], fb[j >> 1][(j & 1) * 2 + 1]);
    }
  }
  cp_async_wait<0>();

  // epilogue from registers: acc[i][j] holds rows g and g + 8 of the 16-row tile i, columns 2 t and 2 t + 1 of the
  // 8-column tile j (g = lane / 4, t = lane % 4)
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int gm = m0 + wm + 16 * i + g + 8 * h;
      if (gm >= m) continue;
      const float sa = a_scale ? a_scale[gm] : 1.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int gn = n0 + wn + 8 * j + 2 * t;  // even; n is a multiple of 8, so gn + 1 < n when gn < n
        if (gn >= n) continue;
        float v0 = static_cast<float>(acc[i][j][2 * h]), v1 = static_cast<float>(acc[i][j][2 * h + 1]);
        if (a_scale) {
          const float2 sw = *reinterpret_cast<const float2*>(w_scale + gn);
          v0 *= sa * sw.x, v1 *= sa * sw.y;
        }
        if (e.bias) {
          const float2 b = *reinterpret_cast<const float2*>(e.bias + gn);
          v0 += b.x, v1 += b.y;
        }
        if (e.gelu) v0 = gelu_erf(v0), v1 = gelu_erf(v1);
        const size_t o = static_cast<size_t>(gm) * n + gn;
        if (e.residual) {
          const float2 r = *reinterpret_cast<const float2*>(e.residual + o);
          v0 += r.x, v1 += r.y;
        }
        if (e.c32) *reinterpret_cast<float2*>(e.c32 + o) = make_float2(v0, v1);
        if (e.c16) *reinterpret_cast<__half2*>(e.c16 + o) = __floats2half2_rn(v0, v1);
      }
    }
}

}  // namespace big

}  // namespace

namespace {

int g_sm_count = 132;  // set by gemm_prepare; only steers the choice of tile

// The large tile when it is allowed (N a multiple of 8) and its grid still covers every multiprocessor at least
// once; small problems (one short sequence) spread better over 64x64 tiles. BERTRT_CUDA_GEMM=small|large forces one.
bool use_large(int m, int n, GemmTile tile) {
  if (n % 8 != 0) return false;
  if (tile == GemmTile::kAuto) {
    static const char* force = std::getenv("BERTRT_CUDA_GEMM");
    if (force && std::string(force) == "small") tile = GemmTile::kSmall;
    if (force && std::string(force) == "large") tile = GemmTile::kLarge;
  }
  if (tile != GemmTile::kAuto) return tile == GemmTile::kLarge;
  const long blocks = static_cast<long>((m + big::BM - 1) / big::BM) * ((n + big::BN - 1) / big::BN);
  return blocks >= g_sm_count;
}

}  // namespace

std::string gemm_prepare() {
  int dev = 0;
  BERTRT_CUDA_TRY(cudaGetDevice(&dev));
  BERTRT_CUDA_TRY(cudaDeviceGetAttribute(&g_sm_count, cudaDevAttrMultiProcessorCount, dev));
  BERTRT_CUDA_TRY(cudaFuncSetAttribute(big::kernel<__half>, cudaFuncAttributeMaxDynamicSharedMemorySize, big::kSmemBytes));
  BERTRT_CUDA_TRY(cudaFuncSetAttribute(big::kernel<int8_t>, cudaFuncAttributeMaxDynamicSharedMemorySize, big::kSmemBytes));
  return {};
}

bool gemm_f16(const __half* a, const __half* w, int m, int n, int k, const Epilogue& e, cudaStream_t stream,
              GemmTile tile) {
  if (m < 0 || n <= 0 || k <= 0 || k % 8 != 0) return false;
  if (m == 0) return true;
  if (use_large(m, n, tile)) {
    dim3 grid((n + big::BN - 1) / big::BN, (m + big::BM - 1) / big::BM);
    big::kernel<__half><<<grid, big::kThreads, big::kSmemBytes, stream>>>(a, w, m, n, k, e, nullptr, nullptr);
    return true;
  }
  dim3 grid((n + BN - 1) / BN, (m + BM - 1) / BM);
  gemm_kernel<__half, float, 32><<<grid, kThreads, 0, stream>>>(a, w, m, n, k, e, nullptr, nullptr);
  return true;
}

bool gemm_s8(const int8_t* a, const float* a_scale, const int8_t* w, const float* w_scale, int m, int n, int k,
             const Epilogue& e, cudaStream_t stream, GemmTile tile) {
  if (m < 0 || n <= 0 || k <= 0 || k % 16 != 0 || !a_scale || !w_scale) return false;
  if (m == 0) return true;
  if (use_large(m, n, tile)) {
    dim3 grid((n + big::BN - 1) / big::BN, (m + big::BM - 1) / big::BM);
    big::kernel<int8_t><<<grid, big::kThreads, big::kSmemBytes, stream>>>(a, w, m, n, k, e, a_scale, w_scale);
    return true;
  }
  dim3 grid((n + BN - 1) / BN, (m + BM - 1) / BM);
  gemm_kernel<int8_t, int, 64><<<grid, kThreads, 0, stream>>>(a, w, m, n, k, e, a_scale, w_scale);
  return true;
}

}  // namespace bertrt_cuda
