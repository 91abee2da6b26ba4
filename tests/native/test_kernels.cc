// Every CPU kernel, on every ISA path this machine runs, against a float64 reference on random inputs with odd
// sizes (1, 3, 17, non-multiples of every tile) as well as BERT's own shapes.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/thread_pool.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "harness.h"

using namespace bertrt;

namespace {

// Tolerances. FP32 dot products of length k accumulate rounding of about sqrt(k) * 2^-24 relative to the
// operands' scale; GELU's approximation adds <= 3.8e-8 |x| (see test_gelu_sweep). 2e-6 normalised error leaves room for
// k = 1536 while still catching any indexing or epilogue mistake (those give errors of order 1).
constexpr double kGemmTol = 2e-6;
constexpr double kAttnTol = 2e-6;
// bf16 probabilities (each rounded by at most 2^-8 relative) in a convex combination of values |v| <= 2: the output
// moves by at most 2^-8 * 2 / (1 + 2) ~ 2.6e-3 normalized; 3e-3 leaves room for FP32 sums (measured: < 1e-3, the
// roundings being of either sign)
constexpr double kAttnBf16Tol = 3e-3;
constexpr double kLnTol = 2e-6;

double gelu64(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

void test_gemm(const cpu::Kernels& k, ThreadPool& pool, int m, int n, int kk, bool bias, bool gelu, bool residual, uint64_t seed) {
  th::Rng rng(seed);
  std::vector<float> a(size_t(m) * kk), w(size_t(n) * kk), b(n), r(size_t(m) * n), c(size_t(m) * n, NAN);
  rng.fill(a); rng.fill(w); rng.fill(b); rng.fill(r);
  // Scale weights like a trained layer (std ~ 1/sqrt(k)) so GELU sees values of order 1 on both sides of 0.
  for (auto& x : w) x *= 1.7f / std::sqrt(float(kk));
  cpu::PackedMatrix pw;
  k.pack_weights(w.data(), n, kk, &pw);
  cpu::GemmArgs g;
  g.a = a.data(), g.lda = kk, g.w = &pw, g.bias = bias ? b.data() : nullptr, g.act = gelu ? cpu::Act::kGelu : cpu::Act::kNone;
  g.residual = residual ? r.data() : nullptr, g.ldr = n, g.c = c.data(), g.ldc = n, g.m = m;
  k.gemm(g, pool, 0);
  std::vector<double> want(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < kk; ++p) s += double(a[size_t(i) * kk + p]) * w[size_t(j) * kk + p];
      if (bias) s += b[j];
      if (gelu) s = gelu64(s);
      if (residual) s += r[size_t(i) * n + j];
      want[size_t(i) * n + j] = s;
    }
  double e = th::norm_err(c.data(), want);
  char name[160];
  std::snprintf(name, sizeof name, "%s gemm m=%d n=%d k=%d bias=%d gelu=%d res=%d err=%.2e", k.name, m, n, kk, bias, gelu, residual, e);
  th::check(e <= kGemmTol, name);
}

// IEEE binary16 by its definition (sign, 5-bit exponent biased by 15, 10-bit fraction), in double arithmetic.
double half_value(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  const double v = exp == 0 ? std::ldexp(double(man), -24) : exp == 31 ? (man ? NAN : INFINITY) : std::ldexp(1024.0 + man, exp - 25);
  return sign ? -v : v;
}

// float_to_half_exact and half_bits_to_float against that definition on all 65,536 halves, and floats between halves
// (or past their range) refused.
void test_half_conversions() {
  int wrong = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const double want = half_value(uint16_t(h));
    const float got = simd::half_bits_to_float(uint16_t(h));
    if (std::isnan(want) ? !std::isnan(got) : double(got) != want || std::signbit(got) != std::signbit(want)) ++wrong;
    uint16_t back = 0;
    const bool exact = cpu::float_to_half_exact(float(want), &back);
    if (std::isfinite(want) ? !exact || back != h : exact) ++wrong;
    // the next float above a finite nonzero half is not a half
    if (std::isfinite(want) && want != 0 && cpu::float_to_half_exact(std::nextafter(float(want), INFINITY), &back)) ++wrong;
  }
  th::check(wrong == 0, "half <-> float: every half decodes to its value and back; floats between halves refused (" + std::to_string(wrong) + " wrong)");
  uint16_t h = 0;
  th::check(!cpu::float_to_half_exact(65520.f, &h) && !cpu::float_to_half_exact(std::ldexp(1.f, -25), &h) &&
                !cpu::float_to_half_exact(std::ldexp(3.f, -25), &h) && !cpu::float_to_half_exact(1e-30f, &h),
            "half: 65520, 2^-25, 3 * 2^-25 and a float subnormal-range value refused");
}

