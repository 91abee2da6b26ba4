// INT8 GEMM, activation quantization and weight packing, included by kernels_impl.h. The integer micro-kernel is
// ISA-specific (VNNI vpdpbusd on AVX-512 zmm or, built with BERTRT_S8_VNNI256 naming the intrinsic, on AVX2 ymm;
// vpmaddwd on s16 pairs for plain AVX2 — exact, unlike the saturating vpmaddubsw — and plain loops for the
// portable path); everything else is shared. All paths compute the same
// int32 sums; the FP32 epilogue (scales, bias, GELU, residual) is the FP32 GEMM's.
#pragma once

namespace bertrt::cpu {
namespace {

template <class V>
struct S8Shape { static constexpr int MR = 4, NR = 16, KG = 4, MC = 64; };
#if defined(BERTRT_SIMD_AVX2) && defined(BERTRT_S8_VNNI256)
// 256-bit VNNI (AVX-VNNI, or AVX512-VNNI's VL form for the -evex build): u8 quads like AVX-512, 6 x 2 ymm
// accumulators plus two weight vectors and the broadcast fit AVX2's 16 registers.
template <>
struct S8Shape<simd::Avx2> { static constexpr int MR = 6, NR = 16, KG = 4, MC = 48; };
#elif defined(BERTRT_SIMD_AVX2)
template <>
struct S8Shape<simd::Avx2> { static constexpr int MR = 4, NR = 16, KG = 2, MC = 64; };
#endif
#if defined(BERTRT_SIMD_AVX512)
template <>
struct S8Shape<simd::Avx512> { static constexpr int MR = 8, NR = 32, KG = 4, MC = 64; };
#endif

inline int round_up4(int k) { return (k + 3) / 4 * 4; }

template <class V>
void pack_weights_s8(const float* w, int n, int k, QuantMatrix* out) {
  constexpr int NR = S8Shape<V>::NR, KG = S8Shape<V>::KG;
  out->n = n, out->k = k, out->kpad = round_up4(k), out->nr = NR, out->kgroup = KG;
  std::vector<int8_t> q(static_cast<size_t>(n) * k);
  out->scale.resize(n);
  quantize_weight_rows(w, n, k, q.data(), out->scale.data());
  out->comp.resize(n);
  for (int r = 0; r < n; ++r) {
    int32_t s = 0;
    for (int i = 0; i < k; ++i) s += q[static_cast<size_t>(r) * k + i];
    out->comp.data()[r] = s;
  }
  const int panels = (n + NR - 1) / NR, kp = out->kpad;
  const size_t elem = KG == 2 ? 2 : 1;  // AVX2 keeps s16
  out->data.resize(static_cast<size_t>(panels) * NR * kp * elem);
  int8_t* d8 = out->data.data();
  int16_t* d16 = reinterpret_cast<int16_t*>(d8);
  size_t o = 0;
  for (int p = 0; p < panels; ++p)
    for (int g = 0; g < kp / KG; ++g)
      for (int j = 0; j < NR; ++j)
        for (int t = 0; t < KG; ++t, ++o) {
          const int col = p * NR + j, kk = g * KG + t;
          const int8_t v = col < n && kk < k ? q[static_cast<size_t>(col) * k + kk] : 0;
          if (KG == 2) d16[o] = v;
          else d8[o] = v;
        }
}

// Asymmetric per-row quantization onto u8 (see QuantRows): the range always includes 0, so 0 is exact. One
// multiply and round-to-nearest-even on every path, so the integers agree exactly whichever ISA runs. With
// col_scale, the row quantized is row[i] * col_scale[i] (one float multiply, the same on every path): the
// smoothing of INT8 GEMM inputs, whose weights were packed with the reciprocal factors (see Bert::bind).
template <class V, bool kScaled>
inline void quantize_row_impl(const float* row, const float* cs, int k, int kp, uint8_t* q, float* scale, int32_t* zero) {
  using R = typename V::reg;
  constexpr int W = V::W;
  auto load = [&](int i) { return kScaled ? V::mul(V::loadu(row + i), V::loadu(cs + i)) : V::loadu(row + i); };
  auto at = [&](int i) { return kScaled ? row[i] * cs[i] : row[i]; };
  // four running minima and maxima: one pair would chain every step on the last (min and max are exact in any order)
  R vlo[4] = {V::zero(), V::zero(), V::zero(), V::zero()}, vhi[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
  int i = 0;
  for (; i + 4 * W <= k; i += 4 * W)
    for (int u = 0; u < 4; ++u) {
      const R x = load(i + u * W);
      vlo[u] = V::min(vlo[u], x);
      vhi[u] = V::max(vhi[u], x);
    }
  for (; i + W <= k; i += W) {
    const R x = load(i);
    vlo[0] = V::min(vlo[0], x);
    vhi[0] = V::max(vhi[0], x);
  }
  const R mlo = V::min(V::min(vlo[0], vlo[1]), V::min(vlo[2], vlo[3])), mhi = V::max(V::max(vhi[0], vhi[1]), V::max(vhi[2], vhi[3]));
  float lo = -V::reduce_max(V::sub(V::zero(), mlo)), hi = V::reduce_max(mhi);
  for (; i < k; ++i) lo = std::min(lo, at(i)), hi = std::max(hi, at(i));
  if (!(hi - lo > 0.f)) {  // an all-zero row
    *scale = 0.f, *zero = 0;
    std::fill(q, q + kp, uint8_t{0});
    return;
  }
  const float s = (hi - lo) / 255.f;
  const float inv = 1.f / s;
  const int z = std::min(255, std::max(0, static_cast<int>(std::nearbyint(-lo * inv))));
  *scale = s, *zero = z;
  const R iv = V::set1(inv), zv = V::set1(static_cast<float>(z)), top = V::set1(255.f);
  i = 0;
#if defined(BERTRT_SIMD_AVX512)
  if constexpr (std::is_same_v<V, simd::Avx512>) {
    // the same integers in fewer steps: round to nearest even while converting, add the zero point as an integer,
    // and clamp with max(0) and the unsigned-saturating narrowing store (NaN converts to INT_MIN: 0, as max(NaN, 0))
    const __m512i zi = _mm512_set1_epi32(z);
    for (; i + W <= k; i += W) {
      const __m512i n = _mm512_cvt_roundps_epi32(V::mul(load(i), iv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_add_epi32(n, zi), _mm512_setzero_si512())));
    }
  }
#endif
  // elsewhere: round, shift and clamp in float (all exact on integers this small), so the store is a plain conversion
  for (; i + W <= k; i += W) V::store_u8(q + i, V::min(V::max(V::add(V::round(V::mul(load(i), iv)), zv), V::zero()), top));
  for (; i < k; ++i) q[i] = static_cast<uint8_t>(static_cast<int>(std::min(255.f, std::max(0.f, std::nearbyint(at(i) * inv) + z))));
  for (; i < kp; ++i) q[i] = static_cast<uint8_t>(z);
}

template <class V>
inline void quantize_row(const float* row, const float* col_scale, int k, int kp, uint8_t* q, float* scale, int32_t* zero) {
  if (col_scale) quantize_row_impl<V, true>(row, col_scale, k, kp, q, scale, zero);
  else quantize_row_impl<V, false>(row, nullptr, k, kp, q, scale, zero);
}

inline void size_rows(QuantRows* out, int m, int k) {
  out->m = m, out->k = k, out->kpad = round_up4(k);
  out->data.resize(static_cast<size_t>(m) * out->kpad);
  out->scale.resize(m);
  out->zero.resize(m);
}

template <class V>
void quantize_rows(const float* x, int m, int k, int ldx, const float* col_scale, QuantRows* out, ThreadPool& pool, int nth) {
  size_rows(out, m, k);
  parallel_rows(pool, m, nth, [&](int r) {
    quantize_row<V>(x + static_cast<size_t>(r) * ldx, col_scale, k, out->kpad,
                    out->data.data() + static_cast<size_t>(r) * out->kpad, out->scale.data() + r, out->zero.data() + r);
  });
}

// x[r] = LayerNorm(x[r]) in place, and its INT8 form for the next GEMM in the same pass over each row (the row is
// still in L1 when it is quantized): the same integers as layernorm then quantize_rows. Row r goes to out's row
// out_row0 + r; out is sized here unless it already holds that many rows of width h (then only those rows change).
template <class V>
void layernorm_quantize(float* x, const float* gamma, const float* beta, int rows, int h, float eps,
                        const float* col_scale, QuantRows* out, int out_row0, ThreadPool& pool, int nth) {
  if (out->m < out_row0 + rows || out->k != h) size_rows(out, out_row0 + rows, h);
  parallel_rows(pool, rows, nth, [&](int r) {
    float* xr = x + static_cast<size_t>(r) * h;
    const size_t o = static_cast<size_t>(out_row0) + r;
    layernorm_row<V>(xr, gamma, beta, h, eps);
    quantize_row<V>(xr, col_scale, h, out->kpad, out->data.data() + o * out->kpad, out->scale.data() + o,
                    out->zero.data() + o);
  });
}

// acc[M][NR] = sum over the K groups of u8 A rows x s8 panel (exact int32).
template <int M, int NR>
inline void s8_tile_generic(int groups, const uint8_t* a, int lda, const int8_t* b, int32_t* acc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < NR; ++j) acc[i * NR + j] = 0;
  for (int g = 0; g < groups; ++g)
    for (int i = 0; i < M; ++i) {
      const uint8_t* ar = a + static_cast<size_t>(i) * lda + 4 * g;
      for (int j = 0; j < NR; ++j) {
        const int8_t* br = b + (static_cast<size_t>(g) * NR + j) * 4;
        acc[i * NR + j] += ar[0] * br[0] + ar[1] * br[1] + ar[2] * br[2] + ar[3] * br[3];
      }
    }
}

#if defined(BERTRT_SIMD_AVX512)
// gemm_s8's epilogue for whole 32-column panels on AVX-512: y = (sum - zero * comp) * (a_scale * w_scale) + bias,
// activated, plus the residual, in finish's order of operations (the same bits), with the panel's compensation, weight
// scales and bias held in registers for all of a task's row tiles instead of reloaded for every row. Zen 5, 4096 rows
// (bench/results/development-ab.md, 2026-12-07): the K = 384 GEMMs 7-9% faster, the GELU one 2-3%, K = 1536 2%.
struct S8PanelEpilogue {
  __m512i comp[2];
  __m512 sw[2], bias[2];
  bool has_bias;
  Act act;
  const int32_t* zero;    // A's zero points and scales, indexed by output row
  const float* scale;
  float* c;               // output row 0, the panel's first column
  int ldc;
  const float* residual;  // likewise, or null
  int ldr;
};

// Output rows [r0, r0 + rows) from their sums acc[rows][32].
inline void s8_finish_avx512(const S8PanelEpilogue& e, int r0, int rows, const int32_t* acc) {
  for (int i = 0; i < rows; ++i) {
    const int r = r0 + i;
    const __m512i zv = _mm512_set1_epi32(e.zero[r]);
    const __m512 sa = _mm512_set1_ps(e.scale[r]);
    float* crow = e.c + static_cast<size_t>(r) * e.ldc;
#pragma GCC unroll 2
    for (int x = 0; x < 2; ++x) {
      const __m512i sum = _mm512_sub_epi32(_mm512_load_si512(acc + 32 * i + 16 * x), _mm512_mullo_epi32(zv, e.comp[x]));
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(sa, e.sw[x]));
      if (e.has_bias) v = _mm512_add_ps(v, e.bias[x]);
      if (e.act != Act::kNone) v = activate<simd::Avx512>(v, e.act);
      if (e.residual) v = _mm512_add_ps(v, _mm512_loadu_ps(e.residual + static_cast<size_t>(r) * e.ldr + 16 * x));
      _mm512_storeu_ps(crow + 16 * x, v);
    }
  }
}
#endif

