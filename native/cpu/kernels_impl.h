// Kernel templates over a vector-traits struct V (simd.h). Included only by kernels_<isa>.cc; everything here
// sits in an anonymous namespace, so each ISA's copy has internal linkage and the linker never mixes them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels.h"
#include "simd.h"

namespace bertrt::cpu {
namespace {

// ---------------------------------------------------------------------------------------------- GEMM
// Register block MR x (NV vectors); K is split in KC blocks so one panel slice (KC x NR floats) stays in L1
// while MC rows of A stream past it from L2.
template <class V>
struct GemmShape;
template <>
struct GemmShape<simd::Generic> { static constexpr int MR = 4, NV = 2, KC = 256, MC = 96; };
#if defined(BERTRT_SIMD_AVX2)
template <>
struct GemmShape<simd::Avx2> { static constexpr int MR = 6, NV = 2, KC = 256, MC = 96; };
#endif
#if defined(BERTRT_SIMD_AVX512)
// KC 512: BERT-sized K (384, 768, 1536, 3072) in 1-6 blocks; each block after the first reloads the tile's sums from
// C. Against 256 on the Zen 5 (bench/results/development-ab.md, step 7): one 16-token sentence about 8% faster, the
// 4096-row GEMMs 0-4%, 32x128 end to end level. The sums are the same either way (a float stored and reloaded is unchanged).
template <>
struct GemmShape<simd::Avx512> { static constexpr int MR = 8, NV = 2, KC = 512, MC = 96; };
#endif

template <class V>
constexpr int gemm_nr() { return GemmShape<V>::NV * V::W; }

template <class V>
void pack_weights(const float* w, int n, int k, PackedMatrix* out) {
  constexpr int NR = gemm_nr<V>();
  out->n = n;
  out->k = k;
  out->nr = NR;
  out->half = {};
  const int panels = (n + NR - 1) / NR;
  out->data.resize(static_cast<size_t>(panels) * NR * k);
  float* dst = out->data.data();
  for (int p = 0; p < panels; ++p) {
    for (int kk = 0; kk < k; ++kk) {
      for (int j = 0; j < NR; ++j) {
        int col = p * NR + j;
        *dst++ = col < n ? w[static_cast<size_t>(col) * k + kk] : 0.f;
      }
    }
  }
}

// W[n][k] given in IEEE halves, packed as half panels (pack_weights' layout, 16 bits a value).
template <class V>
void pack_halves(const uint16_t* w, int n, int k, PackedMatrix* out) {
  constexpr int NR = gemm_nr<V>();
  const int panels = (n + NR - 1) / NR;
  out->n = n;
  out->k = k;
  out->nr = NR;
  out->data = {};
  out->half.resize(static_cast<size_t>(panels) * NR * k);
  uint16_t* dst = out->half.data();
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < k; ++kk)
      for (int j = 0; j < NR; ++j) {
        const int col = p * NR + j;
        *dst++ = col < n ? w[static_cast<size_t>(col) * k + kk] : 0;
      }
}

// Half panels when every weight is exactly a half; otherwise pack_weights' FP32 panels.
template <class V>
bool pack_weights_f16(const float* w, int n, int k, PackedMatrix* out) {
  std::vector<uint16_t> half(static_cast<size_t>(n) * k);
  for (size_t i = 0; i < half.size(); ++i) {
    if (!float_to_half_exact(w[i], &half[i])) {
      pack_weights<V>(w, n, k, out);
      return false;
    }
  }
  pack_halves<V>(half.data(), n, k, out);
  return true;
}

// The micro-kernel reads packed B as floats or as halves widened in the register (exact either way).
template <class V>
inline typename V::reg load_b(const float* p) { return V::load(p); }
template <class V>
inline typename V::reg load_b(const uint16_t* p) { return V::load_half(p); }

// The FP32 micro-kernel's view of the epilogue: one panel's bias and the tile's residual rows.
struct TileEpilogue {
  const float* bias;      // NR values for this panel, or null
  Act act;
  const float* residual;  // row 0 of this tile, or null
  int ldr;
};

// An epilogue's activation of one vector (act is not kNone).
template <class V>
inline typename V::reg activate(typename V::reg v, Act act) {
  return act == Act::kGelu ? simd::gelu_erf<V>(v) : act == Act::kGeluTanh ? simd::gelu_tanh<V>(v) : simd::silu<V>(v);
}

// Row-wise kernels split rows the same way everywhere: chunks of kRowsPerTask, fn(row) for each; fewer rows than
// two chunks a thread are split into two chunks a thread (one sentence's LayerNorms and quantizations, 16 rows, would
// otherwise run on one thread while the others wait). Rows are independent: the split never changes a bit.
constexpr int kRowsPerTask = 16;
template <class F>
inline void parallel_rows(ThreadPool& pool, int rows, int nth, F&& fn) {
  const int threads = nth > 0 ? std::min(nth, pool.size()) : pool.size();
  const int per = rows >= 2 * threads * kRowsPerTask ? kRowsPerTask : std::max(1, (rows + 2 * threads - 1) / (2 * threads));
  pool.parallel_for(
      (rows + per - 1) / per,
      [&](int64_t t, int) {
        const int r1 = std::min(rows, static_cast<int>(t + 1) * per);
        for (int r = static_cast<int>(t) * per; r < r1; ++r) fn(r);
      },
      nth);
}

// How far ahead of its reads a GEMM micro-kernel prefetches a weight panel that comes from memory (the first block of
// rows of a task; the next blocks find the panel in L1). A short input (one sentence: a few rows) uses each weight a
// handful of times, so the GEMM streams the weights and waited on each panel's next lines: the hardware prefetchers
// do not run this far ahead. Zen 5, FP32, one 16-token sentence (bench/results/development-ab.md, step 10): the
// embedded MiniLM 1.36-1.56 -> 0.83-0.99 ms (FP32 panels 1.34-1.50 -> 1.06-1.16), all-mpnet-base-v2 10.6-12.4 ->
// 8.5-9.0 ms; 32 x 128 level. 2048 and 4096 bytes ahead gain less, 16384 the same. The INT8 and BF16 micro-kernels do
// the same: one BF16 sentence 0.73-0.79 -> 0.59-0.60 ms while this machine's weights came from memory (step 11),
// INT8 within 2-4% (it reads the fewest bytes).
constexpr int kPanelPrefetchBytes = 8192;

// Prefetches the `bytes` of a panel step (whole 64-byte lines) kPanelPrefetchBytes past p.
inline void prefetch_panel_step(const void* p, int bytes) {
#if defined(__GNUC__)
  const char* q = static_cast<const char*>(p) + kPanelPrefetchBytes;
  for (int x = 0; x < bytes; x += 64) __builtin_prefetch(q + x, 0, 3);
#else
  (void)p, (void)bytes;
#endif
}

// acc[M][NV] over kc steps of A (rows of stride lda) against a packed slice b ([kc][NR]).
// load_c: continue sums already in C (later K blocks); epi: non-null on the last K block. kPrefetch: b comes from
// memory: prefetch ahead of it.
template <class V, int M, class B, bool kPrefetch = false>
inline void gemm_ukernel(int kc, const float* a, int lda, const B* b, float* c, int ldc, bool load_c,
                         const TileEpilogue* epi) {
  using R = typename V::reg;
  constexpr int NV = GemmShape<V>::NV;
  constexpr int W = V::W;
  constexpr int NR = NV * W;
  R acc[M][NV];
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = load_c ? V::loadu(c + i * ldc + j * W) : V::zero();
  for (int kk = 0; kk < kc; ++kk) {
    R bv[NV];
    if constexpr (kPrefetch) prefetch_panel_step(b + kk * NR, NR * static_cast<int>(sizeof(B)));
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = load_b<V>(b + kk * NR + j * W);
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      R av = V::set1(a[i * lda + kk]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
    }
  }
  if (epi) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      R bias = epi->bias ? V::loadu(epi->bias + j * W) : V::zero();
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
        R v = V::add(acc[i][j], bias);
        if (epi->act != Act::kNone) v = activate<V>(v, epi->act);
        if (epi->residual) v = V::add(v, V::loadu(epi->residual + i * epi->ldr + j * W));
        acc[i][j] = v;
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) V::storeu(c + i * ldc + j * W, acc[i][j]);
}