// Half-resident panels: weights that are exact halves (including -0, subnormal halves and 65504) packed by
// pack_weights_f16 give the same bits as the FP32 panels through every epilogue, for row counts on both sides of the
// register block and of a task's rows (GemmShape::MC), with partial panels; one weight that is not a half keeps FP32.
void test_gemm_f16(const cpu::Kernels& k, ThreadPool& pool, int m, int n, int kk, uint64_t seed) {
  th::Rng rng(seed);
  std::vector<float> a(size_t(m) * kk), w(size_t(n) * kk), b(n), r(size_t(m) * n);
  rng.fill(a); rng.fill(b); rng.fill(r);
  for (auto& x : w) x = std::ldexp(std::nearbyint(rng.uniform() * 1024.f), -14);  // 11 significant bits, |x| <= 2^-4
  const float specials[] = {-0.f, 65504.f, std::ldexp(1.f, -24), std::ldexp(1023.f, -24), -std::ldexp(1.f, -14)};
  for (size_t i = 0; i < 5 && i < w.size(); ++i) w[(i * 7919) % w.size()] = specials[i];
  cpu::PackedMatrix p32, p16;
  k.pack_weights(w.data(), n, kk, &p32);
  const bool halved = k.pack_weights_f16(w.data(), n, kk, &p16);
  int same = 0;
  for (int mode = 0; mode < 4; ++mode) {
    std::vector<float> c32(size_t(m) * n, NAN), c16(size_t(m) * n, NAN);
    for (int which = 0; which < 2; ++which) {
      cpu::GemmArgs g;
      g.a = a.data(), g.lda = kk, g.w = which ? &p16 : &p32, g.bias = mode >= 1 ? b.data() : nullptr, g.act = mode >= 2 ? cpu::Act::kGelu : cpu::Act::kNone;
      g.residual = mode == 3 ? r.data() : nullptr, g.ldr = n, g.c = which ? c16.data() : c32.data(), g.ldc = n, g.m = m;
      k.gemm(g, pool, 0);
    }
    same += std::memcmp(c32.data(), c16.data(), sizeof(float) * c32.size()) == 0;
  }
  char name[160];
  std::snprintf(name, sizeof name, "%s gemm, half panels m=%d n=%d k=%d: packed as halves, 4 epilogues bit-identical to FP32 panels",
                k.name, m, n, kk);
  th::check(halved && p16.f16() && p16.bytes() * 2 <= p32.bytes() + 64 && same == 4, name);
  // not a half: FP32 panels, the same as pack_weights'
  w[w.size() / 2] = 1.f + std::ldexp(1.f, -20);
  cpu::PackedMatrix q;
  const bool refused = !k.pack_weights_f16(w.data(), n, kk, &q);
  k.pack_weights(w.data(), n, kk, &p32);
  const size_t used = size_t(p32.panels()) * p32.nr * kk;
  std::snprintf(name, sizeof name, "%s pack_weights_f16 m=%d n=%d k=%d: one weight not a half keeps FP32 panels", k.name, m, n, kk);
  th::check(refused && !q.f16() && std::memcmp(q.data.data(), p32.data.data(), sizeof(float) * used) == 0, name);
}

double bf16_value(float f) {
  uint32_t b = uint32_t(cpu::float_to_bf16(f)) << 16;
  float r;
  std::memcpy(&r, &b, 4);
  return r;
}

// bf16: the kernel is k.attention_bf16, compared with a float64 reference over bf16-rounded Q, K and V (its
// remaining error: the probabilities rounded to bf16 before P.V, at most 2^-8 relative).
// window > 0: ModernBERT's sliding window, query i sees keys with |i - j| <= window (the reference masks the rest).
void test_attention(const cpu::Kernels& k, ThreadPool& pool, std::vector<int> lens, int heads, int dh, uint64_t seed,
                    bool bf16 = false, int window = 0) {
  th::Rng rng(seed);
  std::vector<int32_t> cu{0};
  for (int l : lens) cu.push_back(cu.back() + l);
  const int T = cu.back(), H = heads * dh;
  std::vector<float> qkv(size_t(T) * 3 * H), out(size_t(T) * H, NAN);
  rng.fill(qkv, -2.f, 2.f);
  cpu::AttentionArgs g;
  g.qkv = qkv.data(), g.ld_qkv = 3 * H, g.out = out.data(), g.ld_out = H, g.cu_seqlens = cu.data();
  g.n_seqs = int(lens.size()), g.n_heads = heads, g.head_dim = dh, g.scale = 1.f / std::sqrt(float(dh));
  g.window = window;
  if (bf16) k.attention_bf16(g, pool, 0);
  else k.attention(g, pool, 0);
  const bool rounded = bf16 && dh % 2 == 0;  // an odd head size runs the FP32 kernel
  auto in = [&](size_t idx) { return rounded ? bf16_value(qkv[idx]) : double(qkv[idx]); };
  std::vector<double> want(size_t(T) * H);
  for (size_t s = 0; s < lens.size(); ++s)
    for (int h = 0; h < heads; ++h)
      for (int i = cu[s]; i < cu[s + 1]; ++i) {
        std::vector<double> sc;
        double mx = -INFINITY;
        for (int j = cu[s]; j < cu[s + 1]; ++j) {
          double d = 0;
          for (int x = 0; x < dh; ++x) d += in(size_t(i) * 3 * H + h * dh + x) * in(size_t(j) * 3 * H + H + h * dh + x);
          sc.push_back(window > 0 && std::abs(i - j) > window ? -INFINITY : d * g.scale);
          mx = std::max(mx, sc.back());
        }
        double sum = 0;
        for (auto& v : sc) sum += (v = std::exp(v - mx));
        for (int x = 0; x < dh; ++x) {
          double o = 0;
          for (int j = cu[s]; j < cu[s + 1]; ++j) o += sc[j - cu[s]] * in(size_t(j) * 3 * H + 2 * H + h * dh + x);
          want[size_t(i) * H + h * dh + x] = o / sum;
        }
      }
  double e = th::norm_err(out.data(), want);
  // BF16's output in bfloat16 (out_bf16, for the next GEMM): the bits of the floats above through convert_rows_bf16,
  // odd head sizes (the FP32 kernel, then a conversion) and odd widths (a zero pad column) included
  bool direct_same = true;
  if (bf16) {
    cpu::Bf16Rows converted;
    k.convert_rows_bf16(out.data(), T, H, H, &converted, pool, 0);
    std::vector<uint16_t> direct(size_t(T) * converted.kpad + 1, 0x7fc1);
    std::vector<float> scratch(out.size(), NAN);
    cpu::AttentionArgs gb = g;
    gb.out = scratch.data(), gb.out_bf16 = direct.data(), gb.ld_out_bf16 = converted.kpad;
    k.attention_bf16(gb, pool, 0);
    direct_same = std::memcmp(direct.data(), converted.data.data(), sizeof(uint16_t) * size_t(T) * converted.kpad) == 0 &&
                  direct.back() == 0x7fc1;
  }
  std::string name = std::string(k.name) + (bf16 ? " attention_bf16" : " attention") + " heads=" + std::to_string(heads) +
                     " dh=" + std::to_string(dh) + (window ? " window=" + std::to_string(window) : "") + " lens=";
  for (int l : lens) name += std::to_string(l) + ",";
  char buf[32];
  std::snprintf(buf, sizeof buf, " err=%.2e", e);
  th::check(e <= (rounded ? kAttnBf16Tol : kAttnTol), name + buf);
  if (bf16) th::check(direct_same, name + ": written in bfloat16, the bits of its floats converted");
}

