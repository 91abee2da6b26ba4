// The CUDA backend against float64 references: each kernel (FP16 and INT8 tensor-core GEMMs with their fused
// epilogues, LayerNorm / embedding / quantization rows, varlen attention) on random inputs, then the whole encoder
// through the library's C interface against the float64 BERT of tiny_bert.h. Exits 77 (ctest: skipped) with the
// reason when no usable GPU is present, as in CI.
//
// Error bounds (norm_err: max |got - want| / (1 + max |want|); NaN always fails):
//   FP32 outputs of FP16/INT8 GEMMs: 1e-5 (inputs exact in FP16 / INT8, products exact in FP32, FP32 sums);
//   FP16 outputs: 1e-3 (one rounding to FP16, 2^-11 relative); LayerNorm FP32 outputs: 1e-5;
//   attention: 2e-3 (probabilities rounded to FP16 before P.V, output rounded to FP16);
//   whole encoder, FP16 mode: 2e-3 (every GEMM input rounded to FP16, two layers; 3.4e-4 measured on an H100 and
//   an H200);
//   INT8 mode: 5e-2 and cosine per token >= 0.99 (per-token activation and per-channel weight quantization, as on
//   the CPU; 1.5e-2 and 0.99984 measured);
//   FP8 mode (cuBLASLt, compute capability 8.9+): 1e-1 and cosine per token >= 0.98, twice INT8's bounds before any
//   measurement: E4M3 keeps 3 fraction bits (relative rounding up to 2^-4) where INT8's per-token steps are
//   max|x| / 254, about 2.5x INT8's RMS error on Gaussian-like rows;
//   FP8 on the host (no GPU needed): cuda_fp8.h's conversion and quantize_weight_rows_fp8 against an E4M3 decoded
//   from its bit fields, exactly;
//   cuBLASLt's INT8 products: exact (INT32), and after the scale epilogue the own IMMA kernels' bits;
//   cuBLASLt's FP8 products: 5e-4 of the float64 sum of the same E4M3 values (exact products; Hopper's FP8 tensor cores
//   keep ~14 bits of a partial sum between cuBLASLt's promotions to FP32, 2^-14 = 6e-5 relative per partial).
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "attention.cuh"
#include "bertrt_cuda.h"
#include "cublaslt.cuh"
#include "gemm.cuh"
#include "harness.h"
#include "norm.cuh"
#include "tiny_bert.h"

using namespace bertrt_cuda;

namespace {

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  // fresh allocations are poisoned (all bits set: NaN as float or half), so an unwritten output cannot pass
  explicit Dev(size_t count) : n(count) {
    if (cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T)) != cudaSuccess) p = nullptr;
    else cudaMemset(p, 0xff, std::max<size_t>(1, n) * sizeof(T));
  }
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) {
    if (p) cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> v(n);
    cudaDeviceSynchronize();
    cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
  }
};

std::vector<float> to_float(const std::vector<__half>& h) {
  std::vector<float> f(h.size());
  for (size_t i = 0; i < h.size(); ++i) f[i] = __half2float(h[i]);
  return f;
}

std::vector<__half> random_half(th::Rng& rng, size_t n, float lo, float hi) {
  std::vector<__half> h(n);
  for (auto& x : h) x = __float2half_rn(rng.uniform(lo, hi));
  return h;
}

double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

std::string shape(int m, int n, int k) { return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k); }

void check_err(double err, double bound, const std::string& what) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " (err %.2e, bound %.0e)", err, bound);
  th::check(err <= bound, what + buf);
}

std::string tile_name(GemmTile t) { return std::string(" [") + gemm_tile_name(t) + "]"; }

const char* prec_name(int precision) { return precision == BERTRT_CUDA_INT8 ? "INT8" : precision == BERTRT_CUDA_FP8 ? "FP8" : "FP16"; }
// The whole-encoder bound against float64 (see the header).
double encoder_bound(int precision) { return precision == BERTRT_CUDA_INT8 ? 5e-2 : precision == BERTRT_CUDA_FP8 ? 1e-1 : 2e-3; }

// How far a sequence run alone may be from the same sequence in a packed batch: 0 (the same bits) on the own kernels
// (every tile sums in the same order) and for INT8 on cuBLASLt too (exact INT32 products, the same epilogue); within
// FP16 rounding for FP16 on cuBLASLt, whose algorithm (and split of K) depends on the token count; FP8's bound for
// FP8, where a sum's order can move a value across an E4M3 rounding step of the next layer's input.
double alone_tolerance(void* model) {
  char info[512] = "";
  if (bertrt_cuda_describe(model, info, sizeof info) != 0) return 0;
  const std::string note = info;
  if (note.rfind("FP8 GEMMs:", 0) == 0) return encoder_bound(BERTRT_CUDA_FP8);
  return note.rfind("FP16 GEMMs: cuBLASLt", 0) == 0 ? 2e-3 : 0;
}
bool alone_matches(const std::vector<float>& alone, const float* got, double tol) {
  if (tol == 0) return std::equal(alone.begin(), alone.end(), got);
  std::vector<double> want(alone.begin(), alone.end());
  return th::norm_err(got, want) <= tol;
}
std::string alone_claim(double tol) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "within %.0e (cuBLASLt's order of sums)", tol);
  return tol == 0 ? "bit for bit" : buf;
}

void test_gemm_f16(th::Rng& rng) {
  struct Case { int m, n, k; bool bias, gelu, residual; };
  for (const GemmTile tile : kAllTiles)
  for (const Case c : {Case{1, 64, 64, true, false, false}, Case{77, 200, 40, true, true, false},
                       Case{130, 1152, 384, true, false, true}, Case{300, 96, 1536, true, true, true}, Case{65, 8, 8, false, false, false},
                       Case{257, 2304, 72, true, false, false}}) {
    auto a = random_half(rng, size_t(c.m) * c.k, -1, 1), w = random_half(rng, size_t(c.n) * c.k, -1, 1);
    std::vector<float> bias(c.n), res(size_t(c.m) * c.n);
    rng.fill(bias), rng.fill(res);
    Dev<__half> da(a), dw(w), c16(size_t(c.m) * c.n);
    Dev<float> db(bias), dr(res), c32(size_t(c.m) * c.n);
    Epilogue e;
    e.bias = c.bias ? db.p : nullptr, e.gelu = c.gelu, e.residual = c.residual ? dr.p : nullptr, e.c32 = c32.p, e.c16 = c16.p;
    const std::string name = "gemm_f16 " + shape(c.m, c.n, c.k) + tile_name(tile);
    th::check(gemm_f16(da.p, dw.p, c.m, c.n, c.k, e, 0, tile), name + " accepted");
    std::vector<double> want(size_t(c.m) * c.n);
    for (int i = 0; i < c.m; ++i)
      for (int j = 0; j < c.n; ++j) {
        double s = c.bias ? bias[j] : 0;
        for (int k = 0; k < c.k; ++k) s += double(__half2float(a[size_t(i) * c.k + k])) * __half2float(w[size_t(j) * c.k + k]);
        if (c.gelu) s = gelu(s);
        if (c.residual) s += res[size_t(i) * c.n + j];
        want[size_t(i) * c.n + j] = s;
      }
    check_err(th::norm_err(c32.get().data(), want), 1e-5, name + " FP32 out");
    check_err(th::norm_err(to_float(c16.get()).data(), want), 1e-3, name + " FP16 out");
  }
  Epilogue e;
  th::check(!gemm_f16(nullptr, nullptr, 4, 4, 12, e, 0), "gemm_f16 refuses K not a multiple of 8");
}

