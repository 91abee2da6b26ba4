// Microbenchmark bodies. Timing: repeat until min_seconds have passed (at least 3 calls), report the best call.
#include "microbench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "../core/aligned.h"
#include "../cpu/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace bertrt::bench {

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_of(F&& f, double min_seconds) {
  double best = 1e30, total = 0;
  int n = 0;
  while (n < 3 || total < min_seconds) {
    auto t0 = Clock::now();
    f();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
    ++n;
  }
  return best;
}

void fill(AlignedBuffer<float>& b, size_t n, uint32_t seed) {
  b.resize(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (size_t i = 0; i < n; ++i) b.data()[i] = d(rng);
}

const cpu::Kernels& pick(const std::string& isa) {
  const cpu::Kernels* k = isa.empty() ? &cpu::kernels() : cpu::kernels_for(isa);
  return k ? *k : cpu::kernels();
}

// The random operands every GEMM benchmark uses: A [m][k], W [n][k], bias [n], C [m][n].
struct GemmInputs {
  AlignedBuffer<float> a, w, b, c;
  GemmInputs(int m, int n, int k) : c(static_cast<size_t>(m) * n) {
    fill(a, static_cast<size_t>(m) * k, 1);
    fill(w, static_cast<size_t>(n) * k, 2);
    fill(b, n, 3);
  }
};

// Times run() and fills in the shape, the best call and GFLOPS (2·m·n·k per call).
template <class F>
void time_gemm(Result& r, int m, int n, int k, double min_seconds, F&& run) {
  r.shape = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
  r.seconds = best_of(run, min_seconds);
  r.gflops = 2.0 * m * n * k / r.seconds / 1e9;
}

#if defined(__x86_64__) && defined(__GNUC__)
// 12 independent accumulators hide the FMA latency on every current x86 core.
__attribute__((target("avx512f,fma"))) double fma_loop_avx512(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx2,fma"))) double fma_loop_avx2(long iters) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  float out[8];
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  _mm256_storeu_ps(out, s);
  return out[0];
}
__attribute__((target("avx512f,avx512vnni"))) int vnni_loop(long iters) {
  __m512i a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_epi32(i);
  const __m512i x = _mm512_set1_epi32(0x01010101), y = _mm512_set1_epi32(0x02020202);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
  __m512i s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, a[i]);
  return _mm512_reduce_add_epi32(s);
}
#endif

const cpu::Kernels& pick_s8(const std::string& isa) {
  const cpu::Kernels* k = isa.empty() ? &cpu::kernels_s8() : cpu::kernels_for(isa);
  return k && k->gemm_s8 ? *k : cpu::kernels_s8();
}

}  // namespace

Result s8_peak(ThreadPool& pool, int threads) {
  Result r;
  r.op = "peak-int8";
  r.isa = cpu::kernels_s8().name;
  r.shape = std::to_string(threads) + " threads";
  const long iters = 10'000'000;
  volatile int sink = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (r.isa == "avx512") {
    r.seconds = best_of([&] { pool.parallel_for(threads, [&](int64_t, int) { sink = vnni_loop(iters); }, threads); }, 0.2);
    r.gflops = 2.0 * 64 * 12 * iters * threads / r.seconds / 1e9;
  }
#endif
  (void)sink;
  return r;
}

Result gemm_s8(ThreadPool& pool, const std::string& isa, int m, int n, int k, bool gelu, double min_seconds) {
  const cpu::Kernels& kk = pick_s8(isa);
  GemmInputs in(m, n, k);
  cpu::QuantMatrix qw;
  kk.pack_weights_s8(in.w.data(), n, k, &qw);
  cpu::QuantRows qa;
  kk.quantize_rows(in.a.data(), m, k, k, nullptr, &qa, pool, 0);
  cpu::GemmS8Args g;
  g.a = &qa, g.w = &qw, g.bias = in.b.data(), g.act = gelu ? cpu::Act::kGelu : cpu::Act::kNone, g.c = in.c.data(), g.ldc = n;
  Result r;
  r.op = gelu ? "gemm_s8+gelu" : "gemm_s8";
  r.isa = kk.name;
  time_gemm(r, m, n, k, min_seconds, [&] { kk.gemm_s8(g, pool, 0); });
  return r;
}

Result gemm_bf16(ThreadPool& pool, int m, int n, int k, bool gelu, double min_seconds) {
  Result r;
  r.op = gelu ? "gemm_bf16+gelu" : "gemm_bf16";
  r.shape = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
  const cpu::Kernels* kk = cpu::kernels_bf16(/*tiles=*/true);  // the GEMM a BF16 model runs
  if (!kk) return r;
  r.isa = kk->name;
  GemmInputs in(m, n, k);
  cpu::Bf16Matrix bw;
  kk->pack_weights_bf16(in.w.data(), n, k, &bw);
  cpu::Bf16Rows ba;
  kk->convert_rows_bf16(in.a.data(), m, k, k, &ba, pool, 0);
  cpu::GemmBf16Args g;
  g.a = &ba, g.w = &bw, g.bias = in.b.data(), g.act = gelu ? cpu::Act::kGelu : cpu::Act::kNone, g.c = in.c.data(), g.ldc = n;
  time_gemm(r, m, n, k, min_seconds, [&] { kk->gemm_bf16(g, pool, 0); });
  return r;
}