void test_layernorm(const cpu::Kernels& k, ThreadPool& pool, int rows, int h, bool residual, uint64_t seed) {
  th::Rng rng(seed);
  std::vector<float> x(size_t(rows) * h), r(size_t(rows) * h), gm(h), bt(h);
  rng.fill(x, -3.f, 5.f); rng.fill(r); rng.fill(gm, 0.5f, 1.5f); rng.fill(bt);
  std::vector<double> want(x.size());
  const double eps = 1e-12;
  for (int i = 0; i < rows; ++i) {
    double mean = 0, var = 0;
    std::vector<double> v(h);
    for (int j = 0; j < h; ++j) mean += (v[j] = double(x[size_t(i) * h + j]) + (residual ? r[size_t(i) * h + j] : 0.0));
    mean /= h;
    for (int j = 0; j < h; ++j) var += (v[j] - mean) * (v[j] - mean);
    var /= h;
    for (int j = 0; j < h; ++j) want[size_t(i) * h + j] = (v[j] - mean) / std::sqrt(var + eps) * gm[j] + bt[j];
  }
  k.add_layernorm(x.data(), residual ? r.data() : nullptr, gm.data(), bt.data(), rows, h, float(eps), pool, 0);
  double e = th::norm_err(x.data(), want);
  char name[128];
  std::snprintf(name, sizeof name, "%s layernorm rows=%d h=%d res=%d err=%.2e", k.name, rows, h, residual, e);
  th::check(e <= kLnTol, name);
}

void test_embed(const cpu::Kernels& k, ThreadPool& pool, int tokens, int h, bool with_types, uint64_t seed) {
  th::Rng rng(seed);
  const int vocab = 50, maxpos = 40, types = 2;
  std::vector<float> word(size_t(vocab) * h), pos(size_t(maxpos) * h), typ(size_t(types) * h), gm(h), bt(h), out(size_t(tokens) * h);
  rng.fill(word); rng.fill(pos); rng.fill(typ); rng.fill(gm, 0.5f, 1.5f); rng.fill(bt);
  std::vector<int32_t> ids(tokens), tids(tokens), positions(tokens);
  for (int t = 0; t < tokens; ++t) ids[t] = rng.next() % vocab, tids[t] = rng.next() % types, positions[t] = rng.next() % maxpos;
  cpu::EmbedArgs g;
  g.word = word.data(), g.pos = pos.data(), g.type = with_types ? typ.data() : nullptr, g.ids = ids.data();
  g.type_ids = tids.data(), g.positions = positions.data(), g.gamma = gm.data(), g.beta = bt.data(), g.eps = 1e-12f;
  g.h = h, g.tokens = tokens, g.out = out.data();
  k.embed_layernorm(g, pool, 0);
  std::vector<double> want(out.size());
  for (int t = 0; t < tokens; ++t) {
    std::vector<double> v(h);
    double mean = 0, var = 0;
    for (int j = 0; j < h; ++j)
      mean += (v[j] = double(word[size_t(ids[t]) * h + j]) + pos[size_t(positions[t]) * h + j] + (with_types ? typ[size_t(tids[t]) * h + j] : 0.0));
    mean /= h;
    for (int j = 0; j < h; ++j) var += (v[j] - mean) * (v[j] - mean);
    var /= h;
    for (int j = 0; j < h; ++j) want[size_t(t) * h + j] = (v[j] - mean) / std::sqrt(var + 1e-12) * gm[j] + bt[j];
  }
  double e = th::norm_err(out.data(), want);
  char name[128];
  std::snprintf(name, sizeof name, "%s embed_layernorm tokens=%d h=%d types=%d err=%.2e", k.name, tokens, h, with_types, e);
  th::check(e <= kLnTol, name);
  // the word table in IEEE halves (an F16 checkpoint's, kept at its precision) against the same values in FP32: same bits
  std::vector<uint16_t> half(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    word[i] = std::ldexp(std::nearbyint(word[i] * 1024.f), -10);  // |w| <= 1 in 11 significant bits: a half
    cpu::float_to_half_exact(word[i], &half[i]);
  }
  std::vector<float> out16(out.size(), NAN);
  k.embed_layernorm(g, pool, 0);
  g.word = nullptr, g.word_half = half.data(), g.out = out16.data();
  k.embed_layernorm(g, pool, 0);
  std::snprintf(name, sizeof name, "%s embed_layernorm tokens=%d h=%d types=%d: a half word table gives the FP32 table's bits", k.name, tokens, h, with_types);
  th::check(std::memcmp(out.data(), out16.data(), sizeof(float) * out.size()) == 0, name);
}

bool same_rows(const cpu::QuantRows& x, const cpu::QuantRows& y) {
  return x.m == y.m && x.kpad == y.kpad && std::memcmp(x.data.data(), y.data.data(), y.data.size()) == 0 &&
         std::memcmp(x.scale.data(), y.scale.data(), sizeof(float) * y.m) == 0 &&
         std::memcmp(x.zero.data(), y.zero.data(), sizeof(int32_t) * y.m) == 0;
}

bool same_rows(const cpu::Bf16Rows& x, const cpu::Bf16Rows& y) {
  return x.m == y.m && x.k == y.k && x.kpad == y.kpad &&
         std::memcmp(x.data.data(), y.data.data(), sizeof(uint16_t) * size_t(y.m) * y.kpad) == 0;
}

// The GEMM's GELU epilogue over a dense sweep of pre-activations in [-12, 12] (a k = 1 GEMM against the weight 1).
// erf form: GELU = x/2 + |x| (Phi(|x|) - 1/2) with the polynomial table within 3.8e-8 of Phi - 1/2 (tools/fit_gelu.py,
// float32 evaluation), so |x| * 3.8e-8, plus the last step's rounding (2^-24 |GELU| <= 6e-8 |x|; the portable path
// rounds the product and the sum apart, up to twice that): bound 1.5e-7 |x| + 1e-7.
// tanh form (gelu_new), against float64 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))): exp_neg's relative error
// (2e-7) in e = exp(-2|u|) moves tanh = (1 - e)/(1 + e) by at most 2e-7 * 2e/(1+e)^2 <= 1e-7, times |x|/2, plus the
// roundings of the quotient and the last fused step (~2^-24 each, relative): bound 2e-7 |x| + 1e-7.
// The epilogue's activation act of m pre-activations evenly spaced over [lo, hi] (in a), through a k = 1 GEMM against the
// weight 1 (in c).
void epilogue_sweep(const cpu::Kernels& k, ThreadPool& pool, cpu::Act act, float lo, float hi, int m, std::vector<float>& a,
                    std::vector<float>& c) {
  std::vector<float> w{1.f};
  a.resize(m), c.assign(m, NAN);
  for (int i = 0; i < m; ++i) a[i] = lo + (hi - lo) * float(i) / float(m - 1);
  cpu::PackedMatrix pw;
  k.pack_weights(w.data(), 1, 1, &pw);
  cpu::GemmArgs g;
  g.a = a.data(), g.lda = 1, g.w = &pw, g.act = act, g.c = c.data(), g.ldc = 1, g.m = m;
  k.gemm(g, pool, 0);
}