// Every kernel gives the same bits on the same inputs (the same instruction per 16x8 output over the same K order,
// the same epilogue), so the tile choice, which depends on the batch's token count, cannot make a sequence's result
// depend on its batch.
// cuBLASLt's FP16 GEMMs with the epilogues it carries (cublaslt.cuh), against float64: FP32 out with bias and residual
// (1e-5, as the own kernels: exact products, FP32 sums), FP16 out with an FP16 bias (1e-3: one rounding of the output,
// and the bias rounded to FP16), then GELU and a gated product applied in place (1e-3). Skipped, saying why, where the
// library is not found.
void test_cublaslt(th::Rng& rng) {
  if (!cublaslt_status().empty()) {
    std::printf("SKIP cuBLASLt GEMMs: %s\n", cublaslt_status().c_str());
    return;
  }
  std::printf("cuBLASLt: %s\n", cublaslt_description().c_str());
  Dev<unsigned char> ws(size_t(32) << 20);
  struct Case { int m, n, k; };
  for (const Case c : {Case{1, 64, 64}, Case{77, 200, 40}, Case{130, 1152, 384}, Case{300, 96, 1536}, Case{512, 768, 768}}) {
    auto a = random_half(rng, size_t(c.m) * c.k, -1, 1), w = random_half(rng, size_t(c.n) * c.k, -1, 1),
         mul = random_half(rng, size_t(c.m) * c.n, -1, 1);
    std::vector<float> bias(c.n), res(size_t(c.m) * c.n);
    rng.fill(bias), rng.fill(res);
    std::vector<__half> bias16(c.n);
    for (int j = 0; j < c.n; ++j) bias16[j] = __float2half_rn(bias[j]);
    Dev<__half> da(a), dw(w), dmul(mul), db16(bias16), c16(size_t(c.m) * c.n);
    Dev<float> db(bias), dr(res), c32(size_t(c.m) * c.n);
    std::vector<double> dot(size_t(c.m) * c.n);
    for (int i = 0; i < c.m; ++i)
      for (int j = 0; j < c.n; ++j) {
        double s = 0;
        for (int k = 0; k < c.k; ++k) s += double(__half2float(a[size_t(i) * c.k + k])) * __half2float(w[size_t(j) * c.k + k]);
        dot[size_t(i) * c.n + j] = s;
      }
    const std::string name = "cuBLASLt gemm " + shape(c.m, c.n, c.k);
    LtEpilogue e32;
    e32.bias32 = db.p, e32.residual = dr.p, e32.c32 = c32.p;
    std::string e = lt_gemm_f16(da.p, dw.p, c.m, c.n, c.k, e32, ws.p, ws.n, 0);
    th::check(e.empty(), name + " FP32 out runs " + e);
    std::vector<double> want(dot.size());
    for (size_t i = 0; i < want.size(); ++i) want[i] = dot[i] + bias[i % c.n] + res[i];
    check_err(th::norm_err(c32.get().data(), want), 1e-5, name + " FP32 out + bias + residual");
    LtEpilogue e16;
    e16.bias16 = db16.p, e16.c16 = c16.p;
    e = lt_gemm_f16(da.p, dw.p, c.m, c.n, c.k, e16, ws.p, ws.n, 0);
    th::check(e.empty(), name + " FP16 out runs " + e);
    for (size_t i = 0; i < want.size(); ++i) want[i] = dot[i] + double(__half2float(bias16[i % c.n]));
    check_err(th::norm_err(to_float(c16.get()).data(), want), 1e-3, name + " FP16 out + bias");
    activate_f16(c16.p, c16.n, 1, dmul.p, 0);
    for (size_t i = 0; i < want.size(); ++i) want[i] = gelu(want[i]) * __half2float(mul[i]);
    check_err(th::norm_err(to_float(c16.get()).data(), want), 1e-3, name + " then GELU times a second projection");
  }
  LtEpilogue both;
  both.c32 = reinterpret_cast<float*>(16), both.c16 = reinterpret_cast<__half*>(16);
  th::check(lt_gemm_f16(nullptr, nullptr, 4, 8, 8, both, nullptr, 0, 0) == "unsupported", "cuBLASLt refuses two outputs");
}

// Whether this GPU has FP8 tensor cores (compute capability 8.9 or newer).
bool has_fp8() {
  cudaDeviceProp p{};
  return cudaGetDeviceProperties(&p, 0) == cudaSuccess && p.major * 10 + p.minor >= 89;
}

// The fused epilogues against the kernels they replace, on one product `acc` (INT32 or FP32): the activation output
// quantized for the next GEMM (GELU, and SiLU times a gate) against scale_epilogue to FP16 then quantize_rows; the
// residual block's LayerNorm (with its INT8 / FP8 output, in place over the residual) against scale_epilogue to FP32
// then layernorm. Bit for bit: values, quantized bytes and row scales.
template <typename Acc>
void check_fused_epilogues(const Acc* acc, int m, int n, const float* sa, const float* sw, const float* bias,
                           const float* res, const __half* mul, th::Rng& rng, const std::string& name) {
  using Q = std::conditional_t<std::is_same<Acc, int32_t>::value, int8_t, __nv_fp8_e4m3>;
  auto bytes = [](const auto& v) { return std::vector<unsigned char>(reinterpret_cast<const unsigned char*>(v.data()),
                                                                    reinterpret_cast<const unsigned char*>(v.data() + v.size())); };
  for (int gated = 0; gated < 2; ++gated) {
    Epilogue e;
    e.bias = bias;
    if (gated) e.silu = true, e.mul16 = mul; else e.gelu = true;
    Dev<__half> h(size_t(m) * n);
    Dev<Q> q_two(size_t(m) * n), q_one(size_t(m) * n);
    Dev<float> s_two(m), s_one(m);
    Epilogue e16 = e;
    e16.c16 = h.p;
    scale_epilogue(acc, m, n, sa, sw, e16, 0);
    quantize_rows(h.p, m, n, q_two.p, s_two.p, 0);
    scale_epilogue_quantize(acc, m, n, sa, sw, e, q_one.p, s_one.p, 0);
    th::check(bytes(q_one.get()) == bytes(q_two.get()) && s_one.get() == s_two.get(),
              name + std::string(gated ? " SiLU x gate" : " GELU") + " quantized in the epilogue: the bits of FP16 then quantize_rows");
  }
  std::vector<float> gamma(n), beta(n);
  rng.fill(gamma, 0.5f, 1.5f), rng.fill(beta);
  Dev<float> dg(gamma), db(beta), y(size_t(m) * n), x_two(size_t(m) * n), s_two(m), s_one(m);
  Dev<Q> q_two(size_t(m) * n), q_one(size_t(m) * n);
  Epilogue e;
  e.bias = bias, e.residual = res, e.c32 = y.p;
  scale_epilogue(acc, m, n, sa, sw, e, 0);
  RowOut two;
  two.x32 = x_two.p, two.q_scale = s_two.p;
  if constexpr (std::is_same<Q, int8_t>::value) two.q8 = q_two.p; else two.f8 = q_two.p;
  layernorm(y.p, m, n, dg.p, db.p, 1e-12f, two, 0);
  Dev<float> x_one(size_t(m) * n);  // the residual copied, then normalized in place as the encoder does
  cudaMemcpy(x_one.p, res, size_t(m) * n * sizeof(float), cudaMemcpyDeviceToDevice);
  RowOut one = two;
  one.x32 = x_one.p, one.q_scale = s_one.p;
  if constexpr (std::is_same<Q, int8_t>::value) one.q8 = q_one.p; else one.f8 = q_one.p;
  scale_epilogue_layernorm(acc, m, n, sa, sw, bias, x_one.p, dg.p, db.p, 1e-12f, one, 0);
  th::check(x_one.get() == x_two.get() && bytes(q_one.get()) == bytes(q_two.get()) && s_one.get() == s_two.get(),
            name + " + residual + LayerNorm in the epilogue (in place): the bits of scale_epilogue then layernorm");
}

