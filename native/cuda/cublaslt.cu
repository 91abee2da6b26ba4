#include "cublaslt.cuh"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

#include "common.cuh"
#include "norm.cuh"

namespace bertrt_cuda {
namespace {

// cuBLASLt's C interface as far as it is used here (cublasLt.h of CUDA 12 and 13: the handle and descriptor types are
// pointers to opaque structs, the algorithm and heuristic result plain structs, the enums ints).
using Status = int;  // cublasStatus_t: 0 is CUBLAS_STATUS_SUCCESS
using Handle = void*;
using MatmulDesc = void*;
using Layout = void*;
using Preference = void*;
struct Algo {
  uint64_t data[8];
};
struct HeuristicResult {
  Algo algo;
  size_t workspace_size;
  Status state;
  float waves_count;
  int reserved[4];
};
constexpr int kCudaR32F = 0, kCudaR16F = 2, kCudaR8I = 3, kCudaR32I = 10, kCudaR8FE4M3 = 28;  // cudaDataType_t
constexpr int kComputeF32 = 68, kComputeI32 = 72;    // cublasComputeType_t
constexpr int kOpN = 0, kOpT = 1;                    // cublasOperation_t
constexpr int kDescTransA = 3, kDescTransB = 4;      // cublasLtMatmulDescAttributes_t
constexpr int kDescEpilogue = 7, kDescBiasPointer = 8;
constexpr uint32_t kEpilogueDefault = 1, kEpilogueBias = 4;  // cublasLtEpilogue_t
constexpr int kPrefMaxWorkspace = 1;                 // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES

struct Api {
  std::string path, status;
  Status (*create)(Handle*) = nullptr;
  size_t (*version)() = nullptr;
  Status (*desc_create)(MatmulDesc*, int compute, int scale_type) = nullptr;
  Status (*desc_set)(MatmulDesc, int attr, const void* buf, size_t size) = nullptr;
  Status (*desc_destroy)(MatmulDesc) = nullptr;
  Status (*layout_create)(Layout*, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;
  Status (*layout_destroy)(Layout) = nullptr;
  Status (*pref_create)(Preference*) = nullptr;
  Status (*pref_set)(Preference, int attr, const void* buf, size_t size) = nullptr;
  Status (*pref_destroy)(Preference) = nullptr;
  Status (*heuristic)(Handle, MatmulDesc, Layout a, Layout b, Layout c, Layout d, Preference, int requested,
                      HeuristicResult* results, int* returned) = nullptr;
  Status (*matmul)(Handle, MatmulDesc, const void* alpha, const void* a, Layout, const void* b, Layout, const void* beta,
                   const void* c, Layout, void* d, Layout, const Algo*, void* workspace, size_t workspace_size,
                   cudaStream_t) = nullptr;
  Handle handle = nullptr;
};

Api load() {
  Api api;
  const char* env = std::getenv("BERTRT_CUBLASLT");
  const std::string choice = env ? env : "";
  if (choice.empty()) {
    api.status = "cuBLASLt is off by default until a GPU run has verified it (BERTRT_CUBLASLT=1, or =<file>, turns it on)";
    return api;
  }
  if (choice == "0") {
    api.status = "cuBLASLt turned off (BERTRT_CUBLASLT=0)";
    return api;
  }
  void* h = nullptr;
  const std::vector<std::string> names = choice == "1" ? std::vector<std::string>{"libcublasLt.so.13", "libcublasLt.so.12"}
                                                       : std::vector<std::string>{choice};
  for (const std::string& name : names) {
    if ((h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL))) {
      api.path = name;
      break;
    }
  }
  if (!h) {
    const char* e = dlerror();
    api.status = "cuBLASLt not found (" + (choice == "1" ? std::string("libcublasLt.so.13 / .12") : choice) + ": " +
                 (e ? e : "dlopen failed") + "; BERTRT_CUBLASLT names the file)";
    return api;
  }
  bool ok = true;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
    ok = ok && fn != nullptr;
  };
  sym(api.create, "cublasLtCreate");
  sym(api.version, "cublasLtGetVersion");
  sym(api.desc_create, "cublasLtMatmulDescCreate");
  sym(api.desc_set, "cublasLtMatmulDescSetAttribute");
  sym(api.desc_destroy, "cublasLtMatmulDescDestroy");
  sym(api.layout_create, "cublasLtMatrixLayoutCreate");
  sym(api.layout_destroy, "cublasLtMatrixLayoutDestroy");
  sym(api.pref_create, "cublasLtMatmulPreferenceCreate");
  sym(api.pref_set, "cublasLtMatmulPreferenceSetAttribute");
  sym(api.pref_destroy, "cublasLtMatmulPreferenceDestroy");
  sym(api.heuristic, "cublasLtMatmulAlgoGetHeuristic");
  sym(api.matmul, "cublasLtMatmul");
  if (!ok) {
    api.status = api.path + " lacks a cublasLt entry point this build uses";
    return api;
  }
  // (the library is never closed: its kernels may be in use until the process ends)
  if (api.version() < 120000) {
    api.status = api.path + " is cuBLASLt " + std::to_string(api.version()) + "; 12.0 or newer is needed";
    return api;
  }
  if (const Status s = api.create(&api.handle); s != 0) {
    api.status = "cublasLtCreate failed (status " + std::to_string(s) + ")";
    api.handle = nullptr;
  }
  return api;
}

Api& api() {
  static Api a = load();
  return a;
}

// The operand types of a GEMM kind, in cuBLASLt's terms.
enum Kind { kF16 = 0, kS8 = 1, kF8 = 2 };
struct Types {
  int compute, scale, ab, cd;
};
Types types_of(Kind kind, bool fp32_out) {
  switch (kind) {
    case kS8: return {kComputeI32, kCudaR32I, kCudaR8I, kCudaR32I};
    case kF8: return {kComputeF32, kCudaR32F, kCudaR8FE4M3, kCudaR32F};
    default: return {kComputeF32, kCudaR32F, kCudaR16F, fp32_out ? kCudaR32F : kCudaR16F};
  }
}

// One shape, kind and epilogue: its descriptors, the heuristic's candidates that fit the workspace, and which of
// them runs (-1 until timed).
struct Plan {
  MatmulDesc desc = nullptr;
  Layout a = nullptr, b = nullptr, c = nullptr;
  std::vector<HeuristicResult> candidates;
  int chosen = -1;
};
// (a residual is the C operand, whose layout is D's: beta, set per call, says whether it is read)
using PlanKey = std::tuple<int, int, int, int, bool, bool, size_t>;  // kind, m, n, k, fp32 out, bias, workspace
constexpr int kCandidates = 4;

// Row-major C[M][N] = A[M][K] W[N][K]^T is, column-major, C^T [N x M] = op(W) [N x K] . A^T [K x M], where W's bytes
// are a K x N column-major matrix (transposed by the op) and A's a K x M one: cuBLASLt's "A" is our W, its "B" our A.
// This "TN" form is also the one cuBLASLt's IMMA and FP8 kernels require.
Plan make_plan(const PlanKey& key) {
  const auto [kind, m, n, k, fp32, bias, workspace] = key;
  Api& L = api();
  Plan p;
  const Types t = types_of(static_cast<Kind>(kind), fp32);
  if (L.desc_create(&p.desc, t.compute, t.scale) != 0) return p;
  const int ta = kOpT, tb = kOpN;
  const uint32_t epi = bias ? kEpilogueBias : kEpilogueDefault;
  if (L.desc_set(p.desc, kDescTransA, &ta, sizeof ta) != 0 || L.desc_set(p.desc, kDescTransB, &tb, sizeof tb) != 0 ||
      L.desc_set(p.desc, kDescEpilogue, &epi, sizeof epi) != 0)
    return p;
  if (L.layout_create(&p.a, t.ab, k, n, k) != 0 || L.layout_create(&p.b, t.ab, k, m, k) != 0 ||
      L.layout_create(&p.c, t.cd, n, m, n) != 0)
    return p;
  Preference pref = nullptr;
  if (L.pref_create(&pref) != 0) return p;
  const uint64_t ws = workspace;
  HeuristicResult r[kCandidates]{};
  int found = 0;
  if (L.pref_set(pref, kPrefMaxWorkspace, &ws, sizeof ws) == 0 &&
      L.heuristic(L.handle, p.desc, p.a, p.b, p.c, p.c, pref, kCandidates, r, &found) == 0)
    for (int i = 0; i < std::min(found, kCandidates); ++i)
      if (r[i].state == 0 && r[i].workspace_size <= workspace) p.candidates.push_back(r[i]);
  L.pref_destroy(pref);
  return p;
}

std::mutex g_mu;
// The plan of `key`, made on first use; the caller holds g_mu.
Plan& plan_for(const PlanKey& key) {
  static std::map<PlanKey, Plan> plans;  // never freed: descriptors are a few hundred bytes per shape
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, make_plan(key)).first;
  return it->second;
}

