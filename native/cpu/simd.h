// Vector traits: each kernel in this folder is written once as a template over one of these structs and
// instantiated in one translation unit per ISA (kernels_<isa>.cc, which enables its ISA with a target pragma and
// defines BERTRT_SIMD_<ISA> before including this). A new ISA
// (NEON, say) is a new traits struct plus one .cc file. The math helpers at the bottom (exp, GELU) are built
// from the traits' primitives, so every path evaluates the same polynomial.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace bertrt::simd {

// IEEE binary16 bits -> float, exactly (what F16C's vcvtph2ps computes), for the portable path.
inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t u = sign;
  if (exp == 0x1f) {
    u |= 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    u |= ((exp + 112) << 23) | (man << 13);
  } else if (man != 0) {  // subnormal: man * 2^-24
    const float f = static_cast<float>(man) * 5.9604644775390625e-8f;  // 2^-24: exact (man < 2^11)
    std::memcpy(&u, &f, sizeof u);
    u |= sign;
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Portable fallback: 8 lanes in a plain array; GCC/Clang vectorise the loops with the baseline ISA.
struct Generic {
  static constexpr int W = 8;
  struct reg {
    float v[W];
  };
  static inline reg zero() { reg r; for (int i = 0; i < W; ++i) r.v[i] = 0.f; return r; }
  static inline reg set1(float x) { reg r; for (int i = 0; i < W; ++i) r.v[i] = x; return r; }
  static inline reg load(const float* p) { reg r; std::memcpy(r.v, p, sizeof r.v); return r; }
  static inline reg loadu(const float* p) { return load(p); }
  // W IEEE halves widened (exactly) to floats
  static inline reg load_half(const uint16_t* p) { reg r; for (int i = 0; i < W; ++i) r.v[i] = half_bits_to_float(p[i]); return r; }
  static inline void store(float* p, reg a) { std::memcpy(p, a.v, sizeof a.v); }
  static inline void storeu(float* p, reg a) { store(p, a); }
#define BERTRT_G_BIN(name, expr) \
  static inline reg name(reg a, reg b) { reg r; for (int i = 0; i < W; ++i) { float x = a.v[i], y = b.v[i]; r.v[i] = (expr); } return r; }
  BERTRT_G_BIN(add, x + y)
  BERTRT_G_BIN(sub, x - y)
  BERTRT_G_BIN(mul, x * y)
  BERTRT_G_BIN(div, x / y)
  BERTRT_G_BIN(max, x > y ? x : y)
  BERTRT_G_BIN(min, x < y ? x : y)
#undef BERTRT_G_BIN
  // a*b+c, not std::fma: without hardware FMA in the baseline ISA, std::fma is a slow libm call.
  static inline reg fmadd(reg a, reg b, reg c) { reg r; for (int i = 0; i < W; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i]; return r; }
  static inline reg abs(reg a) { reg r; for (int i = 0; i < W; ++i) r.v[i] = std::fabs(a.v[i]); return r; }
  static inline reg round(reg a) { reg r; for (int i = 0; i < W; ++i) r.v[i] = std::nearbyint(a.v[i]); return r; }
  static inline reg trunc(reg a) { reg r; for (int i = 0; i < W; ++i) r.v[i] = std::trunc(a.v[i]); return r; }
  // table[idx[i]] for lanes holding whole numbers in [0, 15]
  static inline reg lookup16(const float* table, reg idx) { reg r; for (int i = 0; i < W; ++i) r.v[i] = table[static_cast<int>(idx.v[i])]; return r; }
  // a * 2^n for integral n in [-126, 127]
  static inline reg ldexp(reg a, reg n) { reg r; for (int i = 0; i < W; ++i) r.v[i] = std::ldexp(a.v[i], static_cast<int>(n.v[i])); return r; }
  static inline float reduce_add(reg a) { float s = 0.f; for (int i = 0; i < W; ++i) s += a.v[i]; return s; }
  // float(a[i] - z * b[i]) for W int32 lanes (the INT8 GEMM epilogue: sums minus zero point times weight sums)
  static inline reg cvt_sub_i32(const int32_t* a, int32_t z, const int32_t* b) { reg r; for (int i = 0; i < W; ++i) r.v[i] = static_cast<float>(a[i] - z * b[i]); return r; }
  static inline float reduce_max(reg a) { float s = a.v[0]; for (int i = 1; i < W; ++i) s = s > a.v[i] ? s : a.v[i]; return s; }
  // W lanes that hold whole numbers in [0, 255] (already rounded and clamped), stored as bytes
  static inline void store_u8(uint8_t* p, reg a) { for (int i = 0; i < W; ++i) p[i] = static_cast<uint8_t>(static_cast<int>(a.v[i])); }
};

#if defined(BERTRT_SIMD_AVX2)
struct Avx2 {
  static constexpr int W = 8;
  using reg = __m256;
  static inline reg zero() { return _mm256_setzero_ps(); }
  static inline reg set1(float x) { return _mm256_set1_ps(x); }
  static inline reg load(const float* p) { return _mm256_load_ps(p); }
  static inline reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static inline reg load_half(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static inline void store(float* p, reg a) { _mm256_store_ps(p, a); }
  static inline void storeu(float* p, reg a) { _mm256_storeu_ps(p, a); }
  static inline reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static inline reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static inline reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static inline reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static inline reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static inline reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static inline reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
  static inline reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline reg trunc(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
  static inline reg lookup16(const float* table, reg idx) {  // two 8-entry permutes, picked by the index's bit 3
    const __m256i i = _mm256_cvttps_epi32(idx);
    const reg lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), i);
    const reg hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), i);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));
  }
  static inline reg ldexp(reg a, reg n) {
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(a, _mm256_castsi256_ps(e));
  }
  static inline reg cvt_sub_i32(const int32_t* a, int32_t z, const int32_t* b) {
    const __m256i zb = _mm256_mullo_epi32(_mm256_set1_epi32(z), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)), zb));
  }
  static inline float reduce_add(reg a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline float reduce_max(reg a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline void store_u8(uint8_t* p, reg a) {
    const __m256i i = _mm256_cvttps_epi32(a);
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(w, w));
  }
};
#endif