Result quantize(ThreadPool& pool, const std::string& isa, int m, int k, double min_seconds) {
  const cpu::Kernels& kk = pick_s8(isa);
  AlignedBuffer<float> a;
  fill(a, static_cast<size_t>(m) * k, 1);
  cpu::QuantRows qa;
  Result r;
  r.op = "quantize";
  r.isa = kk.name;
  r.shape = std::to_string(m) + "x" + std::to_string(k);
  r.seconds = best_of([&] { kk.quantize_rows(a.data(), m, k, k, nullptr, &qa, pool, 0); }, min_seconds);
  r.gbps = 5.0 * m * k / r.seconds / 1e9;  // read 4 bytes, write 1
  return r;
}

Result fp32_peak(ThreadPool& pool, int threads) {
  Result r;
  r.op = "peak";
  const std::string isa = cpu::kernels().name;
  r.isa = isa;
  const long iters = 20'000'000;
  const int lanes = isa == "avx512" ? 16 : 8;
  volatile double sink = 0;
  double s = best_of(
      [&] {
        pool.parallel_for(
            threads,
            [&](int64_t, int) {
#if defined(__x86_64__) && defined(__GNUC__)
              sink = isa == "avx512" ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
#endif
            },
            threads);
      },
      0.2);
  r.seconds = s;
  r.gflops = 2.0 * 12 * lanes * iters * threads / s / 1e9;
  r.shape = std::to_string(threads) + " threads";
  (void)sink;
  return r;
}

Result gemm(ThreadPool& pool, const std::string& isa, int m, int n, int k, bool gelu, bool halves, double min_seconds) {
  const cpu::Kernels& kk = pick(isa);
  GemmInputs in(m, n, k);
  cpu::PackedMatrix pw;
  // halves: weights that are exact halves (multiples of 2^-10 in [-1, 1]), kept in 16 bits as an F16 checkpoint's
  // (the label says which form ran)
  if (halves)
    for (size_t i = 0; i < static_cast<size_t>(n) * k; ++i) in.w.data()[i] = std::ldexp(std::nearbyint(in.w.data()[i] * 1024.f), -10);
  if (!(halves && kk.pack_weights_f16(in.w.data(), n, k, &pw))) kk.pack_weights(in.w.data(), n, k, &pw);
  cpu::GemmArgs g;
  g.a = in.a.data(), g.lda = k, g.w = &pw, g.bias = in.b.data(), g.act = gelu ? cpu::Act::kGelu : cpu::Act::kNone, g.c = in.c.data(), g.ldc = n, g.m = m;
  Result r;
  r.op = std::string(gelu ? "gemm+bias+gelu" : "gemm+bias") + (pw.f16() ? " (F16 weights)" : "");
  r.isa = kk.name;
  time_gemm(r, m, n, k, min_seconds, [&] { kk.gemm(g, pool, 0); });
  return r;
}

Result attention(ThreadPool& pool, const std::string& isa, int batch, int len, int heads, int head_dim, double min_seconds,
                 bool bf16, int window) {
  const cpu::Kernels& kk = bf16 ? *cpu::kernels_bf16() : pick(isa);
  const int H = heads * head_dim, T = batch * len;
  AlignedBuffer<float> qkv, out(static_cast<size_t>(T) * H);
  fill(qkv, static_cast<size_t>(T) * 3 * H, 4);
  std::vector<int32_t> cu(batch + 1);
  for (int i = 0; i <= batch; ++i) cu[i] = i * len;
  cpu::AttentionArgs g;
  g.qkv = qkv.data(), g.ld_qkv = 3 * H, g.out = out.data(), g.ld_out = H, g.cu_seqlens = cu.data(), g.n_seqs = batch;
  g.n_heads = heads, g.head_dim = head_dim, g.scale = 1.f / std::sqrt(float(head_dim));
  g.window = window;
  Result r;
  r.op = std::string(bf16 ? "attention_bf16" : "attention") + (window > 0 ? " w" + std::to_string(window) : "");
  r.isa = kk.name;
  r.shape = std::to_string(batch) + "x" + std::to_string(len) + " h" + std::to_string(heads) + "x" + std::to_string(head_dim);
  r.seconds = best_of([&] { bf16 ? kk.attention_bf16(g, pool, 0) : kk.attention(g, pool, 0); }, min_seconds);
  // (the useful work: the keys within the window)
  double pairs = double(len) * len;
  if (window > 0) {
    pairs = 0;
    for (int i = 0; i < len; ++i) pairs += std::min(len - 1, i + window) - std::max(0, i - window) + 1;
  }
  r.gflops = 4.0 * batch * heads * pairs * head_dim / r.seconds / 1e9;
  return r;
}

Result layernorm(ThreadPool& pool, const std::string& isa, int rows, int hidden, double min_seconds) {
  const cpu::Kernels& kk = pick(isa);
  AlignedBuffer<float> x, res, gm, bt;
  fill(x, static_cast<size_t>(rows) * hidden, 5);
  fill(res, static_cast<size_t>(rows) * hidden, 6);
  fill(gm, hidden, 7);
  fill(bt, hidden, 8);
  Result r;
  r.op = "add+layernorm";
  r.isa = kk.name;
  r.shape = std::to_string(rows) + "x" + std::to_string(hidden);
  r.seconds = best_of([&] { kk.add_layernorm(x.data(), res.data(), gm.data(), bt.data(), rows, hidden, 1e-12f, pool, 0); }, min_seconds);
  r.gbps = 3.0 * rows * hidden * 4 / r.seconds / 1e9;  // read x, read residual, write x
  return r;
}

}  // namespace bertrt::bench
