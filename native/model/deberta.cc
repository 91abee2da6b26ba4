// DeBERTa-v2/v3's disentangled attention (transformers' DisentangledSelfAttention): besides content-to-content, each
// query gains its content dotted with the key projection of the relative embedding of offset i - j (c2p) and each key
// its content dotted with the query projection of the same embedding (p2c), offsets log-bucketed. The keys' and
// queries' projections of the relative embeddings are computed once at load (pk, pq); per batch, two small GEMMs per
// head give the terms, which the attention kernel adds to the scores (AttentionArgs::c2p / p2c).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "encoder.h"
#include "internal.h"

namespace bertrt {

namespace {
// DeBERTa's bucket of offset rel = i - j (transformers' make_log_bucket_position, its FP32 log and ceil): offsets
// inside +-bucket_size/2 as they are, longer ones on a log scale up to max_position.
int deberta_bucket(int rel, int bucket_size, int max_position) {
  if (bucket_size <= 0 || max_position <= 0) return rel;
  const int mid = bucket_size / 2;
  const int abs_pos = rel < mid && rel > -mid ? mid - 1 : std::abs(rel);
  if (abs_pos <= mid) return rel;
  const float lp = std::ceil(std::log(static_cast<float>(abs_pos) / static_cast<float>(mid)) /
                             std::log(static_cast<float>(static_cast<double>(max_position - 1) / mid)) * static_cast<float>(mid - 1)) +
                   static_cast<float>(mid);
  return static_cast<int>(lp) * (rel > 0 ? 1 : -1);
}
}  // namespace

int disentangled_index(const BertConfig& c, int d) {
  const int b = deberta_bucket(d, c.position_buckets, c.max_relative_positions);
  return std::min(std::max(b + c.disentangled_span, 0), 2 * c.disentangled_span - 1);
}

void project_rows(const float* x, int rows, const float* w, const float* b, int n, int k, float* out, ThreadPool& pool) {
  const cpu::Kernels& kern = cpu::kernels();
  cpu::PackedMatrix packed;
  kern.pack_weights(w, n, k, &packed);
  cpu::GemmArgs g;
  g.a = x, g.lda = k, g.w = &packed, g.m = rows, g.bias = b, g.c = out, g.ldc = n;
  kern.gemm(g, pool, 0);
}

void Encoder::disentangle_layer(const float* qkv_w, const float* qkv_b, EncoderLayer& L, ThreadPool& pool) const {
  const int H = cfg_.hidden_size, heads = cfg_.num_attention_heads, dh = H / heads, R = 2 * cfg_.disentangled_span;
  L.pk.resize(heads), L.pq.resize(heads);
  // the relative embeddings through the layer's query and key projections, [R][H] each, on the FP32 GEMM (in FP32 as
  // transformers computes them; a scalar loop here took seconds per layer at DeBERTa-v3-base's 512 x 768 x 768)
  AlignedBuffer<float> proj(static_cast<size_t>(R) * H);
  std::vector<float> part(static_cast<size_t>(R) * dh);
  for (int which = 0; which < 2; ++which) {  // 0: the query projection (pq), 1: the key projection (pk)
    project_rows(rel_emb_.data(), R, qkv_w + static_cast<size_t>(which) * H * H, qkv_b + static_cast<size_t>(which) * H, H, H,
                 proj.data(), pool);
    for (int h = 0; h < heads; ++h) {  // head h's columns, packed as its own [R][head_dim] matrix
      for (int r = 0; r < R; ++r)
        std::memcpy(part.data() + static_cast<size_t>(r) * dh, proj.data() + static_cast<size_t>(r) * H + h * dh, sizeof(float) * dh);
      k_.fp32->pack_weights(part.data(), R, dh, which == 0 ? &L.pq[h] : &L.pk[h]);
    }
  }
}

void Encoder::disentangled_table(int max_len, EncoderScratch& s) const {
  s.pos_len = 0;
  if (cfg_.disentangled_span <= 0 || max_len <= 0) return;
  s.pos_index.resize(2 * static_cast<size_t>(max_len) - 1);
  for (int d = -(max_len - 1); d <= max_len - 1; ++d) s.pos_index[d + max_len - 1] = disentangled_index(cfg_, d);
  s.pos_len = max_len;
}

void Encoder::disentangled_terms(const EncoderLayer& L, const float* qkv, int T, const EncoderScratch& s, GroupScratch& g,
                                 cpu::AttentionArgs& at, ThreadPool& pool, int nth) const {
  const int H = cfg_.hidden_size, heads = cfg_.num_attention_heads, dh = H / heads, R = 2 * cfg_.disentangled_span;
  g.c2p.resize(static_cast<size_t>(T) * heads * R);
  g.p2c.resize(static_cast<size_t>(T) * heads * R);
  for (int h = 0; h < heads; ++h)
    for (int which = 0; which < 2; ++which) {  // c2p: queries against pk; p2c: keys against pq
      cpu::GemmArgs m;
      m.a = qkv + (which == 0 ? 0 : H) + static_cast<size_t>(h) * dh, m.lda = 3 * H;
      m.w = which == 0 ? &L.pk[h] : &L.pq[h], m.m = T;
      m.c = (which == 0 ? g.c2p.data() : g.p2c.data()) + static_cast<size_t>(h) * R, m.ldc = heads * R;
      k_.fp32->gemm(m, pool, nth);
    }
  at.c2p = g.c2p.data(), at.p2c = g.p2c.data(), at.pos_r = R;
  at.pos_index = s.pos_index.data(), at.pos_len = s.pos_len;
}

}  // namespace bertrt
