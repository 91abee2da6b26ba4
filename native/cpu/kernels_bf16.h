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

// One row of k floats to bfloat16 (round to nearest even), zeros to kpad.
inline void bf16_row(const float* row, int k, int kp, uint16_t* q) {
  int i = 0;
  for (; i + 32 <= k; i += 32) {
    __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + i + 16), _mm512_loadu_ps(row + i));
    _mm512_storeu_si512(q + i, reinterpret_cast<__m512i&>(v));
  }
  for (; i < k; ++i) q[i] = float_to_bf16(row[i]);
  for (; i < kp; ++i) q[i] = 0;
}

void convert_rows_bf16(const float* x, int m, int k, int ldx, Bf16Rows* out, ThreadPool& pool, int nth) {
  size_bf16_rows(out, m, k);
  parallel_rows(pool, m, nth, [&](int r) {
    bf16_row(x + static_cast<size_t>(r) * ldx, k, out->kpad, out->data.data() + static_cast<size_t>(r) * out->kpad);
  });
}

// x[r] = LayerNorm(x[r]) in place and its bfloat16 form for the next GEMM in out's row out_row0 + r, in the same pass
// (the row still in L1): the same floats and bits as add_layernorm then convert_rows_bf16. out is sized here unless
// it already holds that many rows of width h (then only those rows change), as layernorm_quantize does.
void layernorm_bf16(float* x, const float* gamma, const float* beta, int rows, int h, float eps, Bf16Rows* out,
                    int out_row0, ThreadPool& pool, int nth) {
  if (out->m < out_row0 + rows || out->k != h) size_bf16_rows(out, out_row0 + rows, h);
  parallel_rows(pool, rows, nth, [&](int r) {
    float* xr = x + static_cast<size_t>(r) * h;
    layernorm_row<simd::Avx512>(xr, gamma, beta, h, eps);
    bf16_row(xr, h, out->kpad, out->data.data() + (static_cast<size_t>(out_row0) + r) * out->kpad);
  });
}