// cuBLASLt's INT8 products are exact INT32 sums and, through scale_epilogue, give the own IMMA kernel's bits for every
// epilogue the encoder uses (so that INT8 results do not depend on which GEMM ran); its FP8 products against the
// float64 sums of the same E4M3 values, and the scale epilogue on them against float64.
void test_cublaslt_quantized(th::Rng& rng) {
  if (!cublaslt_status().empty()) {
    std::printf("SKIP cuBLASLt INT8 / FP8 GEMMs: %s\n", cublaslt_status().c_str());
    return;
  }
  Dev<unsigned char> ws(size_t(32) << 20);
  for (auto [m, n, k] : {std::tuple{1, 64, 64}, std::tuple{70, 136, 48}, std::tuple{200, 1536, 384}, std::tuple{129, 2304, 784},
                         std::tuple{256, 768, 3072}}) {
    std::vector<int8_t> a(size_t(m) * k), w(size_t(n) * k);
    for (auto& x : a) x = static_cast<int8_t>(int(rng.next() % 255) - 127);
    for (auto& x : w) x = static_cast<int8_t>(int(rng.next() % 255) - 127);
    for (int j = 0; j < k; ++j) a[j] = 127, w[j] = -127;  // the largest magnitude of a sum
    std::vector<float> sa(m), sw(n), bias(n), res(size_t(m) * n);
    rng.fill(sa, 0.001f, 0.02f), rng.fill(sw, 0.001f, 0.02f), rng.fill(bias), rng.fill(res);
    auto mul = random_half(rng, size_t(m) * n, -1, 1);
    Dev<int8_t> da(a), dw(w);
    Dev<int32_t> acc(size_t(m) * n);
    Dev<float> dsa(sa), dsw(sw), db(bias), dr(res);
    Dev<__half> dmul(mul);
    const std::string name = "cuBLASLt INT8 " + shape(m, n, k);
    const std::string e = lt_gemm_s8(da.p, dw.p, m, n, k, acc.p, ws.p, ws.n, 0);
    th::check(e.empty(), name + " runs " + e);
    const std::vector<int32_t> got = acc.get();
    bool exact = true;
    for (int i = 0; i < m && exact; ++i)
      for (int j = 0; j < n; ++j) {
        int64_t want = 0;
        for (int q = 0; q < k; ++q) want += int64_t(a[size_t(i) * k + q]) * w[size_t(j) * k + q];
        if (got[size_t(i) * n + j] != want) { exact = false; break; }
      }
    th::check(exact, name + ": the exact INT32 sums");
    // the two epilogues of the encoder's INT8 layers: bias + GELU + residual to FP32, bias + SiLU x gate to FP16
    Epilogue e1, e2;
    e1.bias = db.p, e1.gelu = true, e1.residual = dr.p;
    e2.bias = db.p, e2.silu = true, e2.mul16 = dmul.p;
    Dev<float> c_lt(size_t(m) * n), c_own(size_t(m) * n);
    Dev<__half> h_lt(size_t(m) * n), h_own(size_t(m) * n);
    e1.c32 = c_lt.p, e2.c16 = h_lt.p;
    scale_epilogue(acc.p, m, n, dsa.p, dsw.p, e1, 0);
    scale_epilogue(acc.p, m, n, dsa.p, dsw.p, e2, 0);
    e1.c32 = c_own.p, e2.c16 = h_own.p;
    gemm_s8(da.p, dsa.p, dw.p, dsw.p, m, n, k, e1, 0);
    gemm_s8(da.p, dsa.p, dw.p, dsw.p, m, n, k, e2, 0);
    th::check(c_lt.get() == c_own.get(), name + " + scale epilogue (bias, GELU, residual): the own IMMA kernel's bits");
    const auto hl = h_lt.get(), ho = h_own.get();
    th::check(std::memcmp(hl.data(), ho.data(), hl.size() * sizeof(__half)) == 0,
              name + " + scale epilogue (bias, SiLU, times a gate, FP16): the own IMMA kernel's bits");
    check_fused_epilogues(acc.p, m, n, dsa.p, dsw.p, db.p, dr.p, dmul.p, rng, name);
  }
  th::check(lt_gemm_s8(nullptr, nullptr, 4, 8, 24, reinterpret_cast<int32_t*>(16), nullptr, 0, 0) == "unsupported",
            "cuBLASLt INT8 refuses K not a multiple of 16");
  if (!has_fp8()) {
    std::printf("SKIP cuBLASLt FP8 GEMMs: this GPU has no FP8 tensor cores (compute capability below 8.9)\n");
    return;
  }
  for (auto [m, n, k] : {std::tuple{1, 64, 64}, std::tuple{70, 144, 48}, std::tuple{200, 1536, 384}, std::tuple{256, 768, 3072}}) {
    std::vector<__nv_fp8_e4m3> a(size_t(m) * k), w(size_t(n) * k);
    for (auto& x : a) x = __nv_fp8_e4m3(rng.uniform(-448.f, 448.f));
    for (auto& x : w) x = __nv_fp8_e4m3(rng.uniform(-2.f, 2.f));
    std::vector<float> sa(m), sw(n), bias(n), res(size_t(m) * n);
    rng.fill(sa, 0.001f, 0.02f), rng.fill(sw, 0.001f, 0.02f), rng.fill(bias), rng.fill(res);
    Dev<__nv_fp8_e4m3> da(a), dw(w);
    Dev<float> acc(size_t(m) * n), dsa(sa), dsw(sw), db(bias), dr(res), c32(size_t(m) * n);
    const std::string name = "cuBLASLt FP8 " + shape(m, n, k);
    const std::string e = lt_gemm_f8(da.p, dw.p, m, n, k, acc.p, ws.p, ws.n, 0);
    th::check(e.empty(), name + " runs " + e);
    std::vector<double> dot(size_t(m) * n), want(dot.size());
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double t = 0;
        for (int q = 0; q < k; ++q) t += double(float(a[size_t(i) * k + q])) * double(float(w[size_t(j) * k + q]));
        dot[size_t(i) * n + j] = t;
        want[size_t(i) * n + j] = gelu(t * sa[i] * sw[j] + bias[j]) + res[size_t(i) * n + j];
      }
    check_err(th::norm_err(acc.get().data(), dot), 5e-4, name + " vs float64 sums of the E4M3 values");
    Epilogue ep;
    ep.bias = db.p, ep.gelu = true, ep.residual = dr.p, ep.c32 = c32.p;
    scale_epilogue(acc.p, m, n, dsa.p, dsw.p, ep, 0);
    check_err(th::norm_err(c32.get().data(), want), 5e-4, name + " + scale epilogue (bias, GELU, residual) vs float64");
    Dev<__half> dmul(random_half(rng, size_t(m) * n, -1, 1));
    check_fused_epilogues(acc.p, m, n, dsa.p, dsw.p, db.p, dr.p, dmul.p, rng, name);
  }
}

void test_gemm_tiles_agree(th::Rng& rng) {
  const int m = 300, n = 768, k = 3072;
  auto a = random_half(rng, size_t(m) * k, -1, 1), w = random_half(rng, size_t(n) * k, -0.1f, 0.1f);
  std::vector<float> bias(n), res(size_t(m) * n);
  rng.fill(bias), rng.fill(res);
  std::vector<int8_t> a8(size_t(m) * k), w8(size_t(n) * k);
  for (auto& x : a8) x = static_cast<int8_t>(int(rng.next() % 255) - 127);
  for (auto& x : w8) x = static_cast<int8_t>(int(rng.next() % 255) - 127);
  std::vector<float> sa(m), sw(n);
  rng.fill(sa, 0.001f, 0.02f), rng.fill(sw, 0.001f, 0.02f);
  Dev<__half> da(a), dw(w);
  Dev<int8_t> da8(a8), dw8(w8);
  Dev<float> db(bias), dr(res), dsa(sa), dsw(sw);
  std::vector<float> f16_ref, s8_ref;
  for (const GemmTile tile : kAllTiles) {
    Dev<float> c(size_t(m) * n), c8(size_t(m) * n);
    Epilogue e;
    e.bias = db.p, e.gelu = true, e.residual = dr.p, e.c32 = c.p;
    gemm_f16(da.p, dw.p, m, n, k, e, 0, tile);
    e.c32 = c8.p;
    gemm_s8(da8.p, dsa.p, dw8.p, dsw.p, m, n, k, e, 0, tile);
    if (tile == GemmTile::kWmma64) {
      f16_ref = c.get(), s8_ref = c8.get();
      continue;
    }
    th::check(c.get() == f16_ref, "gemm_f16 300x768x3072: " + std::string(gemm_tile_name(tile)) + " gives the bits of 64x64-wmma");
    th::check(c8.get() == s8_ref, "gemm_s8 300x768x3072: " + std::string(gemm_tile_name(tile)) + " gives the bits of 64x64-wmma");
  }
}

void test_gemm_s8(th::Rng& rng) {
  for (const GemmTile tile : kAllTiles)
  for (auto [m, n, k] : {std::tuple{1, 64, 64}, std::tuple{70, 136, 48}, std::tuple{200, 1536, 384}, std::tuple{129, 2304, 784}}) {
    std::vector<int8_t> a(size_t(m) * k), w(size_t(n) * k);
    for (auto& x : a) x = static_cast<int8_t>(int(rng.next() % 255) - 127);
    for (auto& x : w) x = static_cast<int8_t>(int(rng.next() % 255) - 127);
    // extreme rows: all +127, all -127, all zero
    for (int j = 0; j < k; ++j) a[j] = 127, w[j] = -127;
    if (m > 2) for (int j = 0; j < k; ++j) a[size_t(1) * k + j] = -127, a[size_t(2) * k + j] = 0;
    std::vector<float> sa(m), sw(n), bias(n), res(size_t(m) * n);
    rng.fill(sa, 0.001f, 0.02f), rng.fill(sw, 0.001f, 0.02f), rng.fill(bias), rng.fill(res);
    Dev<int8_t> da(a), dw(w);
    Dev<float> dsa(sa), dsw(sw), db(bias), dr(res), c32(size_t(m) * n);
    Epilogue e;
    e.bias = db.p, e.gelu = true, e.residual = dr.p, e.c32 = c32.p;
    const std::string name = "gemm_s8 " + shape(m, n, k) + tile_name(tile);
    th::check(gemm_s8(da.p, dsa.p, dw.p, dsw.p, m, n, k, e, 0, tile), name + " accepted");
    std::vector<double> want(size_t(m) * n);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        int64_t acc = 0;
        for (int q = 0; q < k; ++q) acc += int64_t(a[size_t(i) * k + q]) * w[size_t(j) * k + q];
        want[size_t(i) * n + j] = gelu(double(acc) * sa[i] * sw[j] + bias[j]) + res[size_t(i) * n + j];
      }
    check_err(th::norm_err(c32.get().data(), want), 1e-5, name + " (exact int32 sums, scales, GELU, residual)");
  }
  Epilogue e;
  th::check(!gemm_s8(nullptr, nullptr, nullptr, nullptr, 4, 4, 24, e, 0), "gemm_s8 refuses K not a multiple of 16");
}

