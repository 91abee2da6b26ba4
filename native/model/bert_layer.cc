// The post-LayerNorm layer of BERT and the families shaped like it (RoBERTa / XLM-R / CamemBERT, MPNet, ALBERT,
// ELECTRA, DeBERTa, NomicBERT, GTE): fused Q/K/V (rotated by RoPE for NomicBERT and GTE), attention (with MPNet's
// relative bias or DeBERTa's disentangled terms), the output projection with the residual in its epilogue, LayerNorm,
// the FFN with its activation in the epilogue (gated: times a second projection), residual, LayerNorm.
// Each layer runs over groups of whole sequences so that a group's intermediates stay in cache from step to step.
#include <algorithm>
#include <cmath>

#include "encoder.h"
#include "internal.h"

namespace bertrt {

// The bucket of a key `rel` = j - i tokens from its query, as MPNet (after T5) computes it: half the buckets for
// keys before the query and half for keys after; within a half, distances below a quarter of the buckets each
// have their own, and longer ones share log-spaced buckets up to max_distance (the last bucket holds the rest).
// The log is evaluated in FP32 as PyTorch does, so bucket edges fall where the reference puts them.
int relative_bucket(int rel, int buckets, int max_distance) {
  const int half = buckets / 2, exact = half / 2;
  int ret = rel > 0 ? half : 0;  // n = -rel < 0: keys after the query
  const int n = std::abs(rel);
  if (n < exact) return ret + n;
  const float ratio = std::log(static_cast<float>(n) / static_cast<float>(exact)) /
                      static_cast<float>(std::log(static_cast<double>(max_distance) / exact));
  const int large = exact + static_cast<int>(ratio * static_cast<float>(half - exact));
  return ret + std::min(large, half - 1);
}

void Encoder::relative_table(int max_len, EncoderScratch& s) const {
  s.rel_len = 0;
  if (rel_.size() == 0 || max_len <= 0) return;
  const int heads = cfg_.num_attention_heads, n = 2 * max_len - 1, B = cfg_.relative_attention_buckets;
  s.rel.resize(static_cast<size_t>(heads) * n);
  for (int d = 0; d < n; ++d) {
    const int bucket = relative_bucket(d - (max_len - 1), B, cfg_.relative_attention_max_distance);
    for (int h = 0; h < heads; ++h) s.rel.data()[static_cast<size_t>(h) * n + d] = rel_.data()[static_cast<size_t>(bucket) * heads + h];
  }
  s.rel_len = max_len;
}

// inter = act(x W_in^T) (already computed) times the second projection of the same rows, x W_up^T, which reads the
// input as L.inter prepared it (one quantized or BF16 copy; INT8's smoothing factors are shared for that reason).
void Encoder::gate_product(const EncoderLayer& L, const float* y, float* inter, int T, GroupScratch& g, ThreadPool& pool,
                           int nth) const {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  g.gate.resize(static_cast<size_t>(T) * I);
  float* up = g.gate.data();
  L.gate.forward(y, H, T, nullptr, up, I, g.local, pool, nth, /*prepared=*/true);
  constexpr int kRows = 16;
  pool.parallel_for((T + kRows - 1) / kRows, [&](int64_t task, int) {
    const size_t a = static_cast<size_t>(task) * kRows * I, e = std::min(static_cast<size_t>(T), static_cast<size_t>(task + 1) * kRows) * I;
    for (size_t i = a; i < e; ++i) inter[i] *= up[i];
  }, nth);
}

void Encoder::layer(const EncoderLayer& L, Precision p, float* x, const BatchView& b, const int32_t* positions, EncoderScratch& s,
                    ThreadPool& pool, int nth, bool x_quantized, const EncoderLayer* next, float* ln1_max) const {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const bool int8 = p == Precision::kINT8, bf16 = p == Precision::kBF16;
  // (sizes s.in for all the batch's rows: the groups below only write their own rows of it)
  L.qkv.prepare(x, H, b.tokens, s.in, pool, nth, x_quantized);
  cpu::AttentionArgs base = attention_args();
  if (s.rel_len > 0) base.rel_bias = s.rel.data(), base.rel_len = s.rel_len;
  // The whole layer, a group of whole sequences at a time: every step but attention is row by row, and attention
  // stays within a sequence, so the group's intermediates (Q/K/V, context, FFN activations: ~0.5-2 MB) stay in
  // cache between the steps instead of passing through [T][3H] and [T][I] buffers far larger than L2. Group [s0, s1)
  // in the arena g, its steps on `steps` threads (0: the pool's):
  const auto run_group = [&](int s0, int s1, GroupScratch& g, int steps) {
    const int r0 = group_rows(b, s0, s1, g), T = b.cu_seqlens[s1] - r0;
    if (T == 0) return;
    g.size(T, H, I);
    float *y = g.y.data(), *qkv = g.qkv.data(), *ctx = g.ctx.data(), *inter = g.inter.data();
    float* xg = x + static_cast<size_t>(r0) * H;
    L.qkv.run(x, H, s.in, r0, T, nullptr, qkv, 3 * H, pool, steps);
    if (cfg_.rotary) rotate_group(qkv, b, s0, s1, r0, positions, s, pool, steps);
    cpu::AttentionArgs at = base;
    at.qkv = qkv, at.out = ctx;
    at.cu_seqlens = g.cu.data(), at.n_seqs = s1 - s0, at.key_lens = b.key_lens ? b.key_lens + s0 : nullptr;
    if (cfg_.disentangled_span > 0) disentangled_terms(L, qkv, T, s, g, at, pool, steps);
    // BF16: attention and the FFN's first GEMM write their outputs in bfloat16 for the GEMM after them (the bits a
    // conversion pass would give, without the pass); a gated FFN multiplies the floats first
    if (bf16) {
      cpu::size_bf16_rows(&g.local.bq, T, H);
      at.out_bf16 = g.local.bq.data.data(), at.ld_out_bf16 = g.local.bq.kpad;
    }
    attend(p, at, pool, steps);
    L.attn_out.forward(ctx, H, T, xg, y, H, g.local, pool, steps, /*prepared=*/at.out_bf16 != nullptr);
    // INT8 and BF16: a LayerNorm before a GEMM also writes its output in the GEMM's input form (quantized, or
    // rounded to bfloat16), in the same pass over each row
    if (int8) L.ln1.apply_quantize(*k_.int8, y, T, L.inter, &g.local.q, 0, pool, steps);
    else if (bf16) L.ln1.apply_bf16(*k_.bf16, y, T, &g.local.bq, 0, pool, steps);
    else L.ln1.apply(*k_.fp32, y, T, pool, steps);
    if (ln1_max) fold_abs_max(y, T, H, ln1_max);
    const bool act_bf16 = bf16 && !cfg_.gated && I % 2 == 0;
    L.inter.forward(y, H, T, nullptr, inter, I, g.local, pool, steps, /*prepared=*/int8 || bf16, act_bf16 ? &g.act.bq : nullptr);
    if (cfg_.gated) gate_product(L, y, inter, T, g, pool, steps);
    L.out.forward(inter, I, T, y, xg, H, act_bf16 ? g.act : g.local, pool, steps, /*prepared=*/act_bf16);
    // the next layer's Q/K/V input: this group's rows of s.in, read above and not again in this layer
    if (int8 && next) L.ln2.apply_quantize(*k_.int8, xg, T, next->qkv, &s.in.q, r0, pool, steps);
    else if (bf16 && next) L.ln2.apply_bf16(*k_.bf16, xg, T, &s.in.bq, r0, pool, steps);
    else L.ln2.apply(*k_.fp32, xg, T, pool, steps);
  };
  // (not as tasks while calibrating: every group adds to ln1_max)
  run_groups(plan_layer(b, L, pool, nth, /*tasks=*/!ln1_max), pool, nth, run_group);
}

}  // namespace bertrt