// The operands of one call (alpha and beta in the descriptor's scale type).
struct Call {
  const void *alpha, *beta, *a, *b, *c;
  void* d;
  void* workspace;
};

Status matmul(const Plan& p, const HeuristicResult& r, const Call& x, cudaStream_t stream) {
  Api& L = api();
  return L.matmul(L.handle, p.desc, x.alpha, x.a, p.a, x.b, p.b, x.beta, x.c, p.c, x.d, p.c, &r.algo, x.workspace,
                  r.workspace_size, stream);
}

// Times each candidate on the call's own operands (every call is idempotent: D is written, never read, unless it is
// the residual C, which is another buffer) and keeps the fastest; the first when timing is impossible. Only outside
// graph capture, where the stream may be waited for.
void choose(Plan& p, const Call& x, cudaStream_t stream) {
  p.chosen = 0;
  if (p.candidates.size() < 2) return;
  cudaEvent_t start = nullptr, stop = nullptr;
  bool events_ok = cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess;
  float best = -1.f;
  for (size_t i = 0; events_ok && i < p.candidates.size(); ++i) {
    if (matmul(p, p.candidates[i], x, stream) != 0) continue;  // (warm-up; a candidate that fails is never chosen)
    events_ok = cudaEventRecord(start, stream) == cudaSuccess;
    for (int rep = 0; rep < 3; ++rep) matmul(p, p.candidates[i], x, stream);
    float ms = 0.f;
    events_ok = events_ok && cudaEventRecord(stop, stream) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess &&
                cudaEventElapsedTime(&ms, start, stop) == cudaSuccess;
    if (events_ok && (best < 0.f || ms < best)) best = ms, p.chosen = static_cast<int>(i);
  }
  if (start) cudaEventDestroy(start);
  if (stop) cudaEventDestroy(stop);
  if (!events_ok) cudaGetLastError();  // (an event call's error, not the GEMMs': the candidate kept is still valid)
}