// kPrefetch: the panel comes from memory (a task's first tile): prefetch ahead of it (see kPanelPrefetchBytes).
template <int M, bool kPrefetch = false>
inline void bf16_tile(int kpad, const uint16_t* a, int lda, const uint16_t* b, __m512 (&c)[kBfMR][2]) {
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int g = 0; g < kpad / 2; ++g) {
    if constexpr (kPrefetch) prefetch_panel_step(b + static_cast<size_t>(g) * 64, 128);
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
inline void bf16_tile_rows(int rows, int kpad, const uint16_t* a, int lda, const uint16_t* b, __m512 (&c)[kBfMR][2],
                           bool prefetch = false) {
  if constexpr (M > 1) {
    if (rows < M) return bf16_tile_rows<M - 1>(rows, kpad, a, lda, b, c, prefetch);
  }
  if (prefetch) bf16_tile<M, true>(kpad, a, lda, b, c);
  else bf16_tile<M>(kpad, a, lda, b, c);
}

#if defined(BERTRT_BF16_AMX)
// AMX-BF16 (kernels_amx.cc) in the block shape of amx.h: tiles 0-3 = the 32 bf16 rows at a (stride lda values)
// times the panel b ([kpad/2][32][2]), 32 K values (16 pairs) per step; kpad a multiple of 32. tdpbf16ps sums the
// pair products in FP32 as vdpbf16ps does, though not in the same order: not the same bits as the AVX-512 kernel.
// The sums stay in the tiles (amx_store_block writes them out), so a caller can run the previous block's epilogue
// on the vector units while the tile unit computes this one.
inline void amx_bf16_block(int kpad, const uint16_t* a, int lda, const uint16_t* b) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int k0 = 0; k0 < kpad; k0 += 32) {
    const uint16_t* bk = b + static_cast<size_t>(k0 / 2) * 64;
    _tile_loadd(4, a + k0, 2 * lda);
    _tile_loadd(5, a + static_cast<size_t>(16) * lda + k0, 2 * lda);
    _tile_loadd(6, bk, 128);
    _tile_loadd(7, bk + 32, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}
#endif

void gemm_bf16(const GemmBf16Args& g, ThreadPool& pool, int nth) {
  using V = simd::Avx512;
  const Bf16Rows& A = *g.a;
  const Bf16Matrix& Wm = *g.w;
  const int a0 = g.row0, m = g.rows >= 0 ? g.rows : A.m - a0, n = Wm.n, kp = Wm.kpad;
  if (m <= 0 || n <= 0) return;
#if defined(BERTRT_BF16_AMX)
  const bool amx = kp % 32 == 0;  // whole tile steps; other widths run the vdpbf16ps kernel throughout
  const int mcb = amx ? kAmxMC : kBfMC;
#else
  const int mcb = kBfMC;
#endif
  const int panels = Wm.panels(), mblocks = (m + mcb - 1) / mcb;
  pool.parallel_for(
      static_cast<int64_t>(mblocks) * panels,
      [&](int64_t t, int) {
        const int mb = static_cast<int>(t / panels), p = static_cast<int>(t % panels);
        const int m0 = mb * mcb, mc = std::min(mcb, m - m0), n0 = p * kBfNR, nvalid = std::min(kBfNR, n - n0);
        const uint16_t* bp = Wm.data.data() + static_cast<size_t>(p) * kBfNR * kp;
        // the epilogue of row i0 + i (of this task's rows) whose two 16-column halves of sums are c0, c1
        auto finish = [&](int i, __m512 c0, __m512 c1) {
          const int r = m0 + i;
          float* crow = g.c_bf16 ? nullptr : g.c + static_cast<size_t>(r) * g.ldc + n0;
          uint16_t* brow = g.c_bf16 ? g.c_bf16->data.data() + static_cast<size_t>(r) * g.c_bf16->kpad + n0 : nullptr;
          const float* rrow = g.residual ? g.residual + static_cast<size_t>(r) * g.ldr + n0 : nullptr;
          alignas(64) float tmp[kBfNR];
          for (int h = 0; h < 2; ++h) {
            __m512 v = h ? c1 : c0;
            const int j = 16 * h;
            if (nvalid == kBfNR) {
              if (g.bias) v = V::add(v, V::loadu(g.bias + n0 + j));
              if (g.act != Act::kNone) v = activate<V>(v, g.act);
              if (rrow) v = V::add(v, V::loadu(rrow + j));
              if (brow) {
                const __m256bh b = _mm512_cvtneps_pbh(v);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(brow + j), reinterpret_cast<const __m256i&>(b));
              } else {
                V::storeu(crow + j, v);
              }
            } else {
              V::store(tmp + j, v);
            }
          }
          if (nvalid < kBfNR) {
            for (int j = 0; j < nvalid; ++j) {
              alignas(64) float one[16] = {};
              one[0] = tmp[j] + (g.bias ? g.bias[n0 + j] : 0.f);
              if (g.act != Act::kNone) V::store(one, activate<V>(V::load(one), g.act));
              const float y = one[0] + (rrow ? rrow[j] : 0.f);
              if (brow) brow[j] = float_to_bf16(y);
              else crow[j] = y;
            }
          }
        };
        int i0 = 0;
#if defined(BERTRT_BF16_AMX)
        if (amx && mc >= kAmxRows) {
          amx_config();
          const int blocks = mc / kAmxRows;
          amx_pipelined<float>(
              blocks, [&](int b) { amx_bf16_block(kp, A.data.data() + static_cast<size_t>(a0 + m0 + b * kAmxRows) * kp, kp, bp); },
              [&](int b, const float* sums) {
                for (int i = 0; i < kAmxRows; ++i) finish(b * kAmxRows + i, V::load(sums + i * kBfNR), V::load(sums + i * kBfNR + 16));
              });
          i0 = blocks * kAmxRows;
          _tile_release();
        }
#endif
        __m512 c[kBfMR][2];
        for (; i0 < mc; i0 += kBfMR) {
          const int rows = std::min(kBfMR, mc - i0);
          bf16_tile_rows(rows, kp, A.data.data() + static_cast<size_t>(a0 + m0 + i0) * kp, kp, bp, c, i0 == 0);
          for (int i = 0; i < rows; ++i) finish(i0 + i, c[i][0], c[i][1]);
        }
      },
      nth);
}

// ------------------------------------------------------------------------------------------ BF16 attention
// The attention of kernels_impl.h with its two matrix products on vdpbf16ps: Q and K rounded to bfloat16 for the
// scores (pairs along head_dim), the softmax probabilities and V rounded for P.V (pairs along the keys); softmax,
// sums and the output stay FP32. Per (sequence, head) task, K is packed as [head_dim/2][keys][2] and V as
// [keys/2][head_dim][2], so one 64-byte load gives 16 keys (or 16 output columns) times a pair.
struct AttnBf16Scratch {
  AlignedBuffer<uint16_t> k;   // [dh/2][lp][2]
  AlignedBuffer<uint16_t> v;   // [lp/2][dvp][2]
  AlignedBuffer<uint16_t> q;   // [8][dh]
  AlignedBuffer<uint16_t> p;   // [8][lp]
  AlignedBuffer<float> s;      // [8][lp]
};