void test_gelu_sweep(const cpu::Kernels& k, ThreadPool& pool, bool tanh_form) {
  const int m = 24001;
  std::vector<float> a, c;
  epilogue_sweep(k, pool, tanh_form ? cpu::Act::kGeluTanh : cpu::Act::kGelu, -12.f, 12.f, m, a, c);
  double worst = 0;  // in units of the bound
  for (int i = 0; i < m; ++i) {
    const double x = a[i];
    const double want = tanh_form ? 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))) : gelu64(x);
    const double bound = (tanh_form ? 2e-7 : 1.5e-7) * std::fabs(x) + 1e-7;
    worst = std::max(worst, std::isnan(c[i]) ? INFINITY : std::fabs(c[i] - want) / bound);
  }
  th::check(worst <= 1.0, std::string(k.name) + (tanh_form ? " tanh-GELU" : " GELU") + " epilogue over [-12, 12] within its bound of " +
                              (tanh_form ? "float64 (worst " : "erf's GELU (worst ") + std::to_string(worst) + " of the bound)");
}

// The SiLU epilogue (NomicBERT's SwiGLU gate) over [-30, 30] against float64 x / (1 + exp(-x)): two exp_neg values
// (relative error 2e-7 each), the quotient and the product (2^-24 each, relative): bound 6e-7 |SiLU(x)| + 1e-30,
// relative for either sign (large negative x included, where SiLU(x) ~ x e^x is tiny).
void test_silu_sweep(const cpu::Kernels& k, ThreadPool& pool) {
  const int m = 30001;
  std::vector<float> a, c;
  epilogue_sweep(k, pool, cpu::Act::kSilu, -30.f, 30.f, m, a, c);
  double worst = 0;
  for (int i = 0; i < m; ++i) {
    const double x = a[i], want = x / (1.0 + std::exp(-x));
    worst = std::max(worst, std::isnan(c[i]) ? INFINITY : std::fabs(c[i] - want) / (6e-7 * std::fabs(want) + 1e-30));
  }
  th::check(worst <= 1.0, std::string(k.name) + " SiLU epilogue over [-30, 30] within 6e-7 relative of float64 (worst " +
                              std::to_string(worst) + " of the bound)");
}

// INT8: exact sums against an int64 reference built from the same quantized values.
struct S8Case {
  std::vector<int32_t> raw;
  std::vector<float> out;
  std::vector<float> gelu_res;  // with the GELU and a residual in the epilogue
};

S8Case run_s8(const cpu::Kernels& k, ThreadPool& pool, const std::vector<float>& a, const std::vector<float>& w,
              const std::vector<float>& bias, const std::vector<float>& res, int m, int n, int kk, cpu::QuantRows* qa_out) {
  cpu::QuantMatrix qw;
  k.pack_weights_s8(w.data(), n, kk, &qw);
  cpu::QuantRows qa;
  k.quantize_rows(a.data(), m, kk, kk, nullptr, &qa, pool, 0);
  S8Case r;
  r.raw.assign(size_t(m) * n, 0x7fffffff);
  r.out.assign(size_t(m) * n, NAN);
  cpu::GemmS8Args g;
  g.a = &qa, g.w = &qw, g.raw = r.raw.data();
  k.gemm_s8(g, pool, 0);
  g.raw = nullptr, g.bias = bias.data(), g.c = r.out.data(), g.ldc = n;
  k.gemm_s8(g, pool, 0);
  r.gelu_res.assign(size_t(m) * n, NAN);
  g.act = cpu::Act::kGelu, g.residual = res.data(), g.ldr = n, g.c = r.gelu_res.data();
  k.gemm_s8(g, pool, 0);
  if (qa_out) {
    qa_out->m = qa.m, qa_out->k = qa.k, qa_out->kpad = qa.kpad;
    qa_out->data.resize(qa.data.size());
    std::memcpy(qa_out->data.data(), qa.data.data(), qa.data.size());
    qa_out->scale.resize(m);
    std::memcpy(qa_out->scale.data(), qa.scale.data(), sizeof(float) * m);
    qa_out->zero.resize(m);
    std::memcpy(qa_out->zero.data(), qa.zero.data(), sizeof(int32_t) * m);
  }
  return r;
}