void test_rows(th::Rng& rng) {
  const int rows = 5, cols = 384;
  std::vector<float> x(size_t(rows) * cols), g(cols), b(cols);
  rng.fill(x, -3, 3), rng.fill(g, 0.5f, 1.5f), rng.fill(b, -0.2f, 0.2f);
  Dev<float> dx(x), dg(g), db(b), y32(x.size()), scale(rows);
  Dev<__half> y16(x.size());
  Dev<int8_t> q8(x.size());
  RowOut out;
  out.x32 = y32.p, out.x16 = y16.p, out.q8 = q8.p, out.q_scale = scale.p;
  layernorm(dx.p, rows, cols, dg.p, db.p, 1e-12f, out, 0);
  std::vector<double> want(x.size());
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int j = 0; j < cols; ++j) mean += x[r * cols + j];
    mean /= cols;
    for (int j = 0; j < cols; ++j) var += (x[r * cols + j] - mean) * (x[r * cols + j] - mean);
    const double rstd = 1 / std::sqrt(var / cols + 1e-12);
    for (int j = 0; j < cols; ++j) want[r * cols + j] = (x[r * cols + j] - mean) * rstd * g[j] + b[j];
  }
  const auto got = y32.get();
  check_err(th::norm_err(got.data(), want), 1e-5, "layernorm FP32 out");
  check_err(th::norm_err(to_float(y16.get()).data(), want), 1e-3, "layernorm FP16 out");
  const auto q = q8.get();
  const auto s = scale.get();
  int off = 0;
  for (int r = 0; r < rows; ++r) {
    double amax = 0;
    for (int j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(double(got[r * cols + j])));
    off += std::fabs(s[r] - amax / 127) > 1e-6 * amax;
    for (int j = 0; j < cols; ++j) off += std::abs(q[r * cols + j] - std::lround(got[r * cols + j] / s[r])) > 1;
  }
  th::check(off == 0, "layernorm's fused INT8 output: scale max|y|/127, values round(y/scale)");

  // embeddings + LayerNorm, with token types and positions
  const int vocab = 10, tokens = 6;
  std::vector<float> word(size_t(vocab) * cols), pos(size_t(8) * cols), type(size_t(2) * cols);
  rng.fill(word), rng.fill(pos), rng.fill(type);
  std::vector<int32_t> ids = {3, 0, 9, 9, 1, 4}, types = {0, 0, 1, 1, 0, 1}, positions = {0, 1, 2, 0, 1, 7};
  Dev<float> dword(word), dpos(pos), dtype(type), e32(size_t(tokens) * cols);
  Dev<int32_t> dids(ids), dtypes(types), dposi(positions);
  RowOut eo;
  eo.x32 = e32.p;
  embed_layernorm(dids.p, dtypes.p, dposi.p, tokens, cols, dword.p, dpos.p, dtype.p, dg.p, db.p, 1e-12f, eo, 0);
  std::vector<double> ew(size_t(tokens) * cols);
  for (int t = 0; t < tokens; ++t) {
    std::vector<double> v(cols);
    double mean = 0, var = 0;
    for (int j = 0; j < cols; ++j) mean += v[j] = double(word[ids[t] * cols + j]) + pos[positions[t] * cols + j] + type[types[t] * cols + j];
    mean /= cols;
    for (int j = 0; j < cols; ++j) var += (v[j] - mean) * (v[j] - mean);
    for (int j = 0; j < cols; ++j) ew[t * cols + j] = (v[j] - mean) / std::sqrt(var / cols + 1e-12) * g[j] + b[j];
  }
  check_err(th::norm_err(e32.get().data(), ew), 1e-5, "embedding + LayerNorm");

  // per-row quantization of an FP16 matrix, an all-zero row included
  auto h = random_half(rng, size_t(3) * 100, -5, 5);
  for (int j = 0; j < 100; ++j) h[100 + j] = __float2half_rn(0.f);
  Dev<__half> dh(h);
  Dev<int8_t> dq(h.size());
  Dev<float> ds(3);
  quantize_rows(dh.p, 3, 100, dq.p, ds.p, 0);
  const auto qq = dq.get();
  const auto ss = ds.get();
  int bad = ss[1] != 1.f;
  for (int r = 0; r < 3; ++r)
    for (int j = 0; j < 100; ++j) bad += std::abs(qq[r * 100 + j] - std::lround(__half2float(h[r * 100 + j]) / ss[r])) > 1;
  th::check(bad == 0, "quantize_rows: per-row scale, values, zero row");
}

void test_attention(th::Rng& rng) {
  const std::vector<int> lens = {1, 7, 64, 65, 150, 128};
  std::vector<int32_t> cu = {0};
  for (int l : lens) cu.push_back(cu.back() + l);
  const int T = cu.back(), max_len = 150, heads = 2;
  for (int window : {0, 8, 70}) {  // 0: every key; 8: blocks skipped and rows without keys in a block; 70: > a block
    for (int d : {32, 64, 128}) {
      const int H = heads * d;
      auto qkv = random_half(rng, size_t(T) * 3 * H, -2, 2);
      Dev<__half> dqkv(qkv), ctx(size_t(T) * H);
      Dev<int32_t> dcu(cu);
      AttentionExtras x;
      x.window = window;
      std::string e = attention_prepare(d);
      if (e.empty()) e = attention(dqkv.p, dcu.p, int(lens.size()), max_len, heads, d, ctx.p, 0, x);
      th::check(e.empty(), "attention launches, head size " + std::to_string(d) + (e.empty() ? "" : ": " + e));
      std::vector<double> want(size_t(T) * H);
      auto at = [&](int t, int part, int h, int i) { return double(__half2float(qkv[size_t(t) * 3 * H + part * H + h * d + i])); };
      for (size_t s = 0; s < lens.size(); ++s)
        for (int h = 0; h < heads; ++h)
          for (int i = cu[s]; i < cu[s + 1]; ++i) {
            std::vector<double> p(lens[s]);
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < lens[s]; ++j) {
              double dot = 0;
              for (int c = 0; c < d; ++c) dot += at(i, 0, h, c) * at(cu[s] + j, 1, h, c);
              p[j] = window > 0 && std::abs(i - cu[s] - j) > window ? -INFINITY : dot / std::sqrt(double(d));
              mx = std::max(mx, p[j]);
            }
            for (auto& z : p) sum += z = std::exp(z - mx);
            for (int c = 0; c < d; ++c) {
              double o = 0;
              for (int j = 0; j < lens[s]; ++j) o += p[j] / sum * at(cu[s] + j, 2, h, c);
              want[size_t(i) * H + h * d + c] = o;
            }
          }
      const auto got = to_float(ctx.get());
      check_err(th::norm_err(got.data(), want), 2e-3, "attention, head size " + std::to_string(d) + ", window " +
                                                          std::to_string(window) + ", lengths 1/7/64/65/150/128");
    }
  }
  th::check(!attention_supports(48), "attention refuses head size 48");
  AttentionExtras bad;
  bad.window = -1;
  th::check(!attention(nullptr, nullptr, 1, 1, 1, 32, nullptr, 0, bad).empty(), "attention refuses a negative window");
}

// Layer l of a tiny model with BERT's tensor names, as the C interface takes it.
bertrt_cuda_layer bert_layer(const tiny::Tiny& m, int l) {
  auto W = [&](const std::string& n) { return m.w.at(n).data.data(); };
  const std::string p = "encoder.layer." + std::to_string(l) + ".";
  bertrt_cuda_layer L{};
  L.q_w = W(p + "attention.self.query.weight"), L.q_b = W(p + "attention.self.query.bias");
  L.k_w = W(p + "attention.self.key.weight"), L.k_b = W(p + "attention.self.key.bias");
  L.v_w = W(p + "attention.self.value.weight"), L.v_b = W(p + "attention.self.value.bias");
  L.o_w = W(p + "attention.output.dense.weight"), L.o_b = W(p + "attention.output.dense.bias");
  L.ln1_g = W(p + "attention.output.LayerNorm.weight"), L.ln1_b = W(p + "attention.output.LayerNorm.bias");
  L.i_w = W(p + "intermediate.dense.weight"), L.i_b = W(p + "intermediate.dense.bias");
  L.f_w = W(p + "output.dense.weight"), L.f_b = W(p + "output.dense.bias");
  L.ln2_g = W(p + "output.LayerNorm.weight"), L.ln2_b = W(p + "output.LayerNorm.bias");
  return L;
}