#if defined(BERTRT_SIMD_AVX512)
struct Avx512 {
  static constexpr int W = 16;
  using reg = __m512;
  static inline reg zero() { return _mm512_setzero_ps(); }
  static inline reg set1(float x) { return _mm512_set1_ps(x); }
  static inline reg load(const float* p) { return _mm512_load_ps(p); }
  static inline reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static inline reg load_half(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static inline void store(float* p, reg a) { _mm512_store_ps(p, a); }
  static inline void storeu(float* p, reg a) { _mm512_storeu_ps(p, a); }
  static inline reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static inline reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static inline reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static inline reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static inline reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static inline reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static inline reg abs(reg a) { return _mm512_abs_ps(a); }
  static inline reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline reg trunc(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
  static inline reg lookup16(const float* table, reg idx) { return _mm512_permutexvar_ps(_mm512_cvttps_epi32(idx), _mm512_loadu_ps(table)); }
  static inline reg ldexp(reg a, reg n) { return _mm512_scalef_ps(a, n); }
  static inline float reduce_add(reg a) { return _mm512_reduce_add_ps(a); }
  static inline reg cvt_sub_i32(const int32_t* a, int32_t z, const int32_t* b) {
    const __m512i zb = _mm512_mullo_epi32(_mm512_set1_epi32(z), _mm512_loadu_si512(b));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_loadu_si512(a), zb));
  }
  static inline float reduce_max(reg a) { return _mm512_reduce_max_ps(a); }
  static inline void store_u8(uint8_t* p, reg a) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(a)));
  }
};
#endif

// exp(x) for x <= 0 down to large negative (softmax arguments): 2^n * p(r), |r| <= ln2/2, degree-6 Taylor
// polynomial (relative error < 2e-7 on that interval). Inputs below -87 flush to 0.
template <class V>
inline typename V::reg exp_neg(typename V::reg x) {
  using R = typename V::reg;
  x = V::max(x, V::set1(-87.0f));
  R n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  // r = x - n*ln2 in two steps (Cody-Waite) so r keeps full precision
  R r = V::fmadd(n, V::set1(-0.693145751953125f), x);
  r = V::fmadd(n, V::set1(-1.428606765330187e-06f), r);
  R p = V::set1(1.f / 720.f);
  p = V::fmadd(p, r, V::set1(1.f / 120.f));
  p = V::fmadd(p, r, V::set1(1.f / 24.f));
  p = V::fmadd(p, r, V::set1(1.f / 6.f));
  p = V::fmadd(p, r, V::set1(0.5f));
  p = V::fmadd(p, r, V::set1(1.f));
  p = V::fmadd(p, r, V::set1(1.f));
  return V::ldexp(p, n);
}