// kPrefetch: the panel comes from memory (a task's first tile): prefetch ahead of it (see kPanelPrefetchBytes).
template <class V, int M, bool kPrefetch = false>
inline void s8_tile(int kpad, const uint8_t* a, int lda, const int8_t* b, int32_t* acc) {
  constexpr int NR = S8Shape<V>::NR;
#if defined(BERTRT_SIMD_AVX512)
  if constexpr (std::is_same_v<V, simd::Avx512>) {
    __m512i c[M][2];
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) c[i][0] = c[i][1] = _mm512_setzero_si512();
    for (int g = 0; g < kpad / 4; ++g) {
      if constexpr (kPrefetch) prefetch_panel_step(b + static_cast<size_t>(g) * 128, 128);
      const __m512i b0 = _mm512_load_si512(b + static_cast<size_t>(g) * 128);
      const __m512i b1 = _mm512_load_si512(b + static_cast<size_t>(g) * 128 + 64);
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
        int32_t a4;
        std::memcpy(&a4, a + static_cast<size_t>(i) * lda + 4 * g, 4);
        const __m512i av = _mm512_set1_epi32(a4);
        c[i][0] = _mm512_dpbusd_epi32(c[i][0], av, b0);
        c[i][1] = _mm512_dpbusd_epi32(c[i][1], av, b1);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      _mm512_storeu_si512(acc + i * NR, c[i][0]);
      _mm512_storeu_si512(acc + i * NR + 16, c[i][1]);
    }
    return;
  }