// Runs `key`'s GEMM on `stream`, making and timing its plan on first use; bias (F16 only) set per call under the lock.
std::string run(const PlanKey& key, const void* bias, const Call& x, cudaStream_t stream) {
  Api& L = api();
  // one lock for the plan and the call: the cached descriptor's bias pointer is set per call
  std::lock_guard<std::mutex> lock(g_mu);
  Plan& plan = plan_for(key);
  if (plan.candidates.empty()) return "unsupported";
  if (bias && L.desc_set(plan.desc, kDescBiasPointer, &bias, sizeof bias) != 0) return "cublasLtMatmulDescSetAttribute (bias) failed";
  int pick = plan.chosen;
  if (pick < 0) {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &capturing) == cudaSuccess && capturing == cudaStreamCaptureStatusNone) {
      choose(plan, x, stream);
      pick = plan.chosen;
    } else {
      pick = 0;
    }
  }
  const Status s = matmul(plan, plan.candidates[pick], x, stream);
  if (s != 0) return "cublasLtMatmul failed (status " + std::to_string(s) + ")";
  return {};
}

__global__ void activate_kernel(__half* x, size_t n, int act, const __half* mul) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float v = __half2float(x[i]);
    if (act == 1) v = gelu_erf(v);
    if (act == 2) v = silu(v);
    if (act == 3) v = gelu_tanh(v);
    if (mul) v *= __half2float(mul[i]);
    x[i] = __float2half_rn(v);
  }
}