// The whole encoder through the C interface against the float64 BERT.
// The encoder end to end. padding_idx >= 0: RoBERTa's positions (from padding_idx + 1, pad tokens at padding_idx),
// with pad tokens inside the sequences.
void test_model(int precision, int padding_idx = -1, bool relative = false) {
  const std::string name = std::string(prec_name(precision)) + (padding_idx >= 0 ? " RoBERTa positions" : "") +
                           (relative ? " + MPNet's relative attention" : "");
  tiny::Tiny m = tiny::make_tiny(11, 64, 2, 128, 160);
  if (relative) tiny::add_relative(m, 23);
  auto W = [&](const std::string& n) { return m.w.at(n).data.data(); };
  bertrt_cuda_config c{};
  c.vocab_size = m.cfg.vocab_size, c.hidden_size = m.cfg.hidden_size, c.num_layers = m.cfg.num_hidden_layers;
  c.num_heads = m.cfg.num_attention_heads, c.intermediate_size = m.cfg.intermediate_size;
  c.max_positions = m.cfg.max_position_embeddings, c.type_vocab_size = m.cfg.type_vocab_size, c.layer_norm_eps = 1e-12f;
  c.padding_idx = padding_idx;
  // the positions the CPU engine gives (Encoder::positions_of), for the reference
  auto positions_of = [&](const std::vector<int32_t>& sid) {
    std::vector<int32_t> pos(sid.size());
    int32_t next = padding_idx + 1;
    for (size_t i = 0; i < sid.size(); ++i) pos[i] = padding_idx >= 0 && sid[i] == padding_idx ? padding_idx : next++;
    return pos;
  };
  // MPNet: the bias by head and key offset over the position table (160 > the max distance 128), as cuda_backend.cc
  // builds it; the pad-token cases below run sequences longer than that (offsets clamped: the last buckets)
  const int P = c.max_positions, n_off = 2 * P - 1;
  if (relative) c.rel_span = P;
  std::vector<float> rel;
  if (relative) {
    rel.resize(size_t(c.num_heads) * n_off);
    for (int d = 0; d < n_off; ++d)
      for (int h = 0; h < c.num_heads; ++h)
        rel[size_t(h) * n_off + d] = W("encoder.relative_attention_bias.weight")[size_t(tiny::mpnet_bucket(d - (P - 1), 32, 128)) * c.num_heads + h];
  }
  bertrt_cuda_embeddings emb{W("embeddings.word_embeddings.weight"), W("embeddings.position_embeddings.weight"),
                             W("embeddings.token_type_embeddings.weight"), W("embeddings.LayerNorm.weight"),
                             W("embeddings.LayerNorm.bias"), relative ? rel.data() : nullptr};
  std::vector<bertrt_cuda_layer> layers(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) layers[l] = bert_layer(m, l);
  char err[512] = "";
  void* model = nullptr;
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &model, err, sizeof err) == 0, std::string(name) + " model created " + err);
  if (!model) return;
  const double tol = alone_tolerance(model);
  th::Rng rng(5);
  const std::vector<int> lens = {1, 9, 33, 150};
  std::vector<int32_t> ids, types, cu = {0};
  for (int l : lens) {
    for (int i = 0; i < l; ++i) ids.push_back(int32_t(padding_idx >= 0 && i % 7 == 3 ? padding_idx : rng.next() % 64)), types.push_back(i >= l / 2);
    cu.push_back(cu.back() + l);
  }
  const int H = c.hidden_size, T = cu.back();
  std::vector<float> out(size_t(T) * H);
  int rc = bertrt_cuda_forward(model, ids.data(), types.data(), cu.data(), int(lens.size()), T, out.data(), err, sizeof err);
  th::check(rc == 0, std::string(name) + " forward " + err);
  double worst = 0, worst_cos = 1;
  bool same = true;
  for (size_t s = 0; s < lens.size(); ++s) {
    std::vector<int32_t> sid(ids.begin() + cu[s], ids.begin() + cu[s + 1]), sty(types.begin() + cu[s], types.begin() + cu[s + 1]);
    const auto sp = positions_of(sid);
    const auto want = tiny::reference(m, sid, sty, &sp);
    const float* got = out.data() + size_t(cu[s]) * H;
    worst = std::max(worst, th::norm_err(got, want));
    for (int t = 0; t < lens[s]; ++t) {
      double dot = 0, a = 0, b = 0;
      for (int j = 0; j < H; ++j) dot += got[t * H + j] * want[t * H + j], a += double(got[t * H + j]) * got[t * H + j], b += want[t * H + j] * want[t * H + j];
      worst_cos = std::min(worst_cos, dot / std::sqrt(a * b));
    }
    // the same sequence alone gives the same bits: no padding, no dependence on the batch
    std::vector<float> alone(size_t(lens[s]) * H);
    int32_t cu1[2] = {0, lens[s]};
    bertrt_cuda_forward(model, sid.data(), sty.data(), cu1, 1, lens[s], alone.data(), err, sizeof err);
    same = same && alone_matches(alone, got, tol);
  }
  check_err(worst, encoder_bound(precision), std::string(name) + " encoder vs float64 BERT, lengths 1/9/33/150");
  if (precision == BERTRT_CUDA_INT8) th::check(worst_cos >= 0.99, std::string(name) + " cosine per token >= 0.99 (" + std::to_string(worst_cos) + ")");
  if (precision == BERTRT_CUDA_FP8) th::check(worst_cos >= 0.98, std::string(name) + " cosine per token >= 0.98 (" + std::to_string(worst_cos) + ")");
  th::check(same, std::string(name) + ": packed batch equals each sequence run alone, " + alone_claim(tol));

  // bad input from a caller: refused with a message, and the model still works afterwards
  std::vector<int32_t> bad_ids = {1, 64};
  int32_t cu2[2] = {0, 2};
  th::check(bertrt_cuda_forward(model, bad_ids.data(), nullptr, cu2, 1, 2, out.data(), err, sizeof err) != 0 &&
                std::string(err).find("out of range") != std::string::npos, std::string(name) + " refuses an id past the vocabulary");
  int32_t cu_bad[2] = {1, 2};
  th::check(bertrt_cuda_forward(model, ids.data(), nullptr, cu_bad, 1, 2, out.data(), err, sizeof err) != 0, std::string(name) + " refuses cuSeqlens not starting at 0");
  std::vector<int32_t> long_ids(161, 3);
  int32_t cu_long[2] = {0, 161};
  th::check(bertrt_cuda_forward(model, long_ids.data(), nullptr, cu_long, 1, 161, out.data(), err, sizeof err) != 0, std::string(name) + " refuses a sequence past max positions");
  if (padding_idx >= 0) {  // positions from padding_idx + 1: 158 real tokens fill a 160-entry table, 159 do not; pads take none
    std::vector<int32_t> fit(158, 3), over(159, 3), pads(200, padding_idx);
    for (int i = 0; i < 20; ++i) fit.push_back(padding_idx);
    std::vector<float> big(size_t(200) * H);
    int32_t cu_fit[2] = {0, int32_t(fit.size())}, cu_over[2] = {0, 159}, cu_pads[2] = {0, 200};
    th::check(bertrt_cuda_forward(model, fit.data(), nullptr, cu_fit, 1, int(fit.size()), big.data(), err, sizeof err) == 0, name + " takes 158 tokens and 20 pads (positions up to 159)");
    th::check(bertrt_cuda_forward(model, over.data(), nullptr, cu_over, 1, 159, big.data(), err, sizeof err) == BERTRT_CUDA_ETOOLONG, name + " refuses 159 tokens (position 160)");
    th::check(bertrt_cuda_forward(model, pads.data(), nullptr, cu_pads, 1, 200, big.data(), err, sizeof err) == 0, name + " takes 200 pad tokens (all at padding_idx)");
  }
  // the batch's shape has now been seen twice: this run and the next replay a captured CUDA graph
  std::vector<float> again(size_t(T) * H), third(size_t(T) * H);
  bertrt_cuda_forward(model, ids.data(), types.data(), cu.data(), int(lens.size()), T, again.data(), err, sizeof err);
  th::check(again == out, std::string(name) + " gives the same bits after refused calls, as a CUDA graph replay");
  std::vector<int32_t> ids2(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) ids2[i] = (ids[i] + 1) % 64;
  bertrt_cuda_forward(model, ids2.data(), types.data(), cu.data(), int(lens.size()), T, third.data(), err, sizeof err);
  double worst2 = 0;
  for (size_t s = 0; s < lens.size(); ++s) {
    std::vector<int32_t> sid(ids2.begin() + cu[s], ids2.begin() + cu[s + 1]), sty(types.begin() + cu[s], types.begin() + cu[s + 1]);
    const auto sp = positions_of(sid);
    worst2 = std::max(worst2, th::norm_err(third.data() + size_t(cu[s]) * H, tiny::reference(m, sid, sty, &sp)));
  }
  check_err(worst2, encoder_bound(precision), std::string(name) + " graph replay with new ids reads the new inputs");
  bertrt_cuda_destroy(model);
}

