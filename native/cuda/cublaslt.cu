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
constexpr int kCudaR32F = 0, kCudaR16F = 2;          // cudaDataType_t
constexpr int kComputeF32 = 68;                      // CUBLAS_COMPUTE_32F
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

// One shape and epilogue kind, its descriptors and the algorithm the heuristic chose (or none: unsupported).
struct Plan {
  MatmulDesc desc = nullptr;
  Layout a = nullptr, b = nullptr, c = nullptr;
  Algo algo{};
  size_t workspace = 0;
  bool ok = false;
};
// (a residual is the C operand, whose layout is D's: beta, set per call, says whether it is read)
using PlanKey = std::tuple<int, int, int, bool, bool, size_t>;  // m, n, k, fp32 out, bias, workspace

// Row-major C[M][N] = A[M][K] W[N][K]^T is, column-major, C^T [N x M] = op(W) [N x K] . A^T [K x M], where W's bytes
// are a K x N column-major matrix (transposed by the op) and A's a K x M one: cuBLASLt's "A" is our W, its "B" our A.
Plan make_plan(const PlanKey& key) {
  const auto [m, n, k, fp32, bias, workspace] = key;
  Api& L = api();
  Plan p;
  const int out_type = fp32 ? kCudaR32F : kCudaR16F;
  if (L.desc_create(&p.desc, kComputeF32, kCudaR32F) != 0) return p;
  const int ta = kOpT, tb = kOpN;
  const uint32_t epi = bias ? kEpilogueBias : kEpilogueDefault;
  if (L.desc_set(p.desc, kDescTransA, &ta, sizeof ta) != 0 || L.desc_set(p.desc, kDescTransB, &tb, sizeof tb) != 0 ||
      L.desc_set(p.desc, kDescEpilogue, &epi, sizeof epi) != 0)
    return p;
  if (L.layout_create(&p.a, kCudaR16F, k, n, k) != 0 || L.layout_create(&p.b, kCudaR16F, k, m, k) != 0 ||
      L.layout_create(&p.c, out_type, n, m, n) != 0)
    return p;
  Preference pref = nullptr;
  if (L.pref_create(&pref) != 0) return p;
  const uint64_t ws = workspace;
  HeuristicResult r{};
  int found = 0;
  if (L.pref_set(pref, kPrefMaxWorkspace, &ws, sizeof ws) == 0 &&
      L.heuristic(L.handle, p.desc, p.a, p.b, p.c, p.c, pref, 1, &r, &found) == 0 && found > 0 && r.state == 0) {
    p.algo = r.algo;
    p.workspace = r.workspace_size;
    p.ok = p.workspace <= workspace;
  }
  L.pref_destroy(pref);
  return p;
}

std::mutex g_mu;
std::map<PlanKey, Plan>& plans() {
  static std::map<PlanKey, Plan> p;  // never freed: descriptors are a few hundred bytes per shape
  return p;
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
  const PlanKey key{m, n, k, fp32, (fp32 ? e.bias32 != nullptr : e.bias16 != nullptr), workspace_bytes};
  // one lock for the plan and the call: the cached descriptor's bias pointer is set per call
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = plans().find(key);
  if (it == plans().end()) it = plans().emplace(key, make_plan(key)).first;
  const Plan& plan = it->second;
  if (!plan.ok) return "unsupported";
  const void* bias = fp32 ? static_cast<const void*>(e.bias32) : static_cast<const void*>(e.bias16);
  if (bias && L.desc_set(plan.desc, kDescBiasPointer, &bias, sizeof bias) != 0) return "cublasLtMatmulDescSetAttribute (bias) failed";
  const float alpha = 1.f, beta = e.residual ? 1.f : 0.f;
  void* d = fp32 ? static_cast<void*>(e.c32) : static_cast<void*>(e.c16);
  const void* c = e.residual ? static_cast<const void*>(e.residual) : d;
  const Status s = L.matmul(L.handle, plan.desc, &alpha, w, plan.a, a, plan.b, &beta, c, plan.c, d, plan.c, &plan.algo,
                            workspace, plan.workspace, stream);
  if (s != 0) return "cublasLtMatmul failed (status " + std::to_string(s) + ")";
  return {};
}

void activate_f16(__half* x, size_t n, int act, const __half* mul, cudaStream_t stream) {
  if (n == 0 || (act == 0 && !mul)) return;
  const int blocks = static_cast<int>(std::min<size_t>((n + 255) / 256, 65535));
  activate_kernel<<<blocks, 256, 0, stream>>>(x, n, act, mul);
}

}  // namespace bertrt_cuda
