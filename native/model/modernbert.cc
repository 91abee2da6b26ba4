// ModernBERT's layer (transformers' ModernBertEncoderLayer): pre-LayerNorm without biases, fused Wqkv, rotary
// positions with a global and a local theta, every global_every-th layer global and the others a sliding window,
// a GeGLU MLP; the encoder ends with a final LayerNorm.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "encoder.h"

namespace bertrt {

void Encoder::bind_modern(EmbeddingWeights& emb) {
  final_ln_ = LayerNorm::take(emb.final_g, emb.final_b, cfg_.layer_norm_eps);
  rope_table(0, cfg_.rope_theta_global, 1.f);
  rope_table(1, cfg_.rope_theta_local, 1.f);
}

void Encoder::dynamic_rope_tables(const BatchView& b, EncoderScratch& s) const {
  s.dyn_of.assign(b.n_seqs, -1);
  if (cfg_.rope_dynamic == 0.f) return;
  const int dim = cfg_.hidden_size / cfg_.num_attention_heads, half = dim / 2;
  const float f = cfg_.rope_dynamic, trained = static_cast<float>(cfg_.rope_trained);
  int n = 0;
  for (int q = 0; q < b.n_seqs; ++q) {
    const int len = b.cu_seqlens[q + 1] - b.cu_seqlens[q];
    if (len <= cfg_.rope_trained) continue;
    // in FP32 as transformers computes it (_compute_dynamic_ntk_parameters with seq_len = len)
    const float base = cfg_.rope_theta_global *
                       std::pow(f * static_cast<float>(len) / trained - (f - 1.f), static_cast<float>(dim) / static_cast<float>(dim - 2));
    if (static_cast<int>(s.dyn.size()) <= n) s.dyn.emplace_back();
    AlignedBuffer<float>& t = s.dyn[n];
    t.resize(static_cast<size_t>(2) * len * half);
    float *cs = t.data(), *sn = t.data() + static_cast<size_t>(len) * half;
    for (int i = 0; i < half; ++i) {
      const float inv = 1.f / std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dim));
      for (int p = 0; p < len; ++p) {
        const float a = static_cast<float>(p) * inv;
        cs[static_cast<size_t>(p) * half + i] = std::cos(a);
        sn[static_cast<size_t>(p) * half + i] = std::sin(a);
      }
    }
    s.dyn_of[q] = n++;
  }
}

void Encoder::rotate_group(float* qkv, const BatchView& b, int s0, int s1, int r0, const int32_t* positions,
                           const EncoderScratch& s, ThreadPool& pool, int nth) const {
  const int H = cfg_.hidden_size, half = H / cfg_.num_attention_heads / 2;
  int q = s0;
  while (q < s1) {  // runs of sequences on the model's table, one call each; a long sequence on its own
    const int own = static_cast<int>(s.dyn_of.size()) > q ? s.dyn_of[q] : -1;
    int e = q + 1;
    if (own < 0)
      while (e < s1 && !(static_cast<int>(s.dyn_of.size()) > e && s.dyn_of[e] >= 0)) ++e;
    const int a = b.cu_seqlens[q], rows = b.cu_seqlens[e] - a;
    float* at = qkv + static_cast<size_t>(a - r0) * 3 * H;
    if (own < 0) {
      rotate(at, rows, positions + a, rope_cos_[0].data(), rope_sin_[0].data(), pool, nth);
    } else {
      const float* t = s.dyn[own].data();
      rotate(at, rows, positions + a, t, t + static_cast<size_t>(rows) * half, pool, nth);
    }
    q = e;
  }
}

void Encoder::rope_table(int t, float theta, float ntk) {
  // in FP32 as transformers computes them: inv_freq = 1 / base^(2i / dim), the angle position * inv_freq
  const int half = cfg_.hidden_size / cfg_.num_attention_heads / 2, P = cfg_.max_position_embeddings;
  rope_cos_[t].resize(static_cast<size_t>(P) * half), rope_sin_[t].resize(static_cast<size_t>(P) * half);
  const float base = theta * ntk, shrink = ntk == 1.f ? 1.f : std::pow(ntk, 2.f / static_cast<float>(2 * half));
  for (int i = 0; i < half; ++i) {
    float inv = 1.f / std::pow(base, static_cast<float>(2 * i) / static_cast<float>(2 * half));
    if (shrink != 1.f) inv /= shrink;
    for (int p = 0; p < P; ++p) {
      const float a = static_cast<float>(p) * inv;
      rope_cos_[t].data()[static_cast<size_t>(p) * half + i] = std::cos(a);
      rope_sin_[t].data()[static_cast<size_t>(p) * half + i] = std::sin(a);
    }
  }
}

