// BF16 GEMM for AVX512-BF16 (vdpbf16ps: per FP32 lane, two bf16 products added to the sum), included by
// kernels_impl.h. Only the AVX-512 table fills these entries; dispatch hands them out only when cpuid reports
// AVX512-BF16. The epilogue (bias, GELU, residual) is the FP32 GEMM's.
#pragma once

namespace bertrt::cpu {
namespace {

#if defined(BERTRT_SIMD_AVX512)
constexpr int kBfMR = 8, kBfNR = 32, kBfMC = 96;

void pack_weights_bf16(const float* w, int n, int k, Bf16Matrix* out) {
  out->n = n, out->k = k, out->kpad = (k + 1) / 2 * 2, out->nr = kBfNR;
  const int panels = out->panels();
  out->data.resize(static_cast<size_t>(panels) * kBfNR * out->kpad);
  uint16_t* d = out->data.data();
  size_t o = 0;
  for (int p = 0; p < panels; ++p)
    for (int g = 0; g < out->kpad / 2; ++g)
      for (int j = 0; j < kBfNR; ++j)
        for (int t = 0; t < 2; ++t, ++o) {
          const int col = p * kBfNR + j, kk = 2 * g + t;
          d[o] = col < n && kk < k ? float_to_bf16(w[static_cast<size_t>(col) * k + kk]) : 0;
        }
}

void convert_rows_bf16(const float* x, int m, int k, int ldx, Bf16Rows* out, ThreadPool& pool, int nth) {
  out->m = m, out->k = k, out->kpad = (k + 1) / 2 * 2;
  out->data.resize(static_cast<size_t>(m) * out->kpad);
  const int kp = out->kpad;
  parallel_rows(pool, m, nth, [&](int r) {
    const float* row = x + static_cast<size_t>(r) * ldx;
    uint16_t* q = out->data.data() + static_cast<size_t>(r) * kp;
    int i = 0;
    for (; i + 32 <= k; i += 32) {
      __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + i + 16), _mm512_loadu_ps(row + i));
      _mm512_storeu_si512(q + i, reinterpret_cast<__m512i&>(v));
    }
    for (; i < k; ++i) q[i] = float_to_bf16(row[i]);
    for (; i < kp; ++i) q[i] = 0;
  });
}

template <int M>
inline void bf16_tile(int kpad, const uint16_t* a, int lda, const uint16_t* b, __m512 (&c)[kBfMR][2]) {
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int g = 0; g < kpad / 2; ++g) {
    const __m512i b0 = _mm512_load_si512(b + static_cast<size_t>(g) * 64);
    const __m512i b1 = _mm512_load_si512(b + static_cast<size_t>(g) * 64 + 32);
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      int32_t a2;
      std::memcpy(&a2, a + static_cast<size_t>(i) * lda + 2 * g, 4);
      const __m512i av = _mm512_set1_epi32(a2);
      c[i][0] = _mm512_dpbf16_ps(c[i][0], reinterpret_cast<const __m512bh&>(av), reinterpret_cast<const __m512bh&>(b0));
      c[i][1] = _mm512_dpbf16_ps(c[i][1], reinterpret_cast<const __m512bh&>(av), reinterpret_cast<const __m512bh&>(b1));
    }
  }
}

template <int M = kBfMR>
inline void bf16_tile_rows(int rows, int kpad, const uint16_t* a, int lda, const uint16_t* b, __m512 (&c)[kBfMR][2]) {
  if constexpr (M > 1) {
    if (rows < M) return bf16_tile_rows<M - 1>(rows, kpad, a, lda, b, c);
  }
  bf16_tile<M>(kpad, a, lda, b, c);
}

void gemm_bf16(const GemmBf16Args& g, ThreadPool& pool, int nth) {
  using V = simd::Avx512;
  const Bf16Rows& A = *g.a;
  const Bf16Matrix& Wm = *g.w;
  const int m = A.m, n = Wm.n, kp = Wm.kpad;
  if (m <= 0 || n <= 0) return;
  const int panels = Wm.panels(), mblocks = (m + kBfMC - 1) / kBfMC;
  pool.parallel_for(
      static_cast<int64_t>(mblocks) * panels,
      [&](int64_t t, int) {
        const int mb = static_cast<int>(t / panels), p = static_cast<int>(t % panels);
        const int m0 = mb * kBfMC, mc = std::min(kBfMC, m - m0), n0 = p * kBfNR, nvalid = std::min(kBfNR, n - n0);
        const uint16_t* bp = Wm.data.data() + static_cast<size_t>(p) * kBfNR * kp;
        __m512 c[kBfMR][2];
        alignas(64) float tmp[kBfNR];
        for (int i0 = 0; i0 < mc; i0 += kBfMR) {
          const int rows = std::min(kBfMR, mc - i0);
          bf16_tile_rows(rows, kp, A.data.data() + static_cast<size_t>(m0 + i0) * kp, kp, bp, c);
          for (int i = 0; i < rows; ++i) {
            const int r = m0 + i0 + i;
            float* crow = g.c + static_cast<size_t>(r) * g.ldc + n0;
            const float* rrow = g.residual ? g.residual + static_cast<size_t>(r) * g.ldr + n0 : nullptr;
            for (int h = 0; h < 2; ++h) {
              __m512 v = c[i][h];
              const int j = 16 * h;
              if (nvalid == kBfNR) {
                if (g.bias) v = V::add(v, V::loadu(g.bias + n0 + j));
                if (g.gelu) v = simd::gelu_erf<V>(v);
                if (rrow) v = V::add(v, V::loadu(rrow + j));
                V::storeu(crow + j, v);
              } else {
                V::store(tmp + j, v);
              }
            }
            if (nvalid < kBfNR) {
              for (int j = 0; j < nvalid; ++j) {
                alignas(64) float one[16] = {};
                one[0] = tmp[j] + (g.bias ? g.bias[n0 + j] : 0.f);
                if (g.gelu) V::store(one, simd::gelu_erf<V>(V::load(one)));
                crow[j] = one[0] + (rrow ? rrow[j] : 0.f);
              }
            }
          }
        }
      },
      nth);
}
#endif

}  // namespace
}  // namespace bertrt::cpu
