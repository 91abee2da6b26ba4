// NVIDIA's cuBLASLt for the FP16 GEMMs, opened at run time with dlopen, so that libbertrt_cuda.so loads (and runs its
// own kernels) where the library is absent. The few entry points, handle types and enum values used are declared in
// cublaslt.cu from the library's public C interface; no cuBLAS header is needed to build.
//
// Off by default until a GPU session has run its tests (it was written and compiled without a GPU). BERTRT_CUBLASLT=1
// turns it on with libcublasLt.so.13, then .so.12, from the dynamic loader's search (LD_LIBRARY_PATH, the ld cache: a
// CUDA toolkit, or the nvidia-cublas wheels' lib folder put on LD_LIBRARY_PATH); BERTRT_CUBLASLT=<file> with that file;
// BERTRT_CUBLASLT=0 (or unset) leaves the own kernels.
//
// What it computes: C[M][N] = A[M][K] . W[N][K]^T with FP32 accumulation (CUBLAS_COMPUTE_32F) and only the epilogues
// it carries exactly as the own kernels define them:
//   - FP32 output + FP32 bias + FP32 residual (the residual as the C operand, beta = 1): the attention output and
//     FFN-out GEMMs;
//   - FP16 output + FP16 bias (cuBLASLt's bias has D's type): the QKV and FFN-in GEMMs, whose activation (GELU or
//     SiLU, times a gated FFN's second projection) then runs as a row kernel on the FP16 result.
// Everything else (INT8, other epilogue combinations) stays on the own kernels. Algorithms come from
// cublasLtMatmulAlgoGetHeuristic, queried once per shape and cached; the workspace is the caller's.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

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

// x[i] = act(x[i]) * (mul ? mul[i] : 1) over n FP16 values, computed in FP32 (act: 0 none, 1 GELU (erf), 2 SiLU,
// 3 GELU's tanh form).
void activate_f16(__half* x, size_t n, int act, const __half* mul, cudaStream_t stream);

}  // namespace bertrt_cuda