template <class V, int M = GemmShape<V>::MR, class B>
inline void gemm_ukernel_rows(int rows, int kc, const float* a, int lda, const B* b, float* c, int ldc,
                              bool load_c, const TileEpilogue* epi, bool prefetch) {
  if constexpr (M > 1) {
    if (rows < M) return gemm_ukernel_rows<V, M - 1, B>(rows, kc, a, lda, b, c, ldc, load_c, epi, prefetch);
  }
  if (prefetch) gemm_ukernel<V, M, B, true>(kc, a, lda, b, c, ldc, load_c, epi);
  else gemm_ukernel<V, M, B>(kc, a, lda, b, c, ldc, load_c, epi);
}

// One task: rows [m0, m0+mc) x one panel, all of K.
template <class V>
void gemm_tile(const GemmArgs& g, int m0, int mc, int panel) {
  constexpr int MR = GemmShape<V>::MR, KC = GemmShape<V>::KC, MC = GemmShape<V>::MC;
  constexpr int NR = gemm_nr<V>();
  const PackedMatrix& w = *g.w;
  const int n0 = panel * NR;
  const int nvalid = std::min(NR, w.n - n0);
  const size_t panel_at = static_cast<size_t>(panel) * NR * w.k;
  const float* bpanel = w.f16() ? nullptr : w.data.data() + panel_at;
  // Half panels: the micro-kernel widens B as it loads it (the same values, so the same sums as FP32 panels). Each K
  // block of a panel was widened once into an FP32 slice for tasks of more than 3 register blocks of rows until the
  // Zen 5 measured that slower at every size (bench/results/development-ab.md, step 15: the embedded MiniLM 32 x 128
  // 203-214 -> 198-200 ms, one 128-token sentence 6.4-6.9 -> 6.2-6.3 ms, also on the AVX2 kernels); on the Zen 4
  // before, widening once had been ~3% faster at 48 tokens.
  const uint16_t* hpanel = w.f16() ? w.half.data() + panel_at : nullptr;

  // A partial last panel computes into a padded scratch tile, then copies the valid columns out.
  alignas(64) float tmp_c[MC * NR];
  alignas(64) float tmp_bias[NR];
  alignas(64) float tmp_res[MC * NR];
  float* c = g.c + static_cast<size_t>(m0) * g.ldc + n0;
  int ldc = g.ldc;
  TileEpilogue epi{g.bias ? g.bias + n0 : nullptr, g.act,
               g.residual ? g.residual + static_cast<size_t>(m0) * g.ldr + n0 : nullptr, g.ldr};
  const bool partial = nvalid < NR;
  if (partial) {
    c = tmp_c;
    ldc = NR;
    if (g.bias) {
      std::fill(tmp_bias, tmp_bias + NR, 0.f);
      std::copy(g.bias + n0, g.bias + n0 + nvalid, tmp_bias);
      epi.bias = tmp_bias;
    }
    if (g.residual) {
      for (int i = 0; i < mc; ++i) {
        std::fill(tmp_res + i * NR, tmp_res + (i + 1) * NR, 0.f);
        std::copy(epi.residual + static_cast<size_t>(i) * g.ldr, epi.residual + static_cast<size_t>(i) * g.ldr + nvalid,
                  tmp_res + i * NR);
      }
      epi.residual = tmp_res;
      epi.ldr = NR;
    }
  }
  for (int k0 = 0; k0 < w.k; k0 += KC) {
    const int kc = std::min(KC, w.k - k0);
    const bool last = k0 + kc >= w.k;
    // the first block of rows reads the panel from memory (and prefetches ahead); the others find it in L1 or L2
    for (int i = 0; i < mc; i += MR) {
      const int rows = std::min(MR, mc - i);
      TileEpilogue e = epi;
      if (e.residual) e.residual += static_cast<size_t>(i) * e.ldr;
      const float* a = g.a + static_cast<size_t>(m0 + i) * g.lda + k0;
      float* ci = c + static_cast<size_t>(i) * ldc;
      if (hpanel)
        gemm_ukernel_rows<V>(rows, kc, a, g.lda, hpanel + static_cast<size_t>(k0) * NR, ci, ldc, k0 > 0, last ? &e : nullptr,
                             i == 0);
      else
        gemm_ukernel_rows<V>(rows, kc, a, g.lda, bpanel + static_cast<size_t>(k0) * NR, ci, ldc, k0 > 0, last ? &e : nullptr,
                             i == 0);
    }
  }
  if (partial) {
    for (int i = 0; i < mc; ++i)
      std::copy(tmp_c + i * NR, tmp_c + i * NR + nvalid, g.c + static_cast<size_t>(m0 + i) * g.ldc + n0);
  }
}