// n floats to bfloat16 (round to nearest even, as float_to_bf16), 16 at a time.
inline void to_bf16_row(const float* x, int n, uint16_t* out) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<const __m256i&>(v));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
    _mm256_mask_storeu_epi16(out + i, m, reinterpret_cast<const __m256i&>(v));
  }
}

// Scores of SR query rows (bf16 pairs along head_dim) against NV vectors of 16 keys from key j: SR x NV
// accumulators stay in registers (NV is a template argument: a run-time count made GCC keep them in memory).
template <int SR, int NV>
inline void attn_bf16_score_tile(const uint32_t* q32, int pairs, const uint16_t* kb, int lp, int j, float* s) {
  __m512 acc[SR][NV];
#pragma GCC unroll 4
  for (int r = 0; r < SR; ++r)
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) acc[r][x] = _mm512_setzero_ps();
  for (int dp = 0; dp < pairs; ++dp) {
    __m512i kv[NV];
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) kv[x] = _mm512_load_si512(kb + (static_cast<size_t>(dp) * lp + j + 16 * x) * 2);
#pragma GCC unroll 4
    for (int r = 0; r < SR; ++r) {
      const __m512i qv = _mm512_set1_epi32(static_cast<int>(q32[r * pairs + dp]));
#pragma GCC unroll 4
      for (int x = 0; x < NV; ++x)
        acc[r][x] = _mm512_dpbf16_ps(acc[r][x], reinterpret_cast<const __m512bh&>(qv), reinterpret_cast<const __m512bh&>(kv[x]));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < SR; ++r)
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) _mm512_store_ps(s + r * lp + j + 16 * x, acc[r][x]);
}

// Keys [j0, j1) (multiples of 32 within lp): 4 vectors at a time, then a last 2 if the span is not a multiple of 64.
template <int SR>
inline void attn_bf16_scores(const uint32_t* q32, int pairs, const uint16_t* kb, int lp, int j0, int j1, float* s) {
  int j = j0;
  for (; j + 64 <= j1; j += 64) attn_bf16_score_tile<SR, 4>(q32, pairs, kb, lp, j, s);
  if (j < j1) attn_bf16_score_tile<SR, 2>(q32, pairs, kb, lp, j, s);
}

