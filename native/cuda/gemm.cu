// The GEMM kernels of gemm.cuh: the 64x64 WMMA kernel first, then the tiled mma.sync kernels and the dispatch.
#include <cuda_pipeline.h>
#include <mma.h>

#include <cstdlib>
#include <string>
#include <type_traits>

#include "common.cuh"
#include "gemm.cuh"
#include "mma.cuh"

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
    if (e.gelu_tanh) v = gelu_tanh(v);
    if (e.silu) v = silu(v);
    const size_t o = static_cast<size_t>(gm) * n + gn;
    if (e.mul16) v *= __half2float(e.mul16[o]);
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

// ---- Tiled kernels on ldmatrix + mma.sync (m16n8k16 for FP16, m16n8k32 for INT8), K staged through a
// multi-stage cp.async pipeline, epilogue from registers. Both instructions take 32 bytes of K per step, so the
// staging, the ldmatrix addressing and the accumulator layout are the same for both types; only the instruction
// differs. Tile shapes are template parameters (Tiles below).
namespace tiled {

template <int BM_, int BN_, int WARPS_M, int WARPS_N, int KBYTES, int STAGES>
struct Tiles {
  static constexpr int BM = BM_, BN = BN_, kStages = STAGES;
  static constexpr int kThreads = 32 * WARPS_M * WARPS_N;
  static constexpr int kWarpM = BM / WARPS_M, kWarpN = BN / WARPS_N;  // C per warp
  static constexpr int MI = kWarpM / 16, NI = kWarpN / 8;              // mma tiles per warp
  static constexpr int kRowBytes = KBYTES;                              // K bytes staged per row and stage
  static constexpr int kLdBytes = KBYTES + 16;  // padded: 8 consecutive rows' 16-byte chunks hit distinct banks
  static constexpr int kTileBytes = (BM + BN) * kLdBytes;
  static constexpr int kSmemBytes = STAGES * kTileBytes;
  static constexpr int kChunks = (BM + BN) * (KBYTES / 16);  // 16-byte copies per stage
  static_assert(NI % 2 == 0 && MI >= 1 && KBYTES % 32 == 0 && kChunks % kThreads == 0, "tile shape");
};

// One stage: rows [m0, m0 + BM) of A and [n0, n0 + BN) of W, K bytes [kb, kb + KBYTES); past the matrix: zeros.
template <typename C>
__device__ __forceinline__ void stage(unsigned char* tile, const unsigned char* a, const unsigned char* w, int m0,
                                      int n0, int kb, int m, int n, int kbytes) {
  constexpr int kPerRow = C::kRowBytes / 16;
  const uint32_t base = smem_addr(tile);
#pragma unroll
  for (int i = 0; i < C::kChunks / C::kThreads; ++i) {
    const int p = threadIdx.x + i * C::kThreads;
    const int r = p / kPerRow, c = (p % kPerRow) * 16;
    const bool is_a = r < C::BM;
    const int gr = is_a ? m0 + r : n0 + (r - C::BM);
    const bool in = (is_a ? gr < m : gr < n) && kb + c < kbytes;
    const unsigned char* src = is_a ? a : w;
    if (in) src += static_cast<size_t>(gr) * kbytes + kb + c;
    cp_async16(base + r * C::kLdBytes + c, src, in ? 16 : 0);
  }
}

template <typename T>
struct Acc;
template <>
struct Acc<__half> {
  using type = float;
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) { mma_f16(d, a, b0, b1); }
};
template <>
struct Acc<int8_t> {
  using type = int;
  __device__ static void mma(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) { mma_s8(d, a, b0, b1); }
};