template <class V>
void gemm(const GemmArgs& g, ThreadPool& pool, int nth) {
  constexpr int MC = GemmShape<V>::MC;
  if (g.m <= 0 || g.w->n <= 0) return;
  const int panels = g.w->panels();
  const int mblocks = (g.m + MC - 1) / MC;
  pool.parallel_for(
      static_cast<int64_t>(mblocks) * panels,
      [&](int64_t t, int) {
        const int mb = static_cast<int>(t / panels), p = static_cast<int>(t % panels);
        const int m0 = mb * MC;
        gemm_tile<V>(g, m0, std::min(MC, g.m - m0), p);
      },
      nth);
}

// ----------------------------------------------------------------------------------------- attention
// Per (sequence, head) task: K of that head is transposed once into scratch (head_dim x L, padded to whole
// vectors) so scores for a tile of query rows come out a vector of keys at a time; softmax is exact FP32 over
// the row; P.V accumulates in registers. Scores live only in a per-thread row buffer, never in a full matrix.
// Register tiling per ISA: score tiles are SROWS query rows x JV key vectors, P.V tiles ROWS rows x DV value
// vectors; sized to fit 32 zmm (AVX-512) or 16 ymm registers with the operands.
template <class V>
struct AttnShape { static constexpr int ROWS = 4, SROWS = 4, JV = 2, DV = 2; };
#if defined(BERTRT_SIMD_AVX512)
template <>
struct AttnShape<simd::Avx512> { static constexpr int ROWS = 8, SROWS = 4, JV = 4, DV = 2; };
#endif
constexpr int kAttnMaxRows = 8;