#endif
#if defined(BERTRT_SIMD_AVX2)
  if constexpr (std::is_same_v<V, simd::Avx2>) {
    // Two ymm of 8 int32 sums per row; each K step reads 64 bytes of the panel (16 columns x KG values).
    // 256-bit VNNI (BERTRT_S8_VNNI256 names the intrinsic): u8 quads x s8 quads, as on AVX-512. Plain AVX2: s16
    // pairs, lane j of a step holding (w[j][2g], w[j][2g+1]); vpmaddwd with the broadcast pair (a[2g], a[2g+1])
    // gives a0*w0 + a1*w1 exactly (|terms| <= 255*127, no saturation, unlike vpmaddubsw).
    constexpr int KG = S8Shape<V>::KG;
    __m256i c[M][2];
    for (int i = 0; i < M; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
    for (int g = 0; g < kpad / KG; ++g) {
      const __m256i* bg = reinterpret_cast<const __m256i*>(b + static_cast<size_t>(g) * 64);
      const __m256i b0 = _mm256_load_si256(bg), b1 = _mm256_load_si256(bg + 1);
#pragma GCC unroll 6
      for (int i = 0; i < M; ++i) {
        const uint8_t* ar = a + static_cast<size_t>(i) * lda + KG * g;
#if defined(BERTRT_S8_VNNI256)
        int32_t a4;
        std::memcpy(&a4, ar, 4);
        const __m256i av = _mm256_set1_epi32(a4);
        c[i][0] = BERTRT_S8_VNNI256(c[i][0], av, b0);
        c[i][1] = BERTRT_S8_VNNI256(c[i][1], av, b1);
#else
        const __m256i av = _mm256_set1_epi32(static_cast<int32_t>(ar[0]) | (static_cast<int32_t>(ar[1]) << 16));
        c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(av, b0));
        c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(av, b1));
#endif
      }
    }
    for (int i = 0; i < M; ++i) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * NR), c[i][0]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * NR + 8), c[i][1]);
    }
    return;
  }