// NomicBERT's layer on the GPU (RoPE; SwiGLU, the up projection multiplied in the activated GEMM's epilogue; no
// biases but the FFN output's) against tiny_bert.h's float64 reference, plain and with GTE's fixed NTK factor:
// lengths 1 to 150 in one packed batch, each sequence alone giving the same bits. Bounds as the BERT model's.
void test_rotary_model(int precision, float ntk) {
  const std::string name = std::string(prec_name(precision)) + " NomicBERT layer" + (ntk != 1.f ? " (NTK 2)" : "");
  tiny::Tiny m = tiny::make_tiny(17, 64, 2, 128, 160, /*rotary=*/true);
  m.cfg.rope_ntk = ntk;
  auto W = [&](const std::string& n) { return m.w.at(n).data.data(); };
  const std::vector<float> zeros(128, 0.f);  // the biases the checkpoint leaves out, as read_layer gives them
  bertrt_cuda_config c{};
  c.vocab_size = m.cfg.vocab_size, c.hidden_size = m.cfg.hidden_size, c.num_layers = m.cfg.num_hidden_layers;
  c.num_heads = m.cfg.num_attention_heads, c.intermediate_size = m.cfg.intermediate_size;
  c.max_positions = m.cfg.max_position_embeddings, c.type_vocab_size = m.cfg.type_vocab_size, c.layer_norm_eps = 1e-12f;
  c.padding_idx = -1, c.rotary = 1, c.rope_theta = m.cfg.rope_theta_global, c.rope_ntk = ntk, c.gated = 1;
  c.activation = BERTRT_CUDA_SILU;
  bertrt_cuda_embeddings emb{W("embeddings.word_embeddings.weight"), nullptr, W("embeddings.token_type_embeddings.weight"),
                             W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias")};
  std::vector<bertrt_cuda_layer> layers(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const float* z = zeros.data();
    layers[l] = {W(p + "attention.self.query.weight"), z, W(p + "attention.self.key.weight"), z, W(p + "attention.self.value.weight"), z,
                 W(p + "attention.output.dense.weight"), z, W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"),
                 W(p + "intermediate.dense.weight"), z, W(p + "output.dense.weight"), W(p + "output.dense.bias"),
                 W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"), W(p + "intermediate.up.weight"), z};
  }
  char err[512] = "";
  void* model = nullptr;
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &model, err, sizeof err) == 0, name + " model created " + err);
  if (!model) return;
  const double tol = alone_tolerance(model);
  th::Rng rng(6);
  const std::vector<int> lens = {1, 9, 33, 150};
  std::vector<int32_t> ids, types, cu = {0};
  for (int l : lens) {
    for (int i = 0; i < l; ++i) ids.push_back(int32_t(rng.next() % 64)), types.push_back(i >= l / 2);
    cu.push_back(cu.back() + l);
  }
  const int H = c.hidden_size, T = cu.back();
  std::vector<float> out(size_t(T) * H);
  th::check(bertrt_cuda_forward(model, ids.data(), types.data(), cu.data(), int(lens.size()), T, out.data(), err, sizeof err) == 0, name + " forward " + err);
  double worst = 0;
  bool same = true;
  for (size_t s = 0; s < lens.size(); ++s) {
    std::vector<int32_t> sid(ids.begin() + cu[s], ids.begin() + cu[s + 1]), sty(types.begin() + cu[s], types.begin() + cu[s + 1]);
    const float* got = out.data() + size_t(cu[s]) * H;
    worst = std::max(worst, th::norm_err(got, tiny::reference(m, sid, sty)));
    std::vector<float> alone(size_t(lens[s]) * H);
    int32_t cu1[2] = {0, lens[s]};
    bertrt_cuda_forward(model, sid.data(), sty.data(), cu1, 1, lens[s], alone.data(), err, sizeof err);
    same = same && alone_matches(alone, got, tol);
  }
  check_err(worst, encoder_bound(precision), name + " vs float64 reference, lengths 1/9/33/150");
  th::check(same, name + ": packed batch equals each sequence run alone, " + alone_claim(tol));
  bertrt_cuda_destroy(model);
}

// A tiny model through the C interface against tiny_bert.h's float64 reference (the one test_model holds the CPU
// engine to): lengths 1 to 150 in one packed batch, each sequence alone giving the same bits, and the shape again as a
// CUDA graph replay. Bounds as the BERT model's.
void check_tiny(const std::string& name, const tiny::Tiny& m, const bertrt_cuda_config& c, const bertrt_cuda_embeddings& emb,
                const std::vector<bertrt_cuda_layer>& layers, int precision) {
  char err[512] = "";
  void* model = nullptr;
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &model, err, sizeof err) == 0, name + " model created " + err);
  if (!model) return;
  const double tol = alone_tolerance(model);
  th::Rng rng(9);
  const std::vector<int> lens = {1, 9, 33, 150, 70};
  std::vector<int32_t> ids, cu = {0};
  for (int l : lens) {
    for (int i = 0; i < l; ++i) ids.push_back(int32_t(rng.next() % 64));
    cu.push_back(cu.back() + l);
  }
  const int H = c.hidden_size, T = cu.back();
  std::vector<float> out(size_t(T) * H), again(size_t(T) * H);
  th::check(bertrt_cuda_forward(model, ids.data(), nullptr, cu.data(), int(lens.size()), T, out.data(), err, sizeof err) == 0, name + " forward " + err);
  double worst = 0;
  bool same = true;
  for (size_t s = 0; s < lens.size(); ++s) {
    std::vector<int32_t> sid(ids.begin() + cu[s], ids.begin() + cu[s + 1]);
    const float* got = out.data() + size_t(cu[s]) * H;
    worst = std::max(worst, th::norm_err(got, tiny::reference(m, sid, std::vector<int32_t>(sid.size(), 0))));
    std::vector<float> alone(size_t(lens[s]) * H);
    int32_t cu1[2] = {0, lens[s]};
    bertrt_cuda_forward(model, sid.data(), nullptr, cu1, 1, lens[s], alone.data(), err, sizeof err);
    same = same && alone_matches(alone, got, tol);
  }
  check_err(worst, encoder_bound(precision), name + " vs float64 reference, lengths 1/9/33/150/70");
  th::check(same, name + ": packed batch equals each sequence run alone, " + alone_claim(tol));
  bertrt_cuda_forward(model, ids.data(), nullptr, cu.data(), int(lens.size()), T, again.data(), err, sizeof err);
  th::check(again == out, name + ": the same bits as a CUDA graph replay");
  bertrt_cuda_destroy(model);
}

bertrt_cuda_config tiny_config(const tiny::Tiny& m) {
  bertrt_cuda_config c{};
  c.vocab_size = m.cfg.vocab_size, c.hidden_size = m.cfg.hidden_size, c.num_layers = m.cfg.num_hidden_layers;
  c.num_heads = m.cfg.num_attention_heads, c.intermediate_size = m.cfg.intermediate_size;
  c.max_positions = m.cfg.max_position_embeddings, c.type_vocab_size = m.cfg.type_vocab_size, c.layer_norm_eps = m.cfg.layer_norm_eps;
  c.padding_idx = -1, c.activation = BERTRT_CUDA_GELU;
  return c;
}