// FP32 runs a layer over groups of up to 768 tokens (encoder.cc), so a group's Q/K/V (3.5 MB for MiniLM, 7 MB for a
// 768-wide model) is past L2 when attention reads it, and a (sequence, head) task reads only its head's 2-4 lines of
// each row: transposing K, loading Q and reading V waited on memory. Each task therefore prefetches the rows of the
// task after it (the next in its thread's share, most often) into L2 while it computes: after each tile of its own
// query rows, the same fraction of the next task's rows. Only a hint, no value changes. Zen 5, MiniLM FP32 32 x 128:
// faster in 20 of 25 alternating rounds, median paired ratios 0.95-0.97 (bench/results/development-ab.md, step 25).
// The BF16 attention (BF16 and INT8) runs on groups of about one 128-token sequence, whose Q/K/V are still in L2:
// level there, so it does not prefetch.
class AttnPrefetch {
 public:
  // Whether a call's Q/K/V is large enough to need it: at most 1 MB (one short sentence's: 74 KB) is taken to be in
  // cache already.
  static bool wanted(const AttentionArgs& g) {
    if (g.n_seqs <= 0) return false;
    const size_t rows = static_cast<size_t>(g.cu_seqlens[g.n_seqs] - g.cu_seqlens[0]);
    return rows * static_cast<size_t>(g.ld_qkv) * sizeof(float) > (size_t{1} << 20);
  }
  AttnPrefetch() = default;  // prefetches nothing
  AttnPrefetch(const AttentionArgs& g, int64_t task) {
    const int64_t next = task + 1;
    if (next >= static_cast<int64_t>(g.n_seqs) * g.n_heads) return;
    const int sq = static_cast<int>(next / g.n_heads), h = static_cast<int>(next % g.n_heads);
    rows_ = std::max(0, g.cu_seqlens[sq + 1] - g.cu_seqlens[sq]);
    q_ = reinterpret_cast<const char*>(g.qkv + static_cast<size_t>(g.cu_seqlens[sq]) * g.ld_qkv + h * g.head_dim);
    ld_ = static_cast<size_t>(g.ld_qkv) * sizeof(float);
    part_ = static_cast<size_t>(g.n_heads) * g.head_dim * sizeof(float);
    bytes_ = static_cast<size_t>(g.head_dim) * sizeof(float);
  }
  // `done` of this task's `total` query rows are finished: prefetch the next task's rows up to the same fraction.
  void advance(int done, int total) {
    if (rows_ == 0 || total <= 0) return;
    const int upto = static_cast<int>((static_cast<int64_t>(rows_) * std::min(done, total) + total - 1) / total);
#if defined(__GNUC__)
    for (; next_ < upto; ++next_)
      for (int part = 0; part < 3; ++part) {  // the row's Q, K and V of the head
        const char* p = q_ + static_cast<size_t>(next_) * ld_ + part * part_;
        const char* line = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63});
        for (; line < p + bytes_; line += 64) __builtin_prefetch(line, 0, 2);
      }
#endif
    next_ = std::max(next_, upto);
  }

 private:
  const char* q_ = nullptr;
  size_t ld_ = 0, part_ = 0, bytes_ = 0;
  int rows_ = 0, next_ = 0;
};

template <class V>
struct AttnScratch {
  AlignedBuffer<float> kt;      // [head_dim][lp]
  AlignedBuffer<float> scores;  // [kAttnMaxRows][lp]
};