template <typename T, typename C>
__global__ void __launch_bounds__(C::kThreads) kernel(const T* __restrict__ a, const T* __restrict__ w, int m, int n,
                                                      int k, Epilogue e, const float* __restrict__ a_scale,
                                                      const float* __restrict__ w_scale) {
  using A = typename Acc<T>::type;
  extern __shared__ __align__(128) unsigned char smem[];
  const int kbytes = k * static_cast<int>(sizeof(T));
  const int m0 = blockIdx.y * C::BM, n0 = blockIdx.x * C::BN;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  constexpr int kWarpsN = C::BN / C::kWarpN;
  const int wm = (warp / kWarpsN) * C::kWarpM, wn = (warp % kWarpsN) * C::kWarpN;
  const auto* ab = reinterpret_cast<const unsigned char*>(a);
  const auto* wb = reinterpret_cast<const unsigned char*>(w);

  A acc[C::MI][C::NI][4];
#pragma unroll
  for (int i = 0; i < C::MI; ++i)
#pragma unroll
    for (int j = 0; j < C::NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0;

  const int ktiles = (kbytes + C::kRowBytes - 1) / C::kRowBytes;
#pragma unroll
  for (int s = 0; s < C::kStages - 1; ++s) {
    if (s < ktiles) stage<C>(smem + s * C::kTileBytes, ab, wb, m0, n0, s * C::kRowBytes, m, n, kbytes);
    cp_async_commit();
  }
  // ldmatrix row addresses of this lane: A rows (lane % 16) at chunk lane / 16; W (as pairs of n8 x k16 blocks)
  // rows (lane % 8) + 8 (lane / 16) at chunk (lane / 8) % 2
  const int a_row = wm + (lane & 15), a_chunk = (lane >> 4) * 16;
  const int w_row = C::BM + wn + (lane & 7) + ((lane >> 4) << 3), w_chunk = ((lane >> 3) & 1) * 16;

  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<C::kStages - 2>();
    __syncthreads();  // tile kt has landed for everyone; the slot refilled below was consumed by everyone
    const int next = kt + C::kStages - 1;
    if (next < ktiles)
      stage<C>(smem + (next % C::kStages) * C::kTileBytes, ab, wb, m0, n0, next * C::kRowBytes, m, n, kbytes);
    cp_async_commit();
    const uint32_t tile = smem_addr(smem + (kt % C::kStages) * C::kTileBytes);
#pragma unroll
    for (int ks = 0; ks < C::kRowBytes; ks += 32) {
      uint32_t fa[C::MI][4], fb[C::NI / 2][4];
#pragma unroll
      for (int i = 0; i < C::MI; ++i) ldmatrix_x4(fa[i], tile + (a_row + 16 * i) * C::kLdBytes + ks + a_chunk);
#pragma unroll
      for (int j = 0; j < C::NI / 2; ++j) ldmatrix_x4(fb[j], tile + (w_row + 16 * j) * C::kLdBytes + ks + w_chunk);
#pragma unroll
      for (int i = 0; i < C::MI; ++i)
#pragma unroll
        for (int j = 0; j < C::NI; ++j)
          Acc<T>::mma(acc[i][j], fa[i], fb[j >> 1][(j & 1) * 2], fb[j >> 1][(j & 1) * 2 + 1]);
    }
  }
  cp_async_wait<0>();

  // epilogue from registers: acc[i][j] holds rows g and g + 8 of the 16-row tile i, columns 2 t and 2 t + 1 of the
  // 8-column tile j (g = lane / 4, t = lane % 4)
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < C::MI; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int gm = m0 + wm + 16 * i + g + 8 * h;
      if (gm >= m) continue;
      const float sa = a_scale ? a_scale[gm] : 1.f;
#pragma unroll
      for (int j = 0; j < C::NI; ++j) {
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
        if (e.gelu_tanh) v0 = gelu_tanh(v0), v1 = gelu_tanh(v1);
        if (e.silu) v0 = silu(v0), v1 = silu(v1);
        const size_t o = static_cast<size_t>(gm) * n + gn;
        if (e.mul16) {
          const float2 g = __half22float2(*reinterpret_cast<const __half2*>(e.mul16 + o));
          v0 *= g.x, v1 *= g.y;
        }
        if (e.residual) {
          const float2 r = *reinterpret_cast<const float2*>(e.residual + o);
          v0 += r.x, v1 += r.y;
        }
        if (e.c32) *reinterpret_cast<float2*>(e.c32 + o) = make_float2(v0, v1);
        if (e.c16) *reinterpret_cast<__half2*>(e.c16 + o) = __floats2half2_rn(v0, v1);
      }
    }
}

// The shapes kept, chosen on an H200 and an H100 among nine mma.sync shapes (bench/cuda/NOTES.md; the reports'
// kernel tables keep the others' timings). Per thread block: BM x BN of C, warps, K bytes per stage, stages.
using T128x128 = Tiles<128, 128, 2, 4, 128, 3>;  // many tokens: 8 warps of 64x32; 110,592 B shared
using T32x64 = Tiles<32, 64, 1, 2, 128, 4>;      // few tokens: 2 warps of 32x32, more loads in flight; 55,296 B

template <typename T, typename C>
bool launch(const T* a, const T* w, int m, int n, int k, const Epilogue& e, const float* a_scale,
            const float* w_scale, cudaStream_t stream) {
  dim3 grid((n + C::BN - 1) / C::BN, (m + C::BM - 1) / C::BM);
  kernel<T, C><<<grid, C::kThreads, C::kSmemBytes, stream>>>(a, w, m, n, k, e, a_scale, w_scale);
  return true;
}

template <typename C>
std::string prepare() {
  BERTRT_CUDA_TRY(cudaFuncSetAttribute(kernel<__half, C>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmemBytes));
  BERTRT_CUDA_TRY(cudaFuncSetAttribute(kernel<int8_t, C>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmemBytes));
  return {};
}

}  // namespace tiled

}  // namespace