template <int RI>
inline void attn_bf16_rows(const AttentionArgs& g, int row0, int len, int h, int i0, AttnBf16Scratch& sc, int lp,
                           int dvp, int valid = RI) {
  using V = simd::Avx512;
  const int dh = g.head_dim, pairs = dh / 2;
  // this tile's queries, in bfloat16; rows past `valid` (a sequence's last rows in a padded tile) are zeros, their
  // scores a model's extra terms never see, and their outputs are not written
  for (int r = 0; r < RI; ++r) {
    if (r < valid) to_bf16_row(g.qkv + static_cast<size_t>(row0 + i0 + r) * g.ld_qkv + h * dh, dh, sc.q.data() + r * dh);
    else std::memset(sc.q.data() + r * dh, 0, sizeof(uint16_t) * dh);
  }
  const uint32_t* q32 = reinterpret_cast<const uint32_t*>(sc.q.data());
  float* s = sc.s.data();
  // a sliding window needs only the keys within `window` of the tile's rows: [j0, j1) in whole 32-key blocks, the
  // rest of each row never computed (a local layer's attention costs its window, not the sequence)
  int j0 = 0, j1 = lp;
  if (g.window > 0) {
    j0 = std::max(0, i0 - g.window) / 32 * 32;
    j1 = std::min(lp, (i0 + RI + g.window + 31) / 32 * 32);
  }
  if constexpr (RI > 4) {
    static_assert(RI == 8, "score tiles split the row tile in two halves");
    attn_bf16_scores<4>(q32, pairs, sc.k.data(), lp, j0, j1, s);
    attn_bf16_scores<4>(q32 + 4 * pairs, pairs, sc.k.data(), lp, j0, j1, s + 4 * lp);
  } else {
    attn_bf16_scores<RI>(q32, pairs, sc.k.data(), lp, j0, j1, s);
  }
  // softmax in FP32, then the probabilities in bfloat16. Each step runs over all RI rows before the next, so the rows'
  // reductions (maximum, sum, reciprocal) are independent chains that overlap instead of one row's latency after another's.
  float inv_sum[RI];
  const __m512 scale = _mm512_set1_ps(g.scale);
  for (int r = 0; r < RI; ++r) {
    float* sr = s + r * lp;
    if (r < valid) {
      if (g.rel_bias) add_relative_bias(g, h, i0 + r, len, sr);
      if (g.c2p) add_disentangled(g, h, row0, i0 + r, len, sr);
      if (g.window > 0) mask_outside_window(g.window, i0 + r, len, sr, j0, j1);
    }
    for (int j = std::max(len, j0); j < j1; ++j) sr[j] = -std::numeric_limits<float>::infinity();
  }
  __m512 mx[RI], sum[RI];
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r) mx[r] = _mm512_set1_ps(-std::numeric_limits<float>::infinity()), sum[r] = _mm512_setzero_ps();
  for (int j = j0; j < j1; j += 16)
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r) mx[r] = _mm512_max_ps(mx[r], _mm512_load_ps(s + r * lp + j));
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r) mx[r] = _mm512_set1_ps(_mm512_reduce_max_ps(mx[r]) * g.scale);
  for (int j = j0; j < j1; j += 32)  // j0 and j1 are multiples of 32
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r) {
      const float* sr = s + r * lp;
      const __m512 e0 = simd::exp_neg<V>(_mm512_sub_ps(_mm512_mul_ps(_mm512_load_ps(sr + j), scale), mx[r]));
      const __m512 e1 = simd::exp_neg<V>(_mm512_sub_ps(_mm512_mul_ps(_mm512_load_ps(sr + j + 16), scale), mx[r]));
      sum[r] = _mm512_add_ps(sum[r], _mm512_add_ps(e0, e1));
      __m512bh pb = _mm512_cvtne2ps_pbh(e1, e0);
      _mm512_storeu_si512(sc.p.data() + r * lp + j, reinterpret_cast<__m512i&>(pb));
    }
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r) inv_sum[r] = 1.f / _mm512_reduce_add_ps(sum[r]);
  // P.V over key pairs, 2 vectors of 16 output columns at a time
  const int kpairs = (len + 1) / 2;
  const uint16_t* vb = sc.v.data();
  for (int d0 = 0; d0 < dvp; d0 += 32) {
    const int nv = std::min(2, (dvp - d0) / 16);
    __m512 acc[RI][2];
    for (int r = 0; r < RI; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int jp = j0 / 2, jp_end = std::min(kpairs, j1 / 2); jp < jp_end; ++jp) {
      const __m512i v0 = _mm512_load_si512(vb + (static_cast<size_t>(jp) * dvp + d0) * 2);
      const __m512i v1 = nv > 1 ? _mm512_load_si512(vb + (static_cast<size_t>(jp) * dvp + d0 + 16) * 2) : _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int r = 0; r < RI; ++r) {
        int32_t p2;
        std::memcpy(&p2, sc.p.data() + r * lp + 2 * jp, 4);
        const __m512i pv = _mm512_set1_epi32(p2);
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], reinterpret_cast<const __m512bh&>(pv), reinterpret_cast<const __m512bh&>(v0));
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], reinterpret_cast<const __m512bh&>(pv), reinterpret_cast<const __m512bh&>(v1));
      }
    }
    for (int r = 0; r < valid; ++r) {
      const size_t row = static_cast<size_t>(row0 + i0 + r);
      float* out = g.out + row * g.ld_out + h * dh;
      uint16_t* outb = g.out_bf16 ? g.out_bf16 + row * g.ld_out_bf16 + h * dh : nullptr;
      for (int x = 0; x < nv; ++x) {
        const int c = d0 + 16 * x;
        if (c >= dh) break;
        const __m512 y = _mm512_mul_ps(acc[r][x], _mm512_set1_ps(inv_sum[r]));
        const int n = std::min(16, dh - c);
        if (outb) {
          const __m256bh b = _mm512_cvtneps_pbh(y);
          _mm256_mask_storeu_epi16(outb + c, static_cast<__mmask16>((1u << n) - 1), reinterpret_cast<const __m256i&>(b));
        } else {
          _mm512_mask_storeu_ps(out + c, static_cast<__mmask16>((1u << n) - 1), y);
        }
      }
    }
  }
}