// ModernBERT (pre-norm, no layer-0 attention norm, GeGLU, RoPE global 160000 / local 10000, local layers' window
// |i - j| <= 8: key blocks skipped and rows without a valid key in a block, final norm), as cuda_backend.cc passes it.
void test_modern_model(int precision) {
  const tiny::Tiny m = tiny::make_tiny_modern(37, 64, 2, 64, 256, 8);
  auto W = [&](const std::string& n) { return m.w.at(n).data.data(); };
  const int H = m.cfg.hidden_size, I = m.cfg.intermediate_size;
  const std::vector<float> zeros(size_t(3) * std::max(H, 2 * I), 0.f);  // the absent biases, as read_layer gives them
  const float* z = zeros.data();
  bertrt_cuda_config c = tiny_config(m);
  c.rotary = 1, c.rope_theta = m.cfg.rope_theta_global, c.rope_ntk = 1.f, c.gated = 1, c.modern = 1;
  c.rope_theta_local = m.cfg.rope_theta_local, c.global_every = m.cfg.global_every, c.local_window = m.cfg.local_window;
  bertrt_cuda_embeddings emb{W("embeddings.word_embeddings.weight"), nullptr, nullptr, W("embeddings.LayerNorm.weight"), z, nullptr,
                             W("encoder.final_norm.weight"), z, nullptr};
  std::vector<bertrt_cuda_layer> layers(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const float *qkv = W(p + "attn.Wqkv.weight"), *wi = W(p + "mlp.Wi.weight");
    layers[l] = {qkv, z, qkv + H * H, z, qkv + 2 * H * H, z, W(p + "attn.Wo.weight"), z,
                 l > 0 ? W(p + "attn_norm.weight") : nullptr, l > 0 ? z : nullptr, wi, z, W(p + "mlp.Wo.weight"), z,
                 W(p + "mlp_norm.weight"), z, wi + I * H, z, nullptr, nullptr};
  }
  check_tiny(std::string(prec_name(precision)) + " ModernBERT", m, c, emb, layers, precision);
  // a layer 0 with an attention norm, or a local layer without a window, is refused
  layers[0].ln1_g = W("encoder.layer.1.attn_norm.weight"), layers[0].ln1_b = z;
  void* bad = nullptr;
  char err[256] = "";
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &bad, err, sizeof err) != 0 && !bad, "ModernBERT's layer 0 with a LayerNorm is refused");
  layers[0].ln1_g = layers[0].ln1_b = nullptr;
  c.local_window = 0;
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &bad, err, sizeof err) != 0 && !bad, "ModernBERT without a window is refused");
}

// DeBERTa-v3 (disentangled attention over 16 log buckets up to 64, LayerNormed relative embeddings projected by each
// layer's query and key, scale 1/sqrt(3 head_dim); no position or type table), as cuda_backend.cc passes it.
void test_deberta_model(int precision) {
  const tiny::Tiny m = tiny::make_tiny_deberta(41, 64, 2, 128, 256, 16, 64);
  auto W = [&](const std::string& n) { return m.w.at(n).data.data(); };
  const int H = m.cfg.hidden_size, span = m.cfg.disentangled_span, R = 2 * span, P = m.cfg.max_position_embeddings;
  bertrt_cuda_config c = tiny_config(m);
  c.disentangled_span = span;
  // the host side's preparation, in float64 here: LayerNorm of the relative embeddings, each layer's projections
  std::vector<double> rel(W("encoder.rel_embeddings.weight"), W("encoder.rel_embeddings.weight") + size_t(R) * H);
  const tiny::Ref r{m, R, H};
  r.ln(rel, "encoder.LayerNorm");
  std::vector<int32_t> index(2 * size_t(P) - 1);
  for (int d = -(P - 1); d <= P - 1; ++d)
    index[d + P - 1] = std::min(std::max(tiny::deberta_bucket(d, m.cfg.position_buckets, m.cfg.max_relative_positions) + span, 0), R - 1);
  bertrt_cuda_embeddings emb{W("embeddings.word_embeddings.weight"), nullptr, nullptr, W("embeddings.LayerNorm.weight"),
                             W("embeddings.LayerNorm.bias"), nullptr, nullptr, nullptr, index.data()};
  std::vector<bertrt_cuda_layer> layers(c.num_layers);
  std::vector<std::vector<float>> pq(c.num_layers), pk(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const auto q = r.linear(rel, H, p + "attention.self.query", H), k = r.linear(rel, H, p + "attention.self.key", H);
    pq[l].assign(q.begin(), q.end()), pk[l].assign(k.begin(), k.end());
    layers[l] = bert_layer(m, l);
    layers[l].pq = pq[l].data(), layers[l].pk = pk[l].data();
  }
  check_tiny(std::string(prec_name(precision)) + " DeBERTa-v3", m, c, emb, layers, precision);
  // an index past the relative embeddings is refused before anything reaches the device
  index[P - 1] = R;
  void* bad = nullptr;
  char err[256] = "";
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &bad, err, sizeof err) != 0 && !bad &&
                std::string(err).find("outside") != std::string::npos, "DeBERTa with an index outside its relative embeddings is refused");
}

// ALBERT (embeddings of 32 LayerNormed at that width and projected to 64, one group of weights for three layers, the
// tanh GELU) and ELECTRA's factorized embeddings (groups 0: each layer its own), as cuda_backend.cc passes them.
void test_factorized_model(int precision, int groups) {
  const tiny::Tiny m = tiny::make_tiny_factorized(groups > 0 ? 43 : 47, 64, 2, 128, 256, 32, groups);
  auto W = [&](const std::string& n) { return m.w.at(n).data.data(); };
  bertrt_cuda_config c = tiny_config(m);
  c.embedding_size = m.cfg.embedding_size, c.layer_groups = m.cfg.layer_groups;
  c.activation = groups > 0 ? BERTRT_CUDA_GELU_TANH : BERTRT_CUDA_GELU;
  bertrt_cuda_embeddings emb{W("embeddings.word_embeddings.weight"), W("embeddings.position_embeddings.weight"),
                             W("embeddings.token_type_embeddings.weight"), W("embeddings.LayerNorm.weight"),
                             W("embeddings.LayerNorm.bias"), nullptr, nullptr, nullptr, nullptr,
                             W("embeddings.project.weight"), W("embeddings.project.bias")};
  std::vector<bertrt_cuda_layer> layers(groups > 0 ? groups : c.num_layers);
  for (size_t l = 0; l < layers.size(); ++l) layers[l] = bert_layer(m, int(l));
  check_tiny(std::string(prec_name(precision)) + (groups > 0 ? " ALBERT" : " ELECTRA (E 32)"), m, c, emb,
             layers, precision);
  // a width that is not a multiple of 16, or groups that do not divide the layers, are refused
  void* bad = nullptr;
  char err[256] = "";
  c.embedding_size = 24;
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &bad, err, sizeof err) != 0 && !bad, "an embedding width of 24 is refused");
  c.embedding_size = 32, c.layer_groups = 2;
  th::check(bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &bad, err, sizeof err) != 0 && !bad, "2 groups for 3 layers are refused");
}

// INT8 on cuBLASLt (exact INT32 products, then the own epilogue) against INT8 on the own IMMA kernels: the same bits
// for a whole encoder, a packed batch of lengths 1 to 150.
void test_int8_paths_agree() {
  tiny::Tiny m = tiny::make_tiny(13, 64, 2, 128, 160);
  auto W = [&](const std::string& n) { return m.w.at(n).data.data(); };
  const bertrt_cuda_config c = tiny_config(m);
  bertrt_cuda_embeddings emb{W("embeddings.word_embeddings.weight"), W("embeddings.position_embeddings.weight"),
                             W("embeddings.token_type_embeddings.weight"), W("embeddings.LayerNorm.weight"),
                             W("embeddings.LayerNorm.bias"), nullptr};
  std::vector<bertrt_cuda_layer> layers(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) layers[l] = bert_layer(m, l);
  th::Rng rng(17);
  std::vector<int32_t> ids, cu = {0};
  for (int len : {1, 9, 33, 150}) {
    for (int i = 0; i < len; ++i) ids.push_back(int32_t(rng.next() % 64));
    cu.push_back(cu.back() + len);
  }
  const int T = cu.back();
  std::vector<float> outs[2];
  std::string notes[2];
  const char* lt_env = std::getenv("BERTRT_CUBLASLT");
  const std::string lt_choice = lt_env ? lt_env : "1";
  for (int own = 0; own < 2; ++own) {
    if (own) setenv("BERTRT_CUBLASLT", "0", 1);  // (read at each model's creation)
    char err[512] = "", info[512] = "";
    void* model = nullptr;
    th::check(bertrt_cuda_create(&c, &emb, layers.data(), BERTRT_CUDA_INT8, 0, &model, err, sizeof err) == 0,
              std::string("INT8 model created ") + err);
    if (own) setenv("BERTRT_CUBLASLT", lt_choice.c_str(), 1);
    if (!model) return;
    bertrt_cuda_describe(model, info, sizeof info);
    notes[own] = info;
    outs[own].assign(size_t(T) * c.hidden_size, 0.f);
    th::check(bertrt_cuda_forward(model, ids.data(), nullptr, cu.data(), 4, T, outs[own].data(), err, sizeof err) == 0,
              std::string("INT8 forward ") + err);
    bertrt_cuda_destroy(model);
  }
  th::check(notes[0].rfind("INT8 GEMMs: cuBLASLt", 0) == 0 && notes[1].rfind("INT8 GEMMs: own IMMA kernels", 0) == 0,
            "INT8 GEMMs on cuBLASLt, then on the own kernels (BERTRT_CUBLASLT=0): " + notes[0] + " / " + notes[1]);
  th::check(outs[0] == outs[1], "INT8 encoder on cuBLASLt gives the own IMMA kernels' bits (lengths 1/9/33/150)");
}