void test_s8(ThreadPool& pool, int m, int n, int kk, int mode, uint64_t seed) {
  th::Rng rng(seed);
  std::vector<float> a(size_t(m) * kk), w(size_t(n) * kk), bias(n), res(size_t(m) * n);
  rng.fill(a, -3.f, 3.f); rng.fill(w, -0.2f, 0.2f); rng.fill(bias); rng.fill(res);
  if (mode == 1) {  // extremes: a row of zeros, a row at +max, a row at -max, weight rows at the clamp
    for (int i = 0; i < kk; ++i) a[i] = 0.f;
    if (m > 1) for (int i = 0; i < kk; ++i) a[size_t(kk) + i] = 5.f;
    if (m > 2) for (int i = 0; i < kk; ++i) a[2 * size_t(kk) + i] = -5.f;
    for (int i = 0; i < kk; ++i) w[i] = (i % 2) ? 1.f : -1.f;
    if (n > 1) for (int i = 0; i < kk; ++i) w[size_t(kk) + i] = 0.f;
  }
  std::vector<int8_t> qw(size_t(n) * kk);
  std::vector<float> sw(n);
  cpu::quantize_weight_rows(w.data(), n, kk, qw.data(), sw.data());
  std::vector<S8Case> results;
  std::vector<std::string> names;
  cpu::QuantRows qa;
  for (const std::string& isa : cpu::runnable_s8_isas()) {
    results.push_back(run_s8(*cpu::kernels_for(isa), pool, a, w, bias, res, m, n, kk, results.empty() ? &qa : nullptr));
    names.push_back(isa);
  }
  // int64 reference from the quantized values: sum (qa - zero) * qw
  std::vector<int32_t> want(size_t(m) * n);
  std::vector<double> want_f(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int p = 0; p < kk; ++p) s += int64_t(int(qa.data.data()[size_t(i) * qa.kpad + p]) - qa.zero.data()[i]) * qw[size_t(j) * kk + p];
      want[size_t(i) * n + j] = int32_t(s);
      want_f[size_t(i) * n + j] = double(s) * qa.scale.data()[i] * sw[j] + bias[j];
    }
  char base[96];
  std::snprintf(base, sizeof base, "s8 m=%d n=%d k=%d mode=%d", m, n, kk, mode);
  // with GELU and a residual: float64's GELU of the same sums, plus the residual (the same 1e-6 bound; the GELU's
  // approximation adds <= 3.8e-8 |x|). Where every panel is whole (n a multiple of 32), the same bits on every vector
  // path: AVX-512 applies a whole panel's epilogue from values loaded once per task, the others row by row, in the
  // same order of operations. (A partial panel goes through a padded copy whose multiply and add the compiler may
  // fuse differently, and the portable path has no FMA: those are held to the float64 bound only.)
  std::vector<double> want_g(want_f.size());
  for (size_t i = 0; i < want_f.size(); ++i) want_g[i] = gelu64(want_f[i]) + res[i];
  for (size_t r = 0; r < results.size(); ++r) {
    th::check(results[r].raw == want, names[r] + " " + base + ": exact int32 sums");
    double e = th::norm_err(results[r].out.data(), want_f);
    th::check(e <= 1e-6, names[r] + " " + base + " float epilogue err=" + std::to_string(e));
    e = th::norm_err(results[r].gelu_res.data(), want_g);
    th::check(e <= 1e-6, names[r] + " " + base + " GELU + residual epilogue err=" + std::to_string(e));
    if (r > 0 && n % 32 == 0 && names[r] != "generic")
      th::check(std::memcmp(results[r].gelu_res.data(), results[0].gelu_res.data(), sizeof(float) * want_g.size()) == 0,
                names[r] + " " + base + ": GELU + residual epilogue bit-identical to " + names[0]);
  }
  // quantization: every value within half a step of the original (one step at the ends of the u8 range, where the
  // rounded zero point can push the extreme value one past 255), integers identical on every path
  double worst = 0, worst_end = 0;
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < kk; ++p) {
      const int q = qa.data.data()[size_t(i) * qa.kpad + p];
      double deq = (q - qa.zero.data()[i]) * double(qa.scale.data()[i]);
      double err = std::fabs(deq - a[size_t(i) * kk + p]) / (qa.scale.data()[i] > 0 ? qa.scale.data()[i] : 1.0);
      (q == 0 || q == 255 ? worst_end : worst) = std::max(q == 0 || q == 255 ? worst_end : worst, err);
    }
  th::check(worst <= 0.5 + 1e-4 && worst_end <= 1.0 + 1e-4,
            std::string(base) + ": activation round trip within half a quantization step (" + std::to_string(worst) + ", ends " +
                std::to_string(worst_end) + ")");
  for (const std::string& isa : cpu::runnable_s8_isas()) {
    cpu::QuantRows q2;
    cpu::kernels_for(isa)->quantize_rows(a.data(), m, kk, kk, nullptr, &q2, pool, 0);
    th::check(same_rows(q2, qa), isa + " " + base + ": quantized activations identical to the first path");
  }
  // per-column factors (INT8 smoothing): the same integers and scales as quantizing the rows multiplied by them
  std::vector<float> f(kk), scaled(a.size());
  rng.fill(f, 0.05f, 8.f);
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < kk; ++p) scaled[size_t(i) * kk + p] = a[size_t(i) * kk + p] * f[p];
  for (const std::string& isa : cpu::runnable_s8_isas()) {
    cpu::QuantRows qs, qr;
    cpu::kernels_for(isa)->quantize_rows(a.data(), m, kk, kk, f.data(), &qs, pool, 0);
    cpu::kernels_for(isa)->quantize_rows(scaled.data(), m, kk, kk, nullptr, &qr, pool, 0);
    th::check(same_rows(qs, qr), isa + " " + base + ": with column factors = the rows multiplied by them, quantized");
  }
}

// The fused LayerNorm + quantize gives exactly what LayerNorm then quantize_rows give, on every INT8 path.
void test_layernorm_quantize(ThreadPool& pool, int rows, int h, uint64_t seed) {
  th::Rng rng(seed);
  std::vector<float> x(size_t(rows) * h), g(h), b(h);
  rng.fill(x, -4, 4), rng.fill(g, 0.5f, 1.5f), rng.fill(b, -0.3f, 0.3f);
  char base[64];
  std::snprintf(base, sizeof base, "layernorm_quantize rows=%d h=%d", rows, h);
  std::vector<float> f(h);
  rng.fill(f, 0.05f, 8.f);
  for (const std::string& isa : cpu::runnable_s8_isas())
    for (const float* cs : {static_cast<const float*>(nullptr), static_cast<const float*>(f.data())}) {
      const cpu::Kernels* k = cpu::kernels_for(isa);
      std::vector<float> fused = x, plain = x;
      cpu::QuantRows qf, qp;
      k->layernorm_quantize(fused.data(), g.data(), b.data(), rows, h, 1e-12f, cs, &qf, 0, pool, 0);
      k->add_layernorm(plain.data(), nullptr, g.data(), b.data(), rows, h, 1e-12f, pool, 0);
      k->quantize_rows(plain.data(), rows, h, h, cs, &qp, pool, 0);
      th::check(fused == plain && same_rows(qf, qp),
                isa + " " + base + (cs ? " with column factors" : "") +
                    ": same FP32 rows and the same integers and scales as LayerNorm then quantize_rows");
      // in two parts, the second into rows past the first of an already-sized output (as the engine's row groups do)
      std::vector<float> parts = x;
      cpu::QuantRows qh;
      k->quantize_rows(plain.data(), rows, h, h, nullptr, &qh, pool, 0);  // sizes qh to all rows; overwritten below
      const int r1 = rows / 2;
      k->layernorm_quantize(parts.data(), g.data(), b.data(), r1, h, 1e-12f, cs, &qh, 0, pool, 0);
      k->layernorm_quantize(parts.data() + size_t(r1) * h, g.data(), b.data(), rows - r1, h, 1e-12f, cs, &qh, r1, pool, 0);
      th::check(parts == fused && same_rows(qh, qf), isa + " " + base + (cs ? " with column factors" : "") +
                                                         ": written in two parts at row offsets, the same rows");
    }
}