#endif
  s8_tile_generic<M, NR>(kpad / 4, a, lda, b, acc);
}

template <class V, int M = S8Shape<V>::MR>
inline void s8_tile_rows(int rows, int kpad, const uint8_t* a, int lda, const int8_t* b, int32_t* acc, bool prefetch = false) {
  if constexpr (M > 1) {
    if (rows < M) return s8_tile_rows<V, M - 1>(rows, kpad, a, lda, b, acc, prefetch);
  }
  if (prefetch) s8_tile<V, M, true>(kpad, a, lda, b, acc);
  else s8_tile<V, M>(kpad, a, lda, b, acc);
}

#if defined(BERTRT_S8_AMX)
// AMX-INT8 (kernels_amx.cc) in the block shape of amx.h. tdpbusd adds u8 x s8 products into int32 without
// saturation, as vpdpbusd does: the same sums.
constexpr int kAmxMaxN = 512;

// tiles 0-3 = the 32 rows at a (stride lda bytes) times panel b; kpad a multiple of 64. The sums stay in the tiles
// (amx_store_block writes them out), so the previous block's epilogue can run while the tile unit computes this one.
inline void amx_s8_block(int kpad, const uint8_t* a, int lda, const int8_t* b) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int k0 = 0; k0 < kpad; k0 += 64) {
    const int8_t* bk = b + static_cast<size_t>(k0 / 4) * 128;
    _tile_loadd(4, a + k0, lda);
    _tile_loadd(5, a + static_cast<size_t>(16) * lda + k0, lda);
    _tile_loadd(6, bk, 128);
    _tile_loadd(7, bk + 64, 128);
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  }
}
#endif