// Scores of RI query rows against keys [j0, j1) (multiples of W; kt and s have row stride lp).
template <class V, int RI>
inline void attn_scores(const float* const* q, const float* kt, int lp, int dh, float* s, int j0, int j1) {
  using R = typename V::reg;
  constexpr int W = V::W;
  constexpr int JV = AttnShape<V>::JV;
  int j = j0;
  for (; j + JV * W <= j1; j += JV * W) {
    R acc[RI][JV];
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r)
#pragma GCC unroll 4
      for (int x = 0; x < JV; ++x) acc[r][x] = V::zero();
    for (int d = 0; d < dh; ++d) {
      const float* kr = kt + static_cast<size_t>(d) * lp + j;
      R kv[JV];
#pragma GCC unroll 4
      for (int x = 0; x < JV; ++x) kv[x] = V::load(kr + x * W);
#pragma GCC unroll 4
      for (int r = 0; r < RI; ++r) {
        const R qv = V::set1(q[r][d]);
#pragma GCC unroll 4
        for (int x = 0; x < JV; ++x) acc[r][x] = V::fmadd(qv, kv[x], acc[r][x]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r)
#pragma GCC unroll 4
      for (int x = 0; x < JV; ++x) V::store(s + r * lp + j + x * W, acc[r][x]);
  }
  for (; j < j1; j += W) {
    R acc[RI];
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r) acc[r] = V::zero();
    for (int d = 0; d < dh; ++d) {
      R kv = V::load(kt + static_cast<size_t>(d) * lp + j);
#pragma GCC unroll 4
      for (int r = 0; r < RI; ++r) acc[r] = V::fmadd(V::set1(q[r][d]), kv, acc[r]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r) V::store(s + r * lp + j, acc[r]);
  }
}

// P.V of RI rows for the NV value vectors from column d0, over keys [j0, len). NV is a template argument: a
// run-time count (the vectors past it zero) made GCC keep the loaded V vectors on the stack, and every FMA waited
// for their store to be forwarded (a third of the attention's time at head_dim 32).
template <class V, int RI, int NV>
__attribute__((noinline)) void attn_pv_tile(const float* s, int lp, int len, const float* v0, int ldv, int d0, float* const* out,
                                           const float* inv_sum, int j0) {
  using R = typename V::reg;
  constexpr int W = V::W;
  R acc[RI][NV];
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r)
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) acc[r][x] = V::zero();
  for (int j = j0; j < len; ++j) {
    const float* vr = v0 + static_cast<size_t>(j) * ldv + d0;
    R vv[NV];
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) vv[x] = V::loadu(vr + x * W);
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r) {
      const R p = V::set1(s[r * lp + j]);
#pragma GCC unroll 4
      for (int x = 0; x < NV; ++x) acc[r][x] = V::fmadd(p, vv[x], acc[r][x]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r)
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) V::storeu(out[r] + d0 + x * W, V::mul(acc[r][x], V::set1(inv_sum[r])));
}

// P.V over keys [j0, len).
template <class V, int RI>
inline void attn_pv(const float* s, int lp, int len, const float* v0, int ldv, int dh, float* const* out,
                    const float* inv_sum, int j0) {
  constexpr int W = V::W;
  constexpr int DV = AttnShape<V>::DV;
  static_assert(DV == 2, "whole tiles of two value vectors, then one");
  int d0 = 0;
  for (; d0 + DV * W <= dh; d0 += DV * W) attn_pv_tile<V, RI, DV>(s, lp, len, v0, ldv, d0, out, inv_sum, j0);
  for (; d0 + W <= dh; d0 += W) attn_pv_tile<V, RI, 1>(s, lp, len, v0, ldv, d0, out, inv_sum, j0);
  for (int d = d0; d < dh; ++d) {  // head_dim not a multiple of the vector width
    for (int r = 0; r < RI; ++r) {
      float a = 0.f;
      for (int j = j0; j < len; ++j) a += s[r * lp + j] * v0[static_cast<size_t>(j) * ldv + d];
      out[r][d] = a * inv_sum[r];
    }
  }
}