// The fused LayerNorm + bfloat16 rounding gives exactly what LayerNorm then convert_rows_bf16 give, also written in two
// parts at row offsets of an already-sized output (as the engine's row groups write the next layer's input).
void test_layernorm_bf16(const cpu::Kernels& kb, ThreadPool& pool, int rows, int h, uint64_t seed) {
  th::Rng rng(seed);
  std::vector<float> x(size_t(rows) * h), g(h), b(h);
  rng.fill(x, -4, 4), rng.fill(g, 0.5f, 1.5f), rng.fill(b, -0.3f, 0.3f);
  char base[64];
  std::snprintf(base, sizeof base, "layernorm_bf16 rows=%d h=%d", rows, h);
  std::vector<float> fused = x, plain = x, parts = x;
  cpu::Bf16Rows bf, bp, bh;
  kb.layernorm_bf16(fused.data(), g.data(), b.data(), rows, h, 1e-12f, &bf, 0, pool, 0);
  kb.add_layernorm(plain.data(), nullptr, g.data(), b.data(), rows, h, 1e-12f, pool, 0);
  kb.convert_rows_bf16(plain.data(), rows, h, h, &bp, pool, 0);
  th::check(fused == plain && same_rows(bf, bp), std::string(base) + ": same FP32 rows and bfloat16 bits as LayerNorm then convert_rows_bf16");
  kb.convert_rows_bf16(x.data(), rows, h, h, &bh, pool, 0);  // sizes bh to all rows; overwritten below
  const int r1 = rows / 2;
  kb.layernorm_bf16(parts.data(), g.data(), b.data(), r1, h, 1e-12f, &bh, 0, pool, 0);
  kb.layernorm_bf16(parts.data() + size_t(r1) * h, g.data(), b.data(), rows - r1, h, 1e-12f, &bh, r1, pool, 0);
  th::check(parts == fused && same_rows(bh, bf), std::string(base) + ": written in two parts at row offsets, the same rows");
}

void test_bf16(const cpu::Kernels* k, ThreadPool& pool, int m, int n, int kk, bool gelu, uint64_t seed) {
  th::Rng rng(seed);
  std::vector<float> a(size_t(m) * kk), w(size_t(n) * kk), b(n), r(size_t(m) * n), c(size_t(m) * n, NAN);
  rng.fill(a); rng.fill(w); rng.fill(b); rng.fill(r);
  for (auto& x : w) x *= 1.7f / std::sqrt(float(kk));
  cpu::Bf16Matrix bw;
  k->pack_weights_bf16(w.data(), n, kk, &bw);
  cpu::Bf16Rows ba;
  k->convert_rows_bf16(a.data(), m, kk, kk, &ba, pool, 0);
  // hardware conversion (blocks of 32) and the scalar one (tails, weights) must agree bit for bit
  bool same = true;
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < kk; ++p) same &= ba.data.data()[size_t(i) * ba.kpad + p] == cpu::float_to_bf16(a[size_t(i) * kk + p]);
  cpu::GemmBf16Args g;
  g.a = &ba, g.w = &bw, g.bias = b.data(), g.act = gelu ? cpu::Act::kGelu : cpu::Act::kNone, g.residual = r.data(), g.ldr = n, g.c = c.data(), g.ldc = n;
  k->gemm_bf16(g, pool, 0);
  std::vector<double> want(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < kk; ++p) s += bf16_value(a[size_t(i) * kk + p]) * bf16_value(w[size_t(j) * kk + p]);
      s += b[j];
      if (gelu) s = gelu64(s);
      want[size_t(i) * n + j] = s + r[size_t(i) * n + j];
    }
  double e = th::norm_err(c.data(), want);
  char name[128];
  std::snprintf(name, sizeof name, "%s bf16 gemm m=%d n=%d k=%d gelu=%d err=%.2e", k->name, m, n, kk, gelu, e);
  th::check(same, std::string(name) + ": hardware and software rounding agree");
  th::check(e <= kGemmTol, name);
  // the output written in bfloat16 (c_bf16, for the next GEMM): the bits of the floats above through convert_rows_bf16
  // (full panels by vector, partial ones by float_to_bf16); c untouched
  if (n % 2 == 0) {
    cpu::Bf16Rows direct, converted;
    cpu::size_bf16_rows(&direct, m, n);
    k->convert_rows_bf16(c.data(), m, n, n, &converted, pool, 0);
    std::vector<float> c2(c.size(), -7.f);
    g.c = c2.data(), g.c_bf16 = &direct;
    k->gemm_bf16(g, pool, 0);
    const bool untouched = std::all_of(c2.begin(), c2.end(), [](float x) { return x == -7.f; });
    th::check(untouched && std::memcmp(direct.data.data(), converted.data.data(), sizeof(uint16_t) * size_t(m) * n) == 0,
              std::string(name) + ": written in bfloat16, the bits of its floats converted");
  }
}