// gemm.cu's epilogue over a product in memory, a block per 256 columns of a run of rows. Each step is one rounded
// operation (__fmul_rn / __fadd_rn, which the compiler never contracts into an FMA), as the own kernels compute them:
// their branches keep every multiply and add apart (checked in their PTX), while this kernel's straight-line code
// was contracted (scale times product plus bias in one FMA) until written this way.
// The epilogue's value at element o (row scale sa, column gn): everything but the stores.
template <typename Acc>
__device__ __forceinline__ float epilogue_value(const Acc* acc, size_t o, int gn, float sa, const float* w_scale,
                                                const Epilogue& e) {
  float v = __fmul_rn(static_cast<float>(acc[o]), __fmul_rn(sa, w_scale[gn]));
  if (e.bias) v = __fadd_rn(v, e.bias[gn]);
  if (e.gelu) v = gelu_erf(v);
  if (e.gelu_tanh) v = gelu_tanh(v);
  if (e.silu) v = silu(v);
  if (e.mul16) v = __fmul_rn(v, __half2float(e.mul16[o]));
  if (e.residual) v = __fadd_rn(v, e.residual[o]);
  return v;
}

template <typename Acc>
__global__ void scale_epilogue_kernel(const Acc* __restrict__ acc, int m, int n, const float* __restrict__ a_scale,
                                      const float* __restrict__ w_scale, Epilogue e) {
  const int gn = blockIdx.x * blockDim.x + threadIdx.x;
  if (gn >= n) return;
  for (int gm = blockIdx.y; gm < m; gm += gridDim.y) {
    const size_t o = static_cast<size_t>(gm) * n + gn;
    const float v = epilogue_value(acc, o, gn, a_scale[gm], w_scale, e);
    if (e.c32) e.c32[o] = v;
    if (e.c16) e.c16[o] = __float2half_rn(v);
  }
}

// A block per row: the epilogue's values rounded to FP16 (as scale_epilogue would store them), then quantized per row as
// norm.cu's quantize_rows quantizes an FP16 row: the same bits as the two kernels, without the FP16 row in memory. The
// values are computed twice (for the row maximum, then for the output) rather than held. q and q_scale may be the
// product's input and its row scales (a_scale): each row's scale is read before the block's first barrier and
// written after its last, and its values before they are overwritten (so none of these pointers is __restrict__).
template <typename Acc, typename Q>
__global__ void scale_epilogue_quantize_kernel(const Acc* __restrict__ acc, int n, const float* a_scale,
                                               const float* __restrict__ w_scale, Epilogue e, Q* q, float* q_scale,
                                               float qmax) {
  __shared__ float scratch[32];
  const int row = blockIdx.x;
  const size_t base = static_cast<size_t>(row) * n;
  const float sa = a_scale[row];
  auto value = [&](int j) { return __half2float(__float2half_rn(epilogue_value(acc, base + j, j, sa, w_scale, e))); };
  float amax = 0.f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) amax = fmaxf(amax, fabsf(value(j)));
  amax = block_max(amax, scratch);
  const float s = amax > 0.f ? amax / qmax : 1.f;
  const float inv = 1.f / s;
  for (int j = threadIdx.x; j < n; j += blockDim.x) store_q(q + base + j, value(j) * inv);
  __syncthreads();
  if (threadIdx.x == 0) q_scale[row] = s;
}