template <class V, int RI>
inline void attn_rows(const AttentionArgs& g, int row0, int len, int h, int i0, AttnScratch<V>& sc, int lp) {
  using R = typename V::reg;
  constexpr int W = V::W;
  const int dh = g.head_dim, hidden = g.n_heads * g.head_dim;
  const float* q[RI];
  float* out[RI];
  for (int r = 0; r < RI; ++r) {
    q[r] = g.qkv + static_cast<size_t>(row0 + i0 + r) * g.ld_qkv + h * dh;
    out[r] = g.out + static_cast<size_t>(row0 + i0 + r) * g.ld_out + h * dh;
  }
  float* s = sc.scores.data();
  // a sliding window needs only the keys within `window` of the tile's rows: [j0, j1) in whole vectors, the rest of
  // the row never computed (a local layer's attention costs its window, not the sequence)
  int j0 = 0, j1 = lp;
  if (g.window > 0) {
    j0 = std::max(0, i0 - g.window) / W * W;
    j1 = std::min(lp, (i0 + RI + g.window + W - 1) / W * W);
  }
  constexpr int SR = AttnShape<V>::SROWS;
  if constexpr (RI > SR) {
    static_assert(RI == 2 * SR, "score tiles split the row tile in two halves");
    attn_scores<V, SR>(q, sc.kt.data(), lp, dh, s, j0, j1);
    attn_scores<V, SR>(q + SR, sc.kt.data(), lp, dh, s + SR * lp, j0, j1);
  } else {
    attn_scores<V, RI>(q, sc.kt.data(), lp, dh, s, j0, j1);
  }
  // Each step of the softmax runs over all RI rows before the next, so the rows' reductions (maximum, sum,
  // reciprocal) are independent chains that overlap instead of one row's latency after another's.
  float inv_sum[RI];
  const R scale = V::set1(g.scale);
  for (int r = 0; r < RI; ++r) {
    float* sr = s + r * lp;
    if (g.rel_bias) add_relative_bias(g, h, i0 + r, len, sr);
    if (g.c2p) add_disentangled(g, h, row0, i0 + r, len, sr);
    if (g.window > 0) mask_outside_window(g.window, i0 + r, len, sr, j0, j1);
    for (int j = std::max(len, j0); j < j1; ++j) sr[j] = -std::numeric_limits<float>::infinity();
  }
  R mx[RI], sum[RI];
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r) mx[r] = V::set1(-std::numeric_limits<float>::infinity()), sum[r] = V::zero();
  for (int j = j0; j < j1; j += W)
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r) mx[r] = V::max(mx[r], V::load(s + r * lp + j));
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r) mx[r] = V::set1(V::reduce_max(mx[r]) * g.scale);
  for (int j = j0; j < j1; j += W)
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r) {
      float* sr = s + r * lp;
      const R e = simd::exp_neg<V>(V::sub(V::mul(V::load(sr + j), scale), mx[r]));
      V::store(sr + j, e);
      sum[r] = V::add(sum[r], e);
    }
  // Padding columns hold exp(-87) ~ 1e-38 after the clamp in exp_neg: far below one ulp of a sum that is
  // at least 1 (the maximum contributes exactly 1), and P.V reads only [0, len).
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r) inv_sum[r] = 1.f / V::reduce_add(sum[r]);
  // Keys masked out by the window are P.V inputs here (unlike the padding past len): exactly 0, not exp(-87),
  // whose products with V would be subnormal (a microcode assist each, slower than the window saves).
  if (g.window > 0) {
    for (int r = 0; r < RI; ++r) {
      float* sr = s + r * lp;
      const int i = i0 + r, lo = std::max(j0, i - g.window), hi = std::min(j1, i + g.window + 1);
      for (int j = j0; j < lo; ++j) sr[j] = 0.f;
      for (int j = hi; j < j1; ++j) sr[j] = 0.f;
    }
  }
  const float* v0 = g.qkv + static_cast<size_t>(row0) * g.ld_qkv + 2 * hidden + h * dh;
  attn_pv<V, RI>(s, lp, std::min(len, j1), v0, g.ld_qkv, dh, out, inv_sum, j0);
}

#if defined(BERTRT_SIMD_AVX512)
// r[0..15] (16 rows of 16 lanes) transposed in registers: out[c] holds lane c of every row. Unpacks pair lanes within
// 128-bit quarters, 64-bit shuffles make 4 x 4 blocks, two rounds of quarter shuffles move the blocks into place.
inline void transpose16x16(const __m512 r[16], __m512 out[16]) {
  __m512 t[16], u[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 4; ++k) {  // u[4k + e], quarter q: lane 4q + e of rows 4k .. 4k + 3
    u[4 * k + 0] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
    u[4 * k + 1] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
    u[4 * k + 2] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
    u[4 * k + 3] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
  }
  for (int e = 0; e < 4; ++e) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88), v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
    const __m512 w0 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88), w1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
    out[e] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    out[4 + e] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    out[8 + e] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
    out[12 + e] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
  }
}
#endif