// bfloat16 conversion: the vector path (vcvtneps2bf16, blocks of 32 in convert_rows_bf16) and float_to_bf16 (the
// rows' tails, the weights) give the same bits for every kind of float: denormals (zeros of their sign, as the
// instruction treats them), signed zeros, infinities, NaN, rounding ties both ways, the largest float (to infinity).
void test_bf16_conversion(const cpu::Kernels& kb, ThreadPool& pool) {
  auto bits = [](uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; };
  std::vector<float> x = {bits(0x00000001), bits(0x80000001), bits(0x007fffff), bits(0x807fffff), bits(0x00400000), 0.f, -0.f,
                          INFINITY, -INFINITY, NAN, bits(0x7fa00000), bits(0x3f808000), bits(0x3f818000), bits(0x3f808001),
                          bits(0x3f817fff), bits(0x7f7fffff), bits(0xff7fffff), bits(0x00800000), bits(0x80800000), 1.f, -2.5f,
                          bits(0x3f7fffff), bits(0x477fe000), 1e-30f};
  th::Rng rng(99);
  while (x.size() < 64) x.push_back(rng.uniform(-4.f, 4.f));
  cpu::Bf16Rows r;
  kb.convert_rows_bf16(x.data(), 1, 64, 64, &r, pool, 0);
  int wrong = 0;
  for (int i = 0; i < 64; ++i) wrong += r.data.data()[i] != cpu::float_to_bf16(x[i]);
  th::check(wrong == 0, std::string(kb.name) + " bf16 conversion: the vector path and float_to_bf16 agree on denormals, zeros, "
                        "infinities, NaN, ties and the largest float (" + std::to_string(wrong) + " differ)");
}