// A block per row: y = product . scales + bias + residual (scale_epilogue's value), then normalize_row (norm.cuh) on
// it, as the layernorm kernel reads y back: the same bits as the two kernels. out.x32 may be `residual` (each column
// is read and then written by the one thread that owns it), out.q_scale may be a_scale (normalize_row writes a row's
// scale after its last barrier, when every value of the row has been computed).
template <typename Acc>
__global__ void scale_epilogue_layernorm_kernel(const Acc* __restrict__ acc, int n, const float* a_scale,
                                                const float* __restrict__ w_scale, const float* bias,
                                                const float* residual, const float* __restrict__ gamma,
                                                const float* __restrict__ beta, float eps, RowOut out) {
  const int row = blockIdx.x;
  const size_t base = static_cast<size_t>(row) * n;
  const float sa = a_scale[row];
  Epilogue e;
  e.bias = bias, e.residual = residual;
  normalize_row([&](int j) { return epilogue_value(acc, base + j, j, sa, w_scale, e); }, row, n, gamma, beta, eps, out);
}

template <typename Acc>
void launch_scale_epilogue(const Acc* acc, int m, int n, const float* a_scale, const float* w_scale, const Epilogue& e,
                           cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;
  const dim3 grid((n + 255) / 256, std::min(m, 4096));
  scale_epilogue_kernel<Acc><<<grid, 256, 0, stream>>>(acc, m, n, a_scale, w_scale, e);
}

}  // namespace

const std::string& cublaslt_status() { return api().status; }

std::string cublaslt_description() {
  Api& L = api();
  if (!L.status.empty()) return {};
  const size_t v = L.version();
  return "cuBLASLt " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
         " (" + L.path + ")";
}

std::string lt_gemm_f16(const __half* a, const __half* w, int m, int n, int k, const LtEpilogue& e, void* workspace,
                        size_t workspace_bytes, cudaStream_t stream) {
  Api& L = api();
  if (!L.status.empty()) return L.status;
  const bool fp32 = e.c32 != nullptr;
  if (fp32 == (e.c16 != nullptr) || (fp32 && e.bias16) || (!fp32 && (e.bias32 || e.residual)) || m < 0 || n <= 0 ||
      k <= 0 || n % 8 != 0 || k % 8 != 0)
    return "unsupported";
  if (m == 0) return {};
  const void* bias = fp32 ? static_cast<const void*>(e.bias32) : static_cast<const void*>(e.bias16);
  const float alpha = 1.f, beta = e.residual ? 1.f : 0.f;
  void* d = fp32 ? static_cast<void*>(e.c32) : static_cast<void*>(e.c16);
  const Call call{&alpha, &beta, w, a, e.residual ? static_cast<const void*>(e.residual) : d, d, workspace};
  return run(PlanKey{kF16, m, n, k, fp32, bias != nullptr, workspace_bytes}, bias, call, stream);
}

// The quantized products into acc (unit scales, no epilogue): alpha and beta in the descriptor's scale type, N a
// multiple of n_align (the kind's alignment).
template <typename Scalar>
std::string quantized_product(Kind kind, int n_align, const void* a, const void* w, int m, int n, int k, void* acc,
                       void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  Api& L = api();
  if (!L.status.empty()) return L.status;
  if (m < 0 || n <= 0 || k <= 0 || n % n_align != 0 || k % 16 != 0 || !acc) return "unsupported";
  if (m == 0) return {};
  const Scalar alpha = 1, beta = 0;
  const Call call{&alpha, &beta, w, a, acc, acc, workspace};
  return run(PlanKey{kind, m, n, k, kind == kF8, false, workspace_bytes}, nullptr, call, stream);
}

std::string lt_gemm_s8(const int8_t* a, const int8_t* w, int m, int n, int k, int32_t* acc, void* workspace,
                       size_t workspace_bytes, cudaStream_t stream) {
  return quantized_product<int32_t>(kS8, 4, a, w, m, n, k, acc, workspace, workspace_bytes, stream);
}