void attention_bf16(const AttentionArgs& g, ThreadPool& pool, int nth) {
  const int dh = g.head_dim, hidden = g.n_heads * g.head_dim;
  // pairs along head_dim need an even size: the FP32 kernel, then (if asked) its rows in bfloat16
  if (dh % 2 != 0) {
    attention<simd::Avx512>(g, pool, nth);
    if (g.out_bf16) {
      const int first = g.cu_seqlens[0];
      parallel_rows(pool, g.cu_seqlens[g.n_seqs] - first, nth, [&](int i) {
        const size_t r = static_cast<size_t>(first + i);
        bf16_row(g.out + r * g.ld_out, hidden, (hidden + 1) / 2 * 2, g.out_bf16 + r * g.ld_out_bf16);
      });
    }
    return;
  }
  pool.parallel_for(
      static_cast<int64_t>(g.n_seqs) * g.n_heads,
      [&](int64_t t, int) {
        static thread_local AttnBf16Scratch sc;
        const int sq = static_cast<int>(t / g.n_heads), h = static_cast<int>(t % g.n_heads);
        const int row0 = g.cu_seqlens[sq], rows = g.cu_seqlens[sq + 1] - row0;
        if (rows <= 0) return;
        const int len = g.key_lens ? std::clamp(g.key_lens[sq], 1, rows) : rows;  // keys; every row queries
        const int lp = (len + 31) / 32 * 32;  // keys, padded to whole pairs of vectors
        const int dvp = (dh + 15) / 16 * 16;  // output columns, padded to whole vectors
        sc.k.resize(static_cast<size_t>(dh) * lp);
        sc.v.resize(static_cast<size_t>(lp) * dvp);
        sc.q.resize(static_cast<size_t>(8) * dh);
        sc.p.resize(static_cast<size_t>(8) * lp);
        sc.s.resize(static_cast<size_t>(8) * lp);
        // K: a key's row in bfloat16 is already its head_dim pairs, one 32-bit lane each, transposed to [pair][key]
        const int pairs = dh / 2;
        const float* k0 = g.qkv + static_cast<size_t>(row0) * g.ld_qkv + hidden + h * dh;
        transpose_rows16(len, lp, pairs, [&](int j, int p0) {
          const int n = 2 * std::min(16, pairs - p0), nlo = std::min(16, n);  // floats of this block of pairs
          const float* kr = k0 + static_cast<size_t>(j) * g.ld_qkv + 2 * p0;
          const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (n - nlo)) - 1), kr + 16),
                                                 _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << nlo) - 1), kr));
          return reinterpret_cast<const __m512&>(v);
        }, reinterpret_cast<float*>(sc.k.data()));
        // V: rows 2jp and 2jp+1 interleaved column by column, 16 columns per conversion
        const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                                    22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        uint16_t* vb = sc.v.data();
        for (int jp = 0; jp < lp / 2; ++jp) {
          const int j = 2 * jp;
          const float* v0 = g.qkv + static_cast<size_t>(row0 + j) * g.ld_qkv + 2 * hidden + h * dh;
          const float* v1 = v0 + g.ld_qkv;
          for (int d0 = 0; d0 < dvp; d0 += 16) {
            const __mmask16 m = static_cast<__mmask16>(d0 + 16 <= dh ? 0xffff : d0 < dh ? (1u << (dh - d0)) - 1 : 0);
            const __m512 a = j < len ? _mm512_maskz_loadu_ps(m, v0 + d0) : _mm512_setzero_ps();
            const __m512 b = j + 1 < len ? _mm512_maskz_loadu_ps(m, v1 + d0) : _mm512_setzero_ps();
            const __m512bh ab = _mm512_cvtne2ps_pbh(b, a);  // [a0..a15, b0..b15]
            _mm512_store_si512(vb + (static_cast<size_t>(jp) * dvp + d0) * 2,
                               _mm512_permutexvar_epi16(interleave, reinterpret_cast<const __m512i&>(ab)));
          }
        }
        int i = 0;
        for (; i + 8 <= rows; i += 8) attn_bf16_rows<8>(g, row0, len, h, i, sc, lp, dvp);
        for (; i + 4 <= rows; i += 4) attn_bf16_rows<4>(g, row0, len, h, i, sc, lp, dvp);
        // 2 or 3 last rows: one 4-row tile with its last rows unused costs less than 1-row tiles (a 1-row score tile
        // loads a key vector per product; same bits either way, every row's sums run alone)
        if (rows - i >= 2) attn_bf16_rows<4>(g, row0, len, h, i, sc, lp, dvp, rows - i);
        else if (i < rows) attn_bf16_rows<1>(g, row0, len, h, i, sc, lp, dvp);
      },
      nth);
}
#endif

}  // namespace
}  // namespace bertrt::cpu