// The pool runs every task exactly once, whatever the thread and task counts (shares of 0, 1 or many tasks, and
// tasks of very different lengths, so threads finish their own share early and take the others').
void test_thread_pool() {
  for (int threads : {1, 2, 3, 5})
    for (int max_threads : {0, 1, 2})
      for (int64_t n : {1, 2, 3, 7, 64, 1001}) {
        ThreadPool pool(threads);
        std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
        for (int rep = 0; rep < 3; ++rep)
          pool.parallel_for(
              n,
              [&](int64_t t, int ith) {
                if (ith == 0 && t % 5 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
                runs[static_cast<size_t>(t)].fetch_add(1);
              },
              max_threads);
        bool ok = true;
        for (auto& r : runs) ok = ok && r.load() == 3;
        th::check(ok, "thread pool: threads=" + std::to_string(threads) + " max_threads=" + std::to_string(max_threads) +
                          " tasks=" + std::to_string(n) + ": each task ran once per call");
      }
  // Back-to-back calls on more threads than cores: most calls end before a sleeping or preempted worker wakes, so
  // late workers must join nothing stale, and a worker that holds a task (sleeping inside it) must be waited for.
  {
    ThreadPool pool(4);
    std::vector<int64_t> out(64, -1);
    bool ok = true;
    for (int rep = 0; rep < 20000 && ok; ++rep) {
      const int64_t n = 1 + rep % 64;
      pool.parallel_for(n, [&](int64_t t, int ith) {
        if (ith != 0 && rep % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(30));
        out[static_cast<size_t>(t)] = rep * 64 + t;
      });
      for (int64_t t = 0; t < n; ++t) ok = ok && out[static_cast<size_t>(t)] == rep * 64 + t;
    }
    th::check(ok, "thread pool: 20,000 back-to-back calls on 4 threads, each task's write seen by the caller");
  }
  // A worker that holds a task for far longer than the caller's tasks (as a descheduled one does) makes the next calls
  // run on the caller alone, every task once; once the span (5 ms after a first stall) has passed, workers take
  // tasks again.
  {
    ThreadPool pool(2);
    bool stalled = false;
    for (int attempt = 0; attempt < 200 && !stalled; ++attempt) {
      std::atomic<bool> worker_in{false};
      pool.parallel_for(2, [&](int64_t, int ith) {
        if (ith != 0) {
          worker_in.store(true);
          std::this_thread::sleep_for(std::chrono::milliseconds(3));
        } else {  // the caller's task lasts until the worker holds the other one (or 100 us)
          const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
          while (!worker_in.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        }
      });
      stalled = pool.stalls() > 0;
    }
    th::check(stalled && pool.stalls() == 1 && pool.solo(), "thread pool: a worker holding a task 3 ms is a stall");
    std::vector<std::atomic<int>> runs(256);
    std::atomic<int> on_worker{0};
    pool.parallel_for(256, [&](int64_t t, int ith) {
      runs[static_cast<size_t>(t)].fetch_add(1);
      if (ith != 0) on_worker.fetch_add(1);
    });
    bool once = true;
    for (auto& r : runs) once = once && r.load() == 1;
    th::check(once && on_worker.load() == 0, "thread pool: after a stall the caller runs every task alone, each once");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    th::check(!pool.solo(), "thread pool: the span after a first stall ends within 20 ms");
    std::atomic<int> worker_ran{0};
    for (int attempt = 0; attempt < 2000 && worker_ran.load() == 0; ++attempt)
      pool.parallel_for(64, [&](int64_t, int ith) {
        if (ith != 0) worker_ran.fetch_add(1);
        else std::this_thread::sleep_for(std::chrono::microseconds(5));
      });
    th::check(worker_ran.load() > 0, "thread pool: workers take tasks again after the span");
  }
}

// Default threads: no more than the cgroup's CPU quota, rounded up (a cpu.max-format file stands in for the cgroup).
void test_usable_cpus() {
  const int physical = physical_core_count();
  const char* file = "/tmp/bertrt-test-cpu.max";
  auto with = [&](const char* text) {
    FILE* f = std::fopen(file, "w");
    std::fputs(text, f);
    std::fclose(f);
    setenv("BERTRT_CPU_QUOTA_FILE", file, 1);
    const int n = usable_cpu_count();
    unsetenv("BERTRT_CPU_QUOTA_FILE");
    return n;
  };
  th::check(with("50000 100000\n") == 1, "usable cpus: a quota of half a CPU runs 1 thread");
  th::check(with("150000 100000\n") == std::min(physical, 2), "usable cpus: 1.5 CPUs round up to 2 (at most the cores)");
  th::check(with("max 100000\n") == physical, "usable cpus: no quota, every physical core");
  std::remove(file);
  th::check(usable_cpu_count() >= 1 && usable_cpu_count() <= physical, "usable cpus: the real cgroup gives 1..cores");
}

}  // namespace

int main() {
  // the AMX INT8 table is opt-in; test it wherever the CPU and the OS allow it (its sums must equal every other path's)
  setenv("BERTRT_AMX", "1", 0);
  test_thread_pool();
  test_usable_cpus();
  test_half_conversions();
  ThreadPool pool(2);
  for (const std::string& isa : cpu::runnable_isas()) {
    const cpu::Kernels& k = *cpu::kernels_for(isa);
    std::printf("ISA %s\n", k.name);
    uint64_t seed = 1;
    const int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 384, 384}, {1, 1152, 384}, {33, 1536, 384}, {7, 384, 1536},
                             {100, 33, 300}, {97, 40, 257}, {128, 384, 1536}, {5, 3, 1536}};
    for (auto& s : shapes)
      for (int mode = 0; mode < 4; ++mode)
        test_gemm(k, pool, s[0], s[1], s[2], mode >= 1, mode == 2 || mode == 3, mode == 3, seed++);
    const int f16shapes[][3] = {{1, 1, 1}, {1, 384, 384}, {7, 1536, 384}, {8, 33, 257}, {9, 384, 1536}, {20, 100, 300}, {45, 64, 520}, {100, 40, 300}, {200, 1152, 384},
                                 {300, 100, 300}, {257, 33, 520}};
    for (auto& s : f16shapes) test_gemm_f16(k, pool, s[0], s[1], s[2], seed++);
    test_gelu_sweep(k, pool, false);
    test_gelu_sweep(k, pool, true);
    test_silu_sweep(k, pool);
    test_attention(k, pool, {1}, 1, 32, seed++);
    test_attention(k, pool, {3, 17, 1, 64}, 3, 32, seed++);
    test_attention(k, pool, {129, 5}, 2, 64, seed++);
    test_attention(k, pool, {17, 33}, 2, 24, seed++);
    test_attention(k, pool, {7}, 4, 5, seed++);
    test_attention(k, pool, {256}, 12, 32, seed++);
    test_attention(k, pool, {0, 4, 0}, 2, 32, seed++);
    // sliding windows: keys restricted to the tile's window (edges, a window wider than the sequence, odd sizes)
    test_attention(k, pool, {300, 17, 64}, 2, 32, seed++, false, 8);
    test_attention(k, pool, {513}, 3, 64, seed++, false, 64);
    test_attention(k, pool, {40, 9}, 2, 24, seed++, false, 100);
    test_attention(k, pool, {77}, 1, 5, seed++, false, 1);
    for (int h : {384, 17, 1, 768}) {
      test_layernorm(k, pool, 37, h, false, seed++);
      test_layernorm(k, pool, 5, h, true, seed++);
      test_embed(k, pool, 21, h, true, seed++);
      test_embed(k, pool, 3, h, false, seed++);
    }
  }
  std::printf("INT8 paths:");
  for (const std::string& isa : cpu::runnable_s8_isas()) std::printf(" %s", isa.c_str());
  std::printf("\n");
  uint64_t seed = 1000;
  const int s8shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 384, 384}, {9, 33, 7}, {64, 1536, 384}, {65, 384, 1536}, {7, 40, 257}, {100, 64, 3072}, {40, 50, 128}, {33, 32, 64}};
  for (auto& sh : s8shapes)
    for (int mode = 0; mode < 2; ++mode) test_s8(pool, sh[0], sh[1], sh[2], mode, seed++);
  for (int h : {1, 7, 384, 1000}) test_layernorm_quantize(pool, 13, h, seed++);
  if (cpu::kernels_bf16()) {
    const cpu::Kernels& kb = *cpu::kernels_bf16();
    test_bf16_conversion(kb, pool);
    for (int rows : {1, 13, 40, 97})
      for (int h : {1, 7, 384, 1000}) test_layernorm_bf16(kb, pool, rows, h, seed++);
    test_attention(kb, pool, {1}, 1, 32, seed++, true);
    test_attention(kb, pool, {3, 17, 1, 64}, 3, 32, seed++, true);
    test_attention(kb, pool, {129, 5}, 2, 64, seed++, true);
    test_attention(kb, pool, {17, 33}, 2, 24, seed++, true);
    test_attention(kb, pool, {7}, 4, 5, seed++, true);  // odd head size: the FP32 kernel takes over
    test_attention(kb, pool, {9, 4}, 1, 5, seed++, true);  // ... and an odd row width (bfloat16 rows with a pad column)
    test_attention(kb, pool, {18, 10, 7, 2}, 3, 32, seed++, true);  // 2 or 3 last rows: a 4-row tile, partly unused
    test_attention(kb, pool, {256, 31, 32, 33}, 12, 32, seed++, true);
    test_attention(kb, pool, {0, 4, 0}, 2, 32, seed++, true);
    test_attention(kb, pool, {100}, 1, 128, seed++, true);
    // sliding windows: keys restricted to the tile's window in 32-key blocks (edges, a window wider than the sequence,
    // windows that end inside a block, one-key windows)
    test_attention(kb, pool, {300, 17, 64}, 2, 32, seed++, true, 8);
    test_attention(kb, pool, {513}, 3, 64, seed++, true, 64);
    test_attention(kb, pool, {40, 9}, 2, 24, seed++, true, 100);
    test_attention(kb, pool, {200, 95}, 2, 32, seed++, true, 33);
    test_attention(kb, pool, {77}, 1, 16, seed++, true, 1);
    test_attention(kb, pool, {46, 19}, 2, 32, seed++, true, 5);
    // (AMX: blocks of 32 rows where K is a multiple of 32, with the rows past them and other widths on vdpbf16ps)
    const int bshapes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 384, 384}, {9, 33, 7}, {100, 1536, 384}, {65, 384, 1536}, {7, 40, 257},
                              {32, 32, 32}, {128, 40, 64}, {161, 1152, 384}, {300, 384, 96}, {64, 33, 257}};
    std::printf("BF16 paths:");
    for (const std::string& isa : cpu::runnable_bf16_isas()) std::printf(" %s", isa.c_str());
    std::printf("\n");
    for (const std::string& isa : cpu::runnable_bf16_isas())
      for (auto& sh : bshapes)
        for (int gl = 0; gl < 2; ++gl) test_bf16(isa == "amx" ? cpu::kernels_bf16(true) : cpu::kernels_for(isa), pool, sh[0], sh[1], sh[2], gl == 1, seed++);
  } else {
    std::printf("SKIP bf16 kernels: this CPU has no AVX512-BF16\n");
  }
  return th::finish();
}