// Every encoder test in each precision this round can run: FP8 only where cuBLASLt is in use and the GPU has FP8.
void test_models(bool fp8) {
  for (const int p : {BERTRT_CUDA_FP16, BERTRT_CUDA_INT8, BERTRT_CUDA_FP8}) {
    if (p == BERTRT_CUDA_FP8 && !fp8) continue;
    test_model(p);
    test_model(p, 1);                     // XLM-R's padding_idx
    test_model(p, 1, /*relative=*/true);  // MPNet: RoBERTa's positions and the relative bias
    test_rotary_model(p, 1.f);
    if (p == BERTRT_CUDA_FP16) test_rotary_model(p, 2.f);
    test_modern_model(p);
    test_deberta_model(p);
    test_factorized_model(p, 1);
    test_factorized_model(p, 0);
  }
}

// E4M3 as the OCP FP8 format defines it ("fn": no infinities, S.1111.111 is NaN, 448 the largest finite value), decoded
// from its bit fields: an independent reference for cuda_fp8.h's conversion, which the FP8 mode relies on.
double e4m3_value(unsigned b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1 + m / 8.0, e - 7);
  return (b & 0x80) ? -v : v;
}
// The byte nearest to x, ties to the even code, magnitudes past 448 (infinities included) saturated to 448, by search
// over every finite magnitude.
unsigned e4m3_round(double x) {
  if (std::isnan(x)) return 0x7F;
  const unsigned sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x);
  unsigned best = 0;
  for (unsigned b = 1; b <= 0x7E; ++b) {
    const double d = std::fabs(a - e4m3_value(b)), db = std::fabs(a - e4m3_value(best));
    if (d < db || (d == db && (b & 1) == 0)) best = b;
  }
  return sign | best;
}

// Host side of FP8, no GPU needed (runs in CI): cuda_fp8.h's float -> E4M3 conversion rounds to nearest even and
// saturates, as the FP8 mode's documentation says, on random values of every magnitude, on each midpoint between two
// neighbours (ties), just off them, on zeros, huge values and infinities; quantize_weight_rows_fp8 gives scale max|w| /
// 448 per row and those bytes, zeros for an all-zero row, and values within half an E4M3 step of the weights.
void test_fp8_host() {
  th::Rng rng(88);
  std::vector<double> xs = {0.0, -0.0, 448.0, -448.0, 460.0, 464.0, 1e6, -1e6, INFINITY, -INFINITY, 1e-9, -1e-9};
  for (int i = 0; i < 20000; ++i) xs.push_back(std::ldexp(double(rng.uniform(-1.f, 1.f)), int(rng.next() % 24) - 14));
  for (unsigned b = 0; b < 0x7E; ++b) {  // midpoints between neighbours, and a hair either side
    const float mid = static_cast<float>((e4m3_value(b) + e4m3_value(b + 1)) / 2);  // (exact: a few bits)
    for (float x : {mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e9f)}) xs.push_back(x), xs.push_back(-x);
  }
  int wrong = 0;
  std::string first;
  for (double x : xs) {
    const float f = static_cast<float>(x);  // (the conversion takes a float; every value above is exact in float)
    const unsigned got = __nv_fp8_e4m3(f).__x, want = e4m3_round(f);
    if (got != want && wrong++ == 0) first = std::to_string(f) + " -> " + std::to_string(got) + ", want " + std::to_string(want);
  }
  th::check(wrong == 0, "cuda_fp8.h's E4M3 conversion: nearest, ties to even, saturating at 448 (" + std::to_string(xs.size()) +
                            " values" + (wrong ? "; " + std::to_string(wrong) + " differ, first " + first : "") + ")");
  const int n = 37, k = 100;
  std::vector<float> w(size_t(n) * k);
  rng.fill(w, -0.3f, 0.3f);
  for (int i = 0; i < k; ++i) w[size_t(5) * k + i] = 0.f;  // an all-zero row
  w[size_t(7) * k + 3] = 50.f;                            // a row with one outlier
  std::vector<__nv_fp8_e4m3> q(w.size());
  std::vector<float> scale(n);
  quantize_weight_rows_fp8(w.data(), n, k, q.data(), scale.data());
  bool bytes = true, zero_row = scale[5] == 0.f, close = true;
  for (int r = 0; r < n; ++r) {
    float mx = 0.f;
    for (int i = 0; i < k; ++i) mx = std::max(mx, std::fabs(w[size_t(r) * k + i]));
    bytes = bytes && (r == 5 || scale[r] == mx / 448.f);
    for (int i = 0; i < k; ++i) {
      const size_t o = size_t(r) * k + i;
      if (r == 5) {
        zero_row = zero_row && q[o].__x == 0;
        continue;
      }
      const float t = w[o] * (448.f / mx);
      bytes = bytes && q[o].__x == e4m3_round(t);
      // half a step: 2^-4 of the value in the normal range, 2^-10 absolute (half of 2^-9) below 2^-6, in scaled units
      const double err = std::fabs(e4m3_value(q[o].__x) - t), half_step = std::max(std::fabs(double(t)) / 16, std::ldexp(1.0, -10));
      close = close && err <= half_step * (1 + 1e-12);
    }
  }
  th::check(bytes, "quantize_weight_rows_fp8: scale max|w| / 448 per row and the E4M3 nearest to w * 448 / max|w|");
  th::check(zero_row, "quantize_weight_rows_fp8: an all-zero row gets scale 0 and zero bytes");
  th::check(close, "quantize_weight_rows_fp8: every weight within half an E4M3 step of its value");
}

}  // namespace

int main() {
  char info[256] = "";
  if (bertrt_cuda_abi() != BERTRT_CUDA_ABI_VERSION) {
    std::printf("ABI mismatch\n0 passed, 1 failed\n");
    return 1;
  }
  test_fp8_host();  // (host code: runs with or without a GPU)
  if (bertrt_cuda_probe(0, info, sizeof info) != 0) {
    std::printf("SKIP test_cuda: %s\n", info);
    const int host = th::finish();  // the host checks' counts; the GPU tests are skipped
    return host != 0 ? host : 77;
  }
  std::printf("device: %s\n", info);
  setenv("BERTRT_CUBLASLT", "1", /*overwrite=*/0);  // cuBLASLt is opt-in: test it wherever it loads (a path given wins)
  th::Rng rng(2024);
  const std::string prepared = gemm_prepare();
  th::check(prepared.empty(), "gemm_prepare " + prepared);
  test_gemm_f16(rng);
  test_gemm_tiles_agree(rng);
  test_gemm_s8(rng);
  test_cublaslt(rng);
  test_cublaslt_quantized(rng);
  test_rows(rng);
  test_attention(rng);
  // the encoders: FP16 and INT8 on cuBLASLt where it loads (else the own kernels) and FP8 where the GPU has it, then
  // FP16 and INT8 again on the own kernels
  if (cublaslt_status().empty()) test_int8_paths_agree();
  else std::printf("SKIP FP8 encoders: %s\n", cublaslt_status().c_str());
  if (cublaslt_status().empty() && !has_fp8()) std::printf("SKIP FP8 encoders: compute capability below 8.9\n");
  for (int round = 0; round < (cublaslt_status().empty() ? 2 : 1); ++round) {
    if (round == 1) {
      setenv("BERTRT_CUBLASLT", "0", 1);  // read at each model's creation
      std::printf("the FP16 and INT8 encoders again on the own GEMM kernels (BERTRT_CUBLASLT=0)\n");
    }
    test_models(round == 0 && cublaslt_status().empty() && has_fp8());
  }
  cudaError_t e = cudaDeviceSynchronize();
  th::check(e == cudaSuccess, std::string("no CUDA error at the end: ") + cudaGetErrorString(e));
  return th::finish();
}

