// Tensor-core GEMMs of the encoder's linear layers: C[M][N] = A[M][K] . W[N][K]^T (W in PyTorch's [out][in]
// layout, which is the "col-major B" the tensor cores take), FP32 accumulation, and a fused epilogue:
// + bias[N], then GELU (erf or tanh form) or SiLU, then times mul16[M][N] (FP16: a gated FFN's second projection), then
// + residual[M][N] (FP32), written as FP32 and/or FP16.
//   gemm_f16: FP16 inputs (mma via WMMA 16x16x16).
//   gemm_s8:  INT8 inputs, INT32 accumulation (IMMA via WMMA 16x16x16), dequantized in the epilogue with the
//             per-row (token) scale of A times the per-column (output channel) scale of W.
// Two kernels (GemmTile below), both staging K through shared memory with cp.async.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace bertrt_cuda {

struct Epilogue {
  const float* bias = nullptr;      // [N]
  bool gelu = false;
  bool gelu_tanh = false;
  bool silu = false;
  const __half* mul16 = nullptr;    // [M][N]
  const float* residual = nullptr;  // [M][N]
  float* c32 = nullptr;             // [M][N]
  __half* c16 = nullptr;            // [M][N]
};

// Which kernel: 64x64 tiles through WMMA (4 warps; any N), or tiles through ldmatrix + mma.sync with a multi-stage
// cp.async pipeline (N a multiple of 8): 128x128 (8 warps) for many tokens, 32x64 (2 warps) for few. kAuto picks by
// the grid's size against the multiprocessor count. Every kernel gives the same bits for the same inputs.
enum class GemmTile { kAuto, kWmma64, k128x128, k32x64 };
constexpr GemmTile kAllTiles[] = {GemmTile::kWmma64, GemmTile::k128x128, GemmTile::k32x64};
const char* gemm_tile_name(GemmTile tile);

// Reads the multiprocessor count and raises the mma.sync kernels' shared-memory limits on the current device: once,
// before any launch and outside graph capture. Returns an error message, empty on success.
std::string gemm_prepare();

// K must be a multiple of 8 (FP16) or 16 (INT8): rows are read in 16-byte pieces. Returns false (launching
// nothing) when a shape is unsupported.
bool gemm_f16(const __half* a, const __half* w, int m, int n, int k, const Epilogue& e, cudaStream_t stream,
              GemmTile tile = GemmTile::kAuto);
bool gemm_s8(const int8_t* a, const float* a_scale, const int8_t* w, const float* w_scale, int m, int n, int k,
             const Epilogue& e, cudaStream_t stream, GemmTile tile = GemmTile::kAuto);

}  // namespace bertrt_cuda