std::string lt_gemm_f8(const __nv_fp8_e4m3* a, const __nv_fp8_e4m3* w, int m, int n, int k, float* acc,
                       void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  return quantized_product<float>(kF8, 16, a, w, m, n, k, acc, workspace, workspace_bytes, stream);
}

bool lt_f8_supported(int n, int k, size_t workspace_bytes) {
  if (!api().status.empty() || n <= 0 || k <= 0 || n % 16 != 0 || k % 16 != 0) return false;
  std::lock_guard<std::mutex> lock(g_mu);
  return !plan_for(PlanKey{kF8, 128, n, k, true, false, workspace_bytes}).candidates.empty();
}

void scale_epilogue(const int32_t* acc, int m, int n, const float* a_scale, const float* w_scale, const Epilogue& e,
                    cudaStream_t stream) {
  launch_scale_epilogue(acc, m, n, a_scale, w_scale, e, stream);
}

template <typename Acc, typename Q>
void launch_scale_epilogue_quantize(const Acc* acc, int m, int n, const float* a_scale, const float* w_scale,
                                    const Epilogue& e, Q* q, float* q_scale, float qmax, cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;
  scale_epilogue_quantize_kernel<Acc, Q><<<m, 256, 0, stream>>>(acc, n, a_scale, w_scale, e, q, q_scale, qmax);
}
void scale_epilogue_quantize(const int32_t* acc, int m, int n, const float* a_scale, const float* w_scale,
                             const Epilogue& e, int8_t* q, float* q_scale, cudaStream_t stream) {
  launch_scale_epilogue_quantize(acc, m, n, a_scale, w_scale, e, q, q_scale, 127.f, stream);
}
void scale_epilogue_quantize(const float* acc, int m, int n, const float* a_scale, const float* w_scale,
                             const Epilogue& e, __nv_fp8_e4m3* q, float* q_scale, cudaStream_t stream) {
  launch_scale_epilogue_quantize(acc, m, n, a_scale, w_scale, e, q, q_scale, kFp8Max, stream);
}

template <typename Acc>
void launch_scale_epilogue_layernorm(const Acc* acc, int m, int n, const float* a_scale, const float* w_scale,
                                     const float* bias, const float* residual, const float* gamma, const float* beta,
                                     float eps, const RowOut& out, cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;
  scale_epilogue_layernorm_kernel<Acc><<<m, 256, 0, stream>>>(acc, n, a_scale, w_scale, bias, residual, gamma, beta, eps, out);
}
void scale_epilogue_layernorm(const int32_t* acc, int m, int n, const float* a_scale, const float* w_scale,
                              const float* bias, const float* residual, const float* gamma, const float* beta,
                              float eps, const RowOut& out, cudaStream_t stream) {
  launch_scale_epilogue_layernorm(acc, m, n, a_scale, w_scale, bias, residual, gamma, beta, eps, out, stream);
}
void scale_epilogue_layernorm(const float* acc, int m, int n, const float* a_scale, const float* w_scale,
                              const float* bias, const float* residual, const float* gamma, const float* beta,
                              float eps, const RowOut& out, cudaStream_t stream) {
  launch_scale_epilogue_layernorm(acc, m, n, a_scale, w_scale, bias, residual, gamma, beta, eps, out, stream);
}
void scale_epilogue(const float* acc, int m, int n, const float* a_scale, const float* w_scale, const Epilogue& e,
                    cudaStream_t stream) {
  launch_scale_epilogue(acc, m, n, a_scale, w_scale, e, stream);
}

void activate_f16(__half* x, size_t n, int act, const __half* mul, cudaStream_t stream) {
  if (n == 0 || (act == 0 && !mul)) return;
  const int blocks = static_cast<int>(std::min<size_t>((n + 255) / 256, 65535));
  activate_kernel<<<blocks, 256, 0, stream>>>(x, n, act, mul);
}

}  // namespace bertrt_cuda