namespace {

int g_sm_count = 132;  // set by gemm_prepare; only steers the choice of tile

GemmTile forced_tile() {
  static const GemmTile forced = [] {
    const char* f = std::getenv("BERTRT_CUDA_GEMM");
    const std::string v = f ? f : "";
    if (v == "wmma") return GemmTile::kWmma64;
    if (v == "128x128") return GemmTile::k128x128;
    if (v == "32x64") return GemmTile::k32x64;
    return GemmTile::kAuto;
  }();
  return forced;
}

// kAuto, chosen from bench_cuda's per-kernel timings (bench/results/cuda.md): 128x128 tiles when their grid covers
// every multiprocessor (many tokens), else 32x64 tiles, whose many small blocks keep more loads in flight (one or
// a few sequences: 1.5-2.0x the 64x64 WMMA kernel at 128 tokens on the H100). The WMMA kernel serves N not a
// multiple of 8. All give the same bits, so the choice never changes a result. BERTRT_CUDA_GEMM=wmma|128x128|32x64
// forces one.
GemmTile choose(int m, int n, GemmTile tile) {
  if (tile == GemmTile::kAuto) tile = forced_tile();
  if (n % 8 != 0) return GemmTile::kWmma64;
  if (tile != GemmTile::kAuto) return tile;
  using L = tiled::T128x128;
  const long blocks = static_cast<long>((m + L::BM - 1) / L::BM) * ((n + L::BN - 1) / L::BN);
  return blocks >= g_sm_count ? GemmTile::k128x128 : GemmTile::k32x64;
}

template <typename T>
bool launch_mma(GemmTile tile, const T* a, const T* w, int m, int n, int k, const Epilogue& e, const float* sa,
                const float* sw, cudaStream_t stream) {
  return tile == GemmTile::k128x128 ? tiled::launch<T, tiled::T128x128>(a, w, m, n, k, e, sa, sw, stream)
                                    : tiled::launch<T, tiled::T32x64>(a, w, m, n, k, e, sa, sw, stream);
}

}  // namespace

const char* gemm_tile_name(GemmTile t) {
  switch (t) {
    case GemmTile::kWmma64: return "64x64-wmma";
    case GemmTile::k128x128: return "128x128-mma-k128";
    case GemmTile::k32x64: return "32x64-mma-k128";
    default: return "auto";
  }
}

std::string gemm_prepare() {
  int dev = 0;
  BERTRT_CUDA_TRY(cudaGetDevice(&dev));
  BERTRT_CUDA_TRY(cudaDeviceGetAttribute(&g_sm_count, cudaDevAttrMultiProcessorCount, dev));
  std::string e = tiled::prepare<tiled::T128x128>();
  return e.empty() ? tiled::prepare<tiled::T32x64>() : e;
}

namespace {

// The WMMA kernel's instantiation per input type: accumulator type and K elements per stage (64 bytes).
template <typename T>
struct Wmma;
template <>
struct Wmma<__half> {
  using Acc = float;
  static constexpr int kBK = 32;
};
template <>
struct Wmma<int8_t> {
  using Acc = int;
  static constexpr int kBK = 64;
};

// A checked shape on the chosen kernel; a_scale / w_scale are null for FP16.
template <typename T>
bool run(const T* a, const float* a_scale, const T* w, const float* w_scale, int m, int n, int k, const Epilogue& e,
         cudaStream_t stream, GemmTile tile) {
  if (m == 0) return true;
  tile = choose(m, n, tile);
  if (tile != GemmTile::kWmma64) return launch_mma<T>(tile, a, w, m, n, k, e, a_scale, w_scale, stream);
  dim3 grid((n + BN - 1) / BN, (m + BM - 1) / BM);
  gemm_kernel<T, typename Wmma<T>::Acc, Wmma<T>::kBK><<<grid, kThreads, 0, stream>>>(a, w, m, n, k, e, a_scale, w_scale);
  return true;
}

}  // namespace

bool gemm_f16(const __half* a, const __half* w, int m, int n, int k, const Epilogue& e, cudaStream_t stream,
              GemmTile tile) {
  if (m < 0 || n <= 0 || k <= 0 || k % 8 != 0) return false;
  return run<__half>(a, nullptr, w, nullptr, m, n, k, e, stream, tile);
}

bool gemm_s8(const int8_t* a, const float* a_scale, const int8_t* w, const float* w_scale, int m, int n, int k,
             const Epilogue& e, cudaStream_t stream, GemmTile tile) {
  if (m < 0 || n <= 0 || k <= 0 || k % 16 != 0 || !a_scale || !w_scale) return false;
  return run<int8_t>(a, a_scale, w, w_scale, m, n, k, e, stream, tile);
}

}  // namespace bertrt_cuda
