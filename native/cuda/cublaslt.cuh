// NVIDIA's cuBLASLt for the GEMMs (FP16, INT8, FP8), opened at run time with dlopen, so that libbertrt_cuda.so loads (and runs its
// own kernels) where the library is absent. The few entry points, handle types and enum values used are declared in
// cublaslt.cu from the library's public C interface; no cuBLAS header is needed to build.
//
// Off by default until a GPU session has run its tests (it was written and compiled without a GPU). BERTRT_CUBLASLT=1
// turns it on with libcublasLt.so.13, then .so.12, from the dynamic loader's search (LD_LIBRARY_PATH, the ld cache: a
// CUDA toolkit, or the nvidia-cublas wheels' lib folder put on LD_LIBRARY_PATH); BERTRT_CUBLASLT=<file> with that file;
// BERTRT_CUBLASLT=0 (or unset) leaves the own kernels.
//
// What it computes, always C[M][N] = A[M][K] . W[N][K]^T (W in PyTorch's [out][in] layout):
//   - FP16 inputs, FP32 accumulation (CUBLAS_COMPUTE_32F), with only the epilogues cuBLASLt carries exactly as the own
//     kernels define them: FP32 output + FP32 bias + FP32 residual (the residual as the C operand, beta = 1: the
//     attention output and FFN-out GEMMs), or FP16 output + FP16 bias (cuBLASLt's bias has D's type: the QKV and FFN-in
//     GEMMs, whose activation then runs in place as an elementwise kernel);
//   - INT8 inputs (IMMA, CUBLAS_COMPUTE_32I) to the exact INT32 products, then scale_epilogue: the per-token x
//     per-channel scales and the own kernels' epilogue, the same float operations in the same order, so that the
//     result has the own IMMA kernels' bits;
//   - FP8 E4M3 inputs (Hopper and Ada; FP32 accumulation, unit scales) to FP32 products, then scale_epilogue.
// Algorithms: cublasLtMatmulAlgoGetHeuristic's best few for each shape, each timed once on the shape's first call
// (outside CUDA graph capture; inside it the heuristic's first is taken) and the fastest kept; the workspace is the
// caller's and bounds the choice.
#pragma once
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "gemm.cuh"
#include "norm.cuh"

namespace bertrt_cuda {

// Loads the library once per process (BERTRT_CUBLASLT read then). Empty when usable; else why not (not found, a
// missing entry point, or turned off).
const std::string& cublaslt_status();
// "cuBLASLt <version> (<path>)" when usable.
std::string cublaslt_description();

struct LtEpilogue {
  const float* bias32 = nullptr;    // [N], with c32
  const __half* bias16 = nullptr;   // [N], with c16
  const float* residual = nullptr;  // [M][N], with c32 (beta = 1)
  float* c32 = nullptr;             // [M][N]
  __half* c16 = nullptr;            // [M][N]
};

// C = A . W^T through cublasLtMatmul on `stream` (exactly one of c32 / c16; biases as above). K and N must be
// multiples of 8 (16-byte rows). Returns an error message, empty on success; "unsupported" when cuBLASLt has no
// algorithm for the shape (the caller then uses its own kernel). Thread-safe.
std::string lt_gemm_f16(const __half* a, const __half* w, int m, int n, int k, const LtEpilogue& e, void* workspace,
                        size_t workspace_bytes, cudaStream_t stream);

// INT8: acc[M][N] = A[M][K] . W[N][K]^T in INT32, exact (K a multiple of 16, N of 4). Errors as lt_gemm_f16.
std::string lt_gemm_s8(const int8_t* a, const int8_t* w, int m, int n, int k, int32_t* acc, void* workspace,
                       size_t workspace_bytes, cudaStream_t stream);
// FP8 E4M3 (compute capability 8.9 or newer): acc[M][N] = A[M][K] . W[N][K]^T with FP32 accumulation (K and N
// multiples of 16, the FP8 kernels' alignment). Errors as lt_gemm_f16.
std::string lt_gemm_f8(const __nv_fp8_e4m3* a, const __nv_fp8_e4m3* w, int m, int n, int k, float* acc,
                       void* workspace, size_t workspace_bytes, cudaStream_t stream);

// Whether cuBLASLt has an FP8 algorithm for an N x K weight on this device (asked of its heuristic, nothing run).
bool lt_f8_supported(int n, int k, size_t workspace_bytes);

// The own GEMM kernels' epilogue over a finished product acc[M][N]: v = acc * (a_scale[r] * w_scale[c]), then e's
// bias, activation, gated product and residual, written to e.c32 / e.c16 (gemm.cuh's Epilogue, in that order).
void scale_epilogue(const int32_t* acc, int m, int n, const float* a_scale, const float* w_scale, const Epilogue& e,
                    cudaStream_t stream);
void scale_epilogue(const float* acc, int m, int n, const float* a_scale, const float* w_scale, const Epilogue& e,
                    cudaStream_t stream);

// The same epilogue (without residual or stores) over a row, its values rounded to FP16 and then quantized per row
// for the next GEMM (INT8: scale max|v| / 127; FP8: max|v| / 448): the bits of scale_epilogue to FP16 followed by
// quantize_rows (norm.cuh), without the FP16 row in memory. For the FFN's activation output.
void scale_epilogue_quantize(const int32_t* acc, int m, int n, const float* a_scale, const float* w_scale,
                             const Epilogue& e, int8_t* q, float* q_scale, cudaStream_t stream);
void scale_epilogue_quantize(const float* acc, int m, int n, const float* a_scale, const float* w_scale,
                             const Epilogue& e, __nv_fp8_e4m3* q, float* q_scale, cudaStream_t stream);
// y = acc * scales + bias + residual, then LayerNorm(y) written to `out` (norm.cuh; out.x32 may be `residual`): the
// bits of scale_epilogue to FP32 followed by layernorm, without y in memory. For a post-norm layer's residual blocks.
void scale_epilogue_layernorm(const int32_t* acc, int m, int n, const float* a_scale, const float* w_scale,
                              const float* bias, const float* residual, const float* gamma, const float* beta,
                              float eps, const RowOut& out, cudaStream_t stream);
void scale_epilogue_layernorm(const float* acc, int m, int n, const float* a_scale, const float* w_scale,
                              const float* bias, const float* residual, const float* gamma, const float* beta,
                              float eps, const RowOut& out, cudaStream_t stream);

// x[i] = act(x[i]) * (mul ? mul[i] : 1) over n FP16 values, computed in FP32 (act: 0 none, 1 GELU (erf), 2 SiLU,
// 3 GELU's tanh form).
void activate_f16(__half* x, size_t n, int act, const __half* mul, cudaStream_t stream);

}  // namespace bertrt_cuda