void Encoder::pack_modern_layer(LayerWeights& lw, EncoderLayer& L) {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const float eps = cfg_.layer_norm_eps;
  pack(L.qkv, precision_, lw.q_w.data(), 3 * H, H);
  pack(L.attn_out, precision_, lw.o_w.data(), H, H);
  pack(L.inter, precision_, lw.i_w.data(), I, H);
  pack(L.gate, precision_, lw.i_w.data() + static_cast<size_t>(I) * H, I, H);
  pack(L.out, precision_, lw.f_w.data(), H, I);
  L.qkv.bias = std::move(lw.q_b), L.attn_out.bias = std::move(lw.o_b), L.out.bias = std::move(lw.f_b);
  L.inter.bias.resize(I), L.gate.bias.resize(I);
  std::memcpy(L.inter.bias.data(), lw.i_b.data(), sizeof(float) * I);
  std::memcpy(L.gate.bias.data(), lw.i_b.data() + I, sizeof(float) * I);
  L.inter.act = ffn_activation();
  L.ln1 = LayerNorm::take(lw.ln1_g, lw.ln1_b, eps), L.ln2 = LayerNorm::take(lw.ln2_g, lw.ln2_b, eps);
}

void Encoder::rotate(float* qkv, int rows, const int32_t* positions, const float* cos, const float* sin, ThreadPool& pool,
                     int nth) const {
  const int H = cfg_.hidden_size, heads = cfg_.num_attention_heads, dh = H / heads, half = dh / 2;
  constexpr int kRows = 16;  // rows per task: each row's Q and K are rotated by one task (same bits on any schedule)
  pool.parallel_for((rows + kRows - 1) / kRows, [&](int64_t task, int) {
    const int r1 = std::min(rows, static_cast<int>(task + 1) * kRows);
    for (int r = static_cast<int>(task) * kRows; r < r1; ++r) {
      const float* c = cos + static_cast<size_t>(positions[r]) * half;
      const float* sn = sin + static_cast<size_t>(positions[r]) * half;
      float* row = qkv + static_cast<size_t>(r) * 3 * H;
      for (int part = 0; part < 2; ++part)  // Q, then K
        for (int h = 0; h < heads; ++h) {
          float* v = row + part * H + h * dh;
          for (int d = 0; d < half; ++d) {  // (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin): rotate_half's layout
            const float a = v[d], b2 = v[d + half];
            v[d] = a * c[d] - b2 * sn[d];
            v[d + half] = b2 * c[d] + a * sn[d];
          }
        }
    }
  }, nth);
}

// x += Wo(attention(rope(Wqkv(attn_norm(x))))); x += Wo_mlp(gelu(Wi_in(mlp_norm(x))) * Wi_gate(mlp_norm(x))).
// Over groups of whole sequences, one at a time or as tasks, as layer() runs them (plan_groups).
void Encoder::modern_layer(const EncoderLayer& L, int l, Precision p, float* x, const BatchView& b, const int32_t* positions,
                           ThreadPool& pool, int nth) const {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const bool global = l % cfg_.global_every == 0;
  cpu::AttentionArgs base = attention_args();
  base.window = global ? 0 : cfg_.local_window;
  // group [s0, s1) in the arena g, its steps on `steps` threads (as layer() runs its groups)
  const auto run_group = [&](int s0, int s1, GroupScratch& g, int steps) {
    const int r0 = group_rows(b, s0, s1, g), T = b.cu_seqlens[s1] - r0;
    if (T == 0) return;
    g.size(T, H, I);
    float *y = g.y.data(), *qkv = g.qkv.data(), *ctx = g.ctx.data(), *inter = g.inter.data();
    float* xg = x + static_cast<size_t>(r0) * H;
    // attention input: layer 0 reads x as it is, the others its LayerNorm
    const float* in = xg;
    if (!L.ln1.empty()) {
      std::memcpy(y, xg, sizeof(float) * T * H);
      L.ln1.apply(*k_.fp32, y, T, pool, steps);
      in = y;
    }
    L.qkv.forward(in, H, T, nullptr, qkv, 3 * H, g.local, pool, steps);
    rotate(qkv, T, positions + r0, rope_cos_[global ? 0 : 1].data(), rope_sin_[global ? 0 : 1].data(), pool, steps);
    cpu::AttentionArgs at = base;
    at.qkv = qkv, at.out = ctx;
    at.cu_seqlens = g.cu.data(), at.n_seqs = s1 - s0, at.key_lens = b.key_lens ? b.key_lens + s0 : nullptr;
    attend(p, at, pool, steps);
    // (the residual is never the GEMM's own output: with K past one block the epilogue would read partial sums)
    L.attn_out.forward(ctx, H, T, xg, y, H, g.local, pool, steps);
    std::memcpy(xg, y, sizeof(float) * T * H);
    // the GeGLU MLP on the LayerNorm of the new x (ctx, free again, holds it)
    std::memcpy(ctx, xg, sizeof(float) * T * H);
    L.ln2.apply(*k_.fp32, ctx, T, pool, steps);
    L.inter.forward(ctx, H, T, nullptr, inter, I, g.local, pool, steps);
    gate_product(L, ctx, inter, T, g, pool, steps);
    L.out.forward(inter, I, T, xg, y, H, g.local, pool, steps);
    std::memcpy(xg, y, sizeof(float) * T * H);
  };
  run_groups(plan_layer(b, L, pool, nth, /*tasks=*/true), pool, nth, run_group);
}

}  // namespace bertrt