template <class V>
void gemm_s8(const GemmS8Args& g, ThreadPool& pool, int nth) {
  using R = typename V::reg;
  constexpr int W = V::W, MR = S8Shape<V>::MR, NR = S8Shape<V>::NR, MC = S8Shape<V>::MC, KG = S8Shape<V>::KG;
  const QuantRows& A = *g.a;
  const QuantMatrix& Wm = *g.w;
  const int a0 = g.row0, m = g.rows >= 0 ? g.rows : A.m - a0, n = Wm.n, kp = Wm.kpad;
  if (m <= 0 || n <= 0) return;
  const size_t panel_bytes = static_cast<size_t>(NR) * kp * (KG == 2 ? 2 : 1);
#if defined(BERTRT_S8_AMX)
  static_assert(NR == 32 && KG == 4, "the AMX block reads AVX-512's panels");
  // Whole 64-value K steps, and at most kAmxMaxN output columns: on the one Xeon measured, the AMX block beat the
  // VNNI kernel at N = 384 (bench/results/amx.md) but not at N = 1152 or 1536, in the runs made while developing it
  // (64- and 128-row tasks) and again with the epilogue overlapped with the next block (QKV 10 ms vs VNNI's 7; not
  // committed), so those stay on VNNI until that is understood. Other shapes run the VNNI micro-kernel throughout.
  const bool amx = kp % 64 == 0 && n <= kAmxMaxN;
  const int mcb = amx ? kAmxMC : MC;
#else
  const int mcb = MC;
#endif
  const int panels = Wm.panels(), mblocks = (m + mcb - 1) / mcb;
  pool.parallel_for(
      static_cast<int64_t>(mblocks) * panels,
      [&](int64_t t, int) {
        const int mb = static_cast<int>(t / panels), p = static_cast<int>(t % panels);
        const int m0 = mb * mcb, mc = std::min(mcb, m - m0), n0 = p * NR, nvalid = std::min(NR, n - n0);
        const int8_t* bp = Wm.data.data() + static_cast<size_t>(p) * panel_bytes;
        // the epilogue of `rows` rows from i0 whose int32 sums are acc[i][NR]
        auto finish = [&](int i0, int rows, const int32_t* acc) {
          const int32_t* comp = Wm.comp.data() + n0;
          const float* sw = Wm.scale.data() + n0;
          for (int i = 0; i < rows; ++i) {
            const int r = m0 + i0 + i;
            const int32_t* ai = acc + i * NR;
            // minus the row's zero point times each channel's weight sum: sum (q - zero) * w = sum q * w - zero * comp
            const int32_t zr = A.zero.data()[a0 + r];
            if (g.raw) {
              for (int j = 0; j < nvalid; ++j) g.raw[static_cast<size_t>(r) * n + n0 + j] = ai[j] - zr * comp[j];
              continue;
            }
            const R sa = V::set1(A.scale.data()[a0 + r]);
            float* crow = g.c + static_cast<size_t>(r) * g.ldc + n0;
            const float* rrow = g.residual ? g.residual + static_cast<size_t>(r) * g.ldr + n0 : nullptr;
            if (nvalid == NR) {
#pragma GCC unroll 4
              for (int j = 0; j < NR; j += W) {
                R v = V::mul(V::cvt_sub_i32(ai + j, zr, comp + j), V::mul(sa, V::loadu(sw + j)));
                if (g.bias) v = V::add(v, V::loadu(g.bias + n0 + j));
                if (g.act != Act::kNone) v = activate<V>(v, g.act);
                if (rrow) v = V::add(v, V::loadu(rrow + j));
                V::storeu(crow + j, v);
              }
              continue;
            }
            // partial last panel: the same arithmetic through a padded row
            alignas(64) float tmp[NR];
            alignas(64) int32_t c_pad[NR] = {};
            alignas(64) float s_pad[NR] = {}, b_pad[NR] = {}, r_pad[NR] = {};
            for (int j = 0; j < nvalid; ++j) {
              c_pad[j] = comp[j];
              s_pad[j] = sw[j];
              b_pad[j] = g.bias ? g.bias[n0 + j] : 0.f;
              r_pad[j] = rrow ? rrow[j] : 0.f;
            }
            for (int j = 0; j < NR; j += W) {
              R v = V::add(V::mul(V::cvt_sub_i32(ai + j, zr, c_pad + j), V::mul(sa, V::load(s_pad + j))), V::load(b_pad + j));
              if (g.act != Act::kNone) v = activate<V>(v, g.act);
              V::store(tmp + j, V::add(v, V::load(r_pad + j)));
            }
            std::copy(tmp, tmp + nvalid, crow);
          }
        };
        alignas(64) int32_t acc[MR * NR];
        int i0 = 0;
#if defined(BERTRT_S8_AMX)
        const bool amx_blocks = amx && mc >= kAmxRows;  // this task's whole 32-row blocks run on the tiles
#else
        [[maybe_unused]] constexpr bool amx_blocks = false;
#endif
#if defined(BERTRT_SIMD_AVX512)
        // a whole panel: the epilogue with its per-column values loaded once for the task
        if constexpr (std::is_same_v<V, simd::Avx512>) {
          if (!g.raw && nvalid == NR && !amx_blocks) {
            S8PanelEpilogue e;
            for (int x = 0; x < 2; ++x) {
              e.comp[x] = _mm512_loadu_si512(Wm.comp.data() + n0 + 16 * x);
              e.sw[x] = _mm512_loadu_ps(Wm.scale.data() + n0 + 16 * x);
              e.bias[x] = g.bias ? _mm512_loadu_ps(g.bias + n0 + 16 * x) : _mm512_setzero_ps();
            }
            e.has_bias = g.bias != nullptr, e.act = g.act;
            e.zero = A.zero.data() + a0, e.scale = A.scale.data() + a0;
            e.c = g.c + n0, e.ldc = g.ldc;
            e.residual = g.residual ? g.residual + n0 : nullptr, e.ldr = g.ldr;
            for (; i0 < mc; i0 += MR) {
              const int rows = std::min(MR, mc - i0);
              s8_tile_rows<V>(rows, kp, A.data.data() + static_cast<size_t>(a0 + m0 + i0) * kp, kp, bp, acc, i0 == 0);
              s8_finish_avx512(e, m0 + i0, rows, acc);
            }
            return;
          }
        }
#endif
#if defined(BERTRT_S8_AMX)
        if (amx_blocks) {
          amx_config();
          const int blocks = mc / kAmxRows;
          amx_pipelined<int32_t>(
              blocks, [&](int b) { amx_s8_block(kp, A.data.data() + static_cast<size_t>(a0 + m0 + b * kAmxRows) * kp, kp, bp); },
              [&](int b, const int32_t* sums) { finish(b * kAmxRows, kAmxRows, sums); });
          i0 = blocks * kAmxRows;
          _tile_release();
        }
#endif
        for (; i0 < mc; i0 += MR) {
          const int rows = std::min(MR, mc - i0);
          s8_tile_rows<V>(rows, kp, A.data.data() + static_cast<size_t>(a0 + m0 + i0) * kp, kp, bp, acc);
          finish(i0, rows, acc);
        }
      },
      nth);
}

}  // namespace
}  // namespace bertrt::cpu