#if defined(BERTRT_SIMD_AVX512)
// dst[c][j] for rows j in [0, lp) (lp a multiple of 16, dst 64-byte aligned) and lanes c in [0, ncols), where
// load(j, c0) gives row j's lanes c0 .. c0 + 15 (zero past ncols); rows [len, lp) are zero. 16 x 16 blocks go
// through registers: whole-row vector loads keep many rows in flight (a scalar copy waited on one cache line at a
// time, a quarter of the attention's time once the group's Q/K/V outgrew L2).
template <class Load>
inline void transpose_rows16(int len, int lp, int ncols, Load load, float* dst) {
  for (int j0 = 0; j0 < lp; j0 += 16)
    for (int c0 = 0; c0 < ncols; c0 += 16) {
      __m512 r[16], c[16];
      for (int i = 0; i < 16; ++i) r[i] = j0 + i < len ? load(j0 + i, c0) : _mm512_setzero_ps();
      transpose16x16(r, c);
      const int nc = std::min(16, ncols - c0);
      for (int i = 0; i < nc; ++i) _mm512_store_ps(dst + static_cast<size_t>(c0 + i) * lp + j0, c[i]);
    }
}
#endif

// kt[d][j] = K[j][d] for one head: dh x lp, keys [len, lp) zero.
template <class V>
inline void transpose_keys(const float* k0, int ld, int len, int lp, int dh, float* kt) {
#if defined(BERTRT_SIMD_AVX512)
  if constexpr (std::is_same_v<V, simd::Avx512>) {
    transpose_rows16(len, lp, dh, [&](int j, int d0) {
      const __mmask16 m = static_cast<__mmask16>((1u << std::min(16, dh - d0)) - 1);
      return _mm512_maskz_loadu_ps(m, k0 + static_cast<size_t>(j) * ld + d0);
    }, kt);
    return;
  }
#endif
  for (int j = 0; j < lp; ++j)
    for (int d = 0; d < dh; ++d) kt[static_cast<size_t>(d) * lp + j] = j < len ? k0[static_cast<size_t>(j) * ld + d] : 0.f;
}

template <class V>
void attention(const AttentionArgs& g, ThreadPool& pool, int nth) {
  constexpr int W = V::W;
  const int dh = g.head_dim, hidden = g.n_heads * g.head_dim;
  const bool prefetch = AttnPrefetch::wanted(g);
  pool.parallel_for(
      static_cast<int64_t>(g.n_seqs) * g.n_heads,
      [&](int64_t t, int) {
        static thread_local AttnScratch<V> sc;
        const int sq = static_cast<int>(t / g.n_heads), h = static_cast<int>(t % g.n_heads);
        const int row0 = g.cu_seqlens[sq], rows = g.cu_seqlens[sq + 1] - row0;
        if (rows <= 0) return;
        const int len = g.key_lens ? std::clamp(g.key_lens[sq], 1, rows) : rows;  // keys; every row queries
        const int lp = (len + W - 1) / W * W;
        sc.kt.resize(static_cast<size_t>(dh) * lp);
        sc.scores.resize(static_cast<size_t>(kAttnMaxRows) * lp);
        transpose_keys<V>(g.qkv + static_cast<size_t>(row0) * g.ld_qkv + hidden + h * dh, g.ld_qkv, len, lp, dh, sc.kt.data());
        AttnPrefetch ahead = prefetch ? AttnPrefetch(g, t) : AttnPrefetch();
        int i = 0;
        constexpr int ROWS = AttnShape<V>::ROWS;
        for (; i + ROWS <= rows; i += ROWS, ahead.advance(i, rows)) attn_rows<V, ROWS>(g, row0, len, h, i, sc, lp);
        if constexpr (ROWS > 4) {
          for (; i + 4 <= rows; i += 4) attn_rows<V, 4>(g, row0, len, h, i, sc, lp);
        }
        for (; i < rows; ++i) attn_rows<V, 1>(g, row0, len, h, i, sc, lp);
        ahead.advance(rows, rows);
      },
      nth);
}