// GELU with the exact erf form that BERT's "gelu" activation uses, x/2 * (1 + erf(x/sqrt(2))) = x/2 + |x| (Phi(|x|) - 1/2),
// with Phi(a) - 1/2 from a table of 16 degree-5 polynomials over [0, 5.6], pieces of width 0.35 (tools/fit_gelu.py
// fits them and prints this table): within 3.8e-8 of Phi - 1/2 in float32, no division and no exp. Past 5.6 the last
// piece's end value (1/2 - 1.1e-8) stands in, so GELU(x) = x for large x and |x| * 1.1e-8 for large negative x.
// kGeluPoly[k][i]: the coefficient of t^k in piece i, t = a - 0.35 i.
alignas(64) constexpr float kGeluPoly[6][16] = {
    {1.25243349e-09f, 0.136830658f, 0.258036345f, 0.35314095f, 0.419243336f, 0.459940851f, 0.482135564f, 0.492857188f,
     0.497444868f, 0.499183655f, 0.499767363f, 0.499940932f, 0.499986649f, 0.499997318f, 0.499999523f, 0.499999911f},
    {0.398942024f, 0.375239789f, 0.312253445f, 0.229882002f, 0.149727628f, 0.0862775743f, 0.0439837724f, 0.019837413f,
     0.00791543536f, 0.00279422267f, 0.000872655073f, 0.000241111833f, 5.89369447e-05f, 1.27452595e-05f,
     2.43837439e-06f, 4.12706697e-07f},
    {7.76282377e-06f, -0.0656482205f, -0.109272413f, -0.120683044f, -0.10481447f, -0.0755011812f, -0.0461887754f,
     -0.0243027862f, -0.0110811386f, -0.00439976668f, -0.0015262618f, -0.000463667238f, -0.000123570964f,
     -2.8928871e-05f, -5.95519214e-06f, -1.07885012e-06f},
    {-0.0665783286f, -0.0551064871f, -0.0267455522f, 0.00386027712f, 0.0240173098f, 0.0297617428f, 0.025072068f,
     0.0165655352f, 0.00901824981f, 0.00414082082f, 0.00162473496f, 0.00054922665f, 0.000160829673f, 4.09546192e-05f,
     9.09486607e-06f, 1.76516335e-06f},
    {0.000428551197f, 0.016980771f, 0.0240087416f, 0.0194940474f, 0.00877396576f, -0.00096484134f, -0.00585098658f,
     -0.00623643771f, -0.00444567064f, -0.00245952257f, -0.00111218914f, -0.000421442848f, -0.000135735478f,
     -3.74924493e-05f, -8.93603737e-06f, -1.84586747e-06f},
    {0.00915866997f, 0.00410381472f, -0.0022477638f, -0.00583964819f, -0.00548370508f, -0.00287052337f,
     -0.000333017146f, 0.000954952498f, 0.00111771771f, 0.000778193586f, 0.000406926236f, 0.000171250955f,
     5.98369261e-05f, 1.76593603e-05f, 4.44913621e-06f, 9.63784942e-07f},
};

template <class V>
inline typename V::reg gelu_erf(typename V::reg x) {
  using R = typename V::reg;
  constexpr float kWidth = 0.35f;
  const R a = V::min(V::abs(x), V::set1(16 * kWidth));
  const R i = V::min(V::trunc(V::mul(a, V::set1(1.f / kWidth))), V::set1(15.f));  // the piece
  const R t = V::fmadd(i, V::set1(-kWidth), a);
  R p = V::lookup16(kGeluPoly[5], i);
  for (int k = 4; k >= 0; --k) p = V::fmadd(p, t, V::lookup16(kGeluPoly[k], i));
  return V::fmadd(V::abs(x), p, V::mul(x, V::set1(0.5f)));
}

// GELU's tanh form (transformers' "gelu_new" and "gelu_pytorch_tanh", ALBERT's activation):
// x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). u has the sign of x, so x tanh(u) = |x| tanh(|u|), and
// tanh(|u|) = (1 - e) / (1 + e) with e = exp(-2|u|) <= 1 from exp_neg: no overflow, |error| < 1e-7.
template <class V>
inline typename V::reg gelu_tanh(typename V::reg x) {
  using R = typename V::reg;
  const R ax = V::abs(x);
  const R u = V::mul(V::mul(V::set1(0.7978845608028654f), ax), V::fmadd(V::set1(0.044715f), V::mul(x, x), V::set1(1.f)));
  const R e = exp_neg<V>(V::mul(V::set1(-2.f), u));
  const R t = V::div(V::sub(V::set1(1.f), e), V::add(V::set1(1.f), e));
  return V::fmadd(V::mul(V::set1(0.5f), ax), t, V::mul(V::set1(0.5f), x));
}

// SiLU, x sigmoid(x) (the gate of NomicBERT's SwiGLU): sigmoid(x) = exp(min(x, 0)) / (1 + exp(-|x|)), both exps of
// non-positive arguments (exp_neg: no overflow, exp_neg(0) = 1 exactly), so the relative error stays ~4e-7 for either
// sign, where x/2 (1 + tanh(x/2)) would cancel for large negative x.
template <class V>
inline typename V::reg silu(typename V::reg x) {
  const typename V::reg e = exp_neg<V>(V::sub(V::zero(), V::abs(x)));
  return V::mul(x, V::div(exp_neg<V>(V::min(x, V::zero())), V::add(V::set1(1.f), e)));
}

}  // namespace bertrt::simd