// ----------------------------------------------------------------------------------------- LayerNorm
template <class V>
inline void layernorm_row(float* x, const float* gamma, const float* beta, int h, float eps) {
  using R = typename V::reg;
  constexpr int W = V::W;
  const int hv = h / W * W;
  R s = V::zero();
  for (int i = 0; i < hv; i += W) s = V::add(s, V::loadu(x + i));
  float sum = V::reduce_add(s);
  for (int i = hv; i < h; ++i) sum += x[i];
  const float mean = sum / h;
  const R mv = V::set1(mean);
  R q = V::zero();
  for (int i = 0; i < hv; i += W) {
    R d = V::sub(V::loadu(x + i), mv);
    q = V::fmadd(d, d, q);
  }
  float var = V::reduce_add(q);
  for (int i = hv; i < h; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.f / std::sqrt(var / h + eps);
  const R rv = V::set1(rstd);
  for (int i = 0; i < hv; i += W) {
    R y = V::mul(V::sub(V::loadu(x + i), mv), rv);
    V::storeu(x + i, V::fmadd(y, V::loadu(gamma + i), V::loadu(beta + i)));
  }
  for (int i = hv; i < h; ++i) x[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
}

template <class V>
void add_layernorm(float* x, const float* residual, const float* gamma, const float* beta, int rows, int h, float eps,
                   ThreadPool& pool, int nth) {
  constexpr int W = V::W;
  parallel_rows(pool, rows, nth, [&](int r) {
    float* xr = x + static_cast<size_t>(r) * h;
    if (residual) {
      const float* rr = residual + static_cast<size_t>(r) * h;
      int i = 0;
      for (; i + W <= h; i += W) V::storeu(xr + i, V::add(V::loadu(xr + i), V::loadu(rr + i)));
      for (; i < h; ++i) xr[i] += rr[i];
    }
    layernorm_row<V>(xr, gamma, beta, h, eps);
  });
}

template <class V>
void embed_layernorm(const EmbedArgs& g, ThreadPool& pool, int nth) {
  using R = typename V::reg;
  constexpr int W = V::W;
  const int h = g.h;
  // the word rows are scattered over a table of tens of MB: each row's lines are fetched two rows ahead
  const size_t word_bytes = (g.word_half ? sizeof(uint16_t) : sizeof(float)) * static_cast<size_t>(h);
  parallel_rows(pool, g.tokens, nth, [&](int r) {
#if defined(__GNUC__)
    if (r + 2 < g.tokens) {
      const size_t ahead = static_cast<size_t>(g.ids[r + 2]) * h;
      const char* p = g.word_half ? reinterpret_cast<const char*>(g.word_half + ahead) : reinterpret_cast<const char*>(g.word + ahead);
      for (size_t x = 0; x < word_bytes; x += 64) __builtin_prefetch(p + x, 0, 1);
    }
#endif
    float* o = g.out + static_cast<size_t>(r) * h;
    const size_t row = static_cast<size_t>(g.ids[r]) * h;
    const float* we = g.word_half ? nullptr : g.word + row;
    const uint16_t* wh = g.word_half ? g.word_half + row : nullptr;
    const float* pe = g.pos ? g.pos + static_cast<size_t>(g.positions[r]) * h : nullptr;
    const float* te = g.type ? g.type + static_cast<size_t>(g.type_ids ? g.type_ids[r] : 0) * h : nullptr;
    int i = 0;
    for (; i + W <= h; i += W) {
      R v = wh ? V::load_half(wh + i) : V::loadu(we + i);
      if (pe) v = V::add(v, V::loadu(pe + i));
      if (te) v = V::add(v, V::loadu(te + i));
      V::storeu(o + i, v);
    }
    for (; i < h; ++i) o[i] = (wh ? simd::half_bits_to_float(wh[i]) : we[i]) + (pe ? pe[i] : 0.f) + (te ? te[i] : 0.f);
    layernorm_row<V>(o, g.gamma, g.beta, h, g.eps);
  });
}

}  // namespace
}  // namespace bertrt::cpu

#include "amx.h"
#include "kernels_bf16.h"
#include "kernels_s8.h"

namespace bertrt::cpu {
namespace {

template <class V>
const Kernels* make_kernels(const char* name, KernelNeeds needs) {
  static const Kernels k{name,
                         needs,
                         gemm_nr<V>(),
                         &pack_weights<V>,
                         &gemm<V>,
                         &attention<V>,
                         &add_layernorm<V>,
                         &embed_layernorm<V>,
                         &pack_weights_s8<V>,
                         &quantize_rows<V>,
                         &layernorm_quantize<V>,
                         &gemm_s8<V>,
#if defined(BERTRT_SIMD_AVX512)
                         std::is_same_v<V, simd::Avx512> ? &pack_weights_bf16 : nullptr,
                         std::is_same_v<V, simd::Avx512> ? &convert_rows_bf16 : nullptr,
                         std::is_same_v<V, simd::Avx512> ? &layernorm_bf16 : nullptr,
                         std::is_same_v<V, simd::Avx512> ? &gemm_bf16 : nullptr,
                         std::is_same_v<V, simd::Avx512> ? &attention_bf16 : nullptr,
#else
                         nullptr,
                         nullptr,
                         nullptr,
                         nullptr,
                         nullptr,
#endif
                         &pack_weights_f16<V>,
                         &pack_halves<V>};
  return &k;
}

}  // namespace
}  // namespace bertrt::cpu
